import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Mailer
import NIOCore
import PQ
import TestSupport
import Testing
import TollgateCore
import TollgateHTTP

/// One company with an owner, an admin, a member with and one without dashboard access.
struct Seed: Sendable {
    let companyID: UUID
    let owner: Account
    let admin: Account
    let member: Account
    let phoneOnly: Account

    struct Account: Sendable {
        let id: UUID
        let email: String
        let password: String
    }
}

/// The settings a test application is built with: the parts `tollgate serve` and `tollgate dev`
/// read from the environment, adjusted by each test.
struct TestConfiguration: Sendable {
    var http = HTTPSettings()
    var domain = DomainSettings()
    var mail = MailSettings()
}

/// A test application on a database of its own, driven through the real router.
struct TestApp: Sendable {
    let database: TestDatabase
    let configuration: TestConfiguration
    /// The superuser, for reading what users cannot (the queued email with a code) and for
    /// arranging time (expiring a code) without sleeping.
    let owner: PQPool
    let api: PQPool

    static func configuration(_ adjust: (inout TestConfiguration) -> Void = { _ in }) -> TestConfiguration {
        var configuration = TestConfiguration()
        configuration.domain.secrets = [Array("test-secret-test-secret-test-secret-0123".utf8)]
        // The live test client opens its connection before the test seeds accounts (Argon2id
        // hashing): on a busy machine that outlasts the 10 s head deadline, which the slow-client
        // test sets for itself.
        configuration.http.headerTimeout = 120
        adjust(&configuration)
        return configuration
    }

    /// Runs `body` with a fresh database, the app's router and a client.
    static func with(
        _ adjust: @escaping (inout TestConfiguration) -> Void = { _ in },
        framework: TestingSetup = .router,
        fullServer: Bool = false,
        logger: Logger = TestPostgres.logger,
        _ body: @escaping @Sendable (TestApp, Client) async throws -> Void
    ) async throws {
        try await TestDatabase.with { database in
            var configuration = Self.configuration(adjust)
            let api = database.pool(role: "tollgate_api", maxConnections: 8)
            let owner = database.pool(role: nil, maxConnections: 2)
            let app = TestApp(database: database, configuration: configuration, owner: owner, api: api)
            do {
                if fullServer {
                    // The server exactly as `serve` builds it, on a free port, over real sockets.
                    configuration.http.port = 0
                    let application = try buildApplication(
                        http: configuration.http,
                        domain: configuration.domain,
                        pool: api,
                        logger: logger
                    )
                    try await application.test(.live) { client in try await body(app, Client(client: client)) }
                } else {
                    let router = try buildRouter(http: configuration.http, domain: configuration.domain, pool: api, logger: logger)
                    let application = Application(router: router, logger: logger)
                    try await application.test(framework) { client in try await body(app, Client(client: client)) }
                }
            } catch {
                await api.close()
                await owner.close()
                throw error
            }
            await api.close()
            await owner.close()
        }
    }

    /// `GET /metrics` from the operations listener (`METRICS_PORT`) over this app's pool.
    func metrics() async throws -> Reply {
        let router = try buildMetricsRouter(pool: api, countsChallenges: true, logger: TestPostgres.logger)
        let application = Application(router: router, logger: TestPostgres.logger)
        return try await application.test(.router) { client in try await Client(client: client).get("/metrics") }
    }

    /// Creates the standard company (and, when asked, a second one).
    func seed(name: String = "Acme", domain: String = "acme.test") async throws -> Seed {
        let provisioning = Provisioning(pool: owner, hasher: PasswordHasher(concurrency: 2))
        let ownerPassword = "owner-password-1"
        let (companyID, ownerID) = try await provisioning.createCompany(
            name: name,
            ownerEmail: "owner@\(domain)",
            ownerPassword: ownerPassword,
            ownerName: "Owner"
        )
        func add(_ local: String, _ role: Role, dashboard: Bool) async throws -> Seed.Account {
            let password = "\(local)-password-1"
            let id = try await provisioning.addUser(
                companyID: companyID,
                email: "\(local)@\(domain)",
                password: password,
                role: role,
                dashboardAccess: dashboard,
                name: local
            )
            return Seed.Account(id: id, email: "\(local)@\(domain)", password: password)
        }
        return Seed(
            companyID: companyID,
            owner: Seed.Account(id: ownerID, email: "owner@\(domain)", password: ownerPassword),
            admin: try await add("admin", .admin, dashboard: true),
            member: try await add("member", .member, dashboard: true),
            phoneOnly: try await add("phone", .member, dashboard: false)
        )
    }

    /// The code in the newest email queued for `recipient`, as its reader would see it.
    func latestCode(for recipient: String) async throws -> String {
        // The email the challenge points at carries its current code. (Not the newest by
        // created_at: that is each transaction's start, and concurrent resends commit in
        // another order; last_sent_at is taken under the challenge's row lock.)
        let rows = try await owner.query(
            """
            SELECT o.body_text FROM challenges c JOIN email_outbox o ON o.id = c.email_id
            WHERE o.recipient = \(recipient) ORDER BY c.last_sent_at DESC, c.created_at DESC LIMIT 1
            """
        )
        let text = try #require(try rows.first?.decode("body_text", as: String.self))
        return try #require(Self.code(in: text), "no code in the email")
    }

    static func code(in text: String) -> String? {
        // Six digits standing alone (possibly written "123 456"), not part of a time or address.
        let pattern = #"(?<![\d:\-]|\d\.)(\d{3})[ \-]?(\d{3})(?![\d:\-]|\.\d)"#
        guard let regex = try? NSRegularExpression(pattern: pattern),
            let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
            let first = Range(match.range(at: 1), in: text), let second = Range(match.range(at: 2), in: text)
        else { return nil }
        return String(text[first]) + String(text[second])
    }

    /// Runs SQL as the superuser (arranging state a test needs).
    @discardableResult
    func sql(_ query: PQQuery) async throws -> PQRows {
        try await owner.query(query)
    }

    /// Logs in as a dashboard user of a company with 2FA on and returns the challenge token.
    func enableTwoFactor(_ seed: Seed, client: Client) async throws -> String {
        let session = try await client.login(seed.owner, client: "dashboard").sessionToken()
        let started = try await client.post("/v1/company/security/two-factor/activation", token: session)
        #expect(started.status == .accepted)
        let activationID = try started.string("activation", "id")
        let code = try await latestCode(for: seed.owner.email)
        let verified = try await client.post(
            "/v1/company/security/two-factor/activation/\(activationID)/verify",
            ["code": code],
            token: session
        )
        #expect(verified.status == .ok)
        let enabled = try await client.post(
            "/v1/company/security/two-factor/enable",
            ["activation_id": activationID, "confirm": true],
            token: session
        )
        #expect(enabled.status == .ok)
        return session
    }
}

/// A JSON-speaking client over Hummingbird's test client.
struct Client: Sendable {
    let client: any TestClientProtocol

    func request(
        _ method: HTTPRequest.Method,
        _ path: String,
        body: ByteBuffer? = nil,
        contentType: String? = "application/json",
        token: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> Reply {
        var headers = extra
        if let contentType, body != nil { headers[.contentType] = contentType }
        if let token { headers[.authorization] = "Bearer \(token)" }
        let response = try await client.executeRequest(uri: path, method: method, headers: headers, body: body)
        return Reply(status: response.status, headers: response.headers, body: Data(response.body.readableBytesView))
    }

    func patch(_ path: String, _ json: [String: any Sendable], token: String? = nil) async throws -> Reply {
        let data = try JSONSerialization.data(withJSONObject: json)
        return try await request(.patch, path, body: ByteBuffer(bytes: data), token: token)
    }

    func post(_ path: String, _ json: [String: any Sendable] = [:], token: String? = nil, headers: HTTPFields = [:]) async throws -> Reply {
        let data = try JSONSerialization.data(withJSONObject: json)
        return try await request(.post, path, body: ByteBuffer(bytes: data), token: token, headers: headers)
    }

    func get(_ path: String, token: String? = nil) async throws -> Reply {
        try await request(.get, path, token: token)
    }

    func login(_ account: Seed.Account, client: String, headers: HTTPFields = [:]) async throws -> Reply {
        try await post("/v1/auth/login", ["email": account.email, "password": account.password, "client": client], headers: headers)
    }
}

/// An answer with its JSON decoded for inspection.
struct Reply: Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let body: Data

    var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }

    func value(_ path: String...) -> Any? {
        var current: Any? = json
        for key in path { current = (current as? [String: Any])?[key] }
        return current
    }

    func string(_ path: String...) throws -> String {
        var current: Any? = json
        for key in path { current = (current as? [String: Any])?[key] }
        return try #require(current as? String, "no string at \(path.joined(separator: ".")) in \(String(decoding: body, as: UTF8.self))")
    }

    func int(_ path: String...) -> Int? {
        var current: Any? = json
        for key in path { current = (current as? [String: Any])?[key] }
        return current as? Int
    }

    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    var errorField: String? { (json["error"] as? [String: Any])?["field"] as? String }
    func sessionToken() throws -> String { try string("session", "token") }
    func challengeToken() throws -> String { try string("challenge", "token") }
}
