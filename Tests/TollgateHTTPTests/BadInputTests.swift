import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PQ
import TestSupport
import Testing
import TollgateCore
import TollgateHTTP

/// Hostile and malformed input gets the SPEC §4 envelope, never a 5xx, and changes nothing.
@Suite struct BadInputTests {
    /// With the database unreachable every endpoint answers 503 `unavailable` with
    /// Retry-After (documented for each operation), never a 500.
    @Test func aDatabaseThatCannotBeReachedAnswers503NotA500() async throws {
        let pool = PQPool(
            configuration: PQPoolConfiguration(conninfo: "host=/nonexistent-tollgate-socket connect_timeout=1", maxConnections: 1),
            logger: TestPostgres.logger
        )
        let configuration = TestApp.configuration()
        let router = try buildRouter(http: configuration.http, domain: configuration.domain, pool: pool, logger: TestPostgres.logger)
        try await Application(router: router, logger: TestPostgres.logger).test(.router) { testClient in
            let client = Client(client: testClient)
            let replies = [
                try await client.post("/v1/auth/login", ["email": "a@b.test", "password": "whatever1", "client": "dashboard"]),
                try await client.get("/v1/me", token: BearerToken.make(companyID: UUID())),
            ]
            for reply in replies {
                #expect(reply.status == .serviceUnavailable, "\(reply.status) \(String(decoding: reply.body, as: UTF8.self))")
                #expect(reply.errorCode == "unavailable")
                #expect(reply.headers[.retryAfter] == "1")
            }
            // Readiness says so too (a load balancer takes the server out), and liveness does not.
            let ready = try await client.get("/health/ready")
            #expect(ready.status == .serviceUnavailable && ready.errorCode == "not_ready")
            #expect(try await client.get("/health/live").status == .ok)
        }
        await pool.close()
    }

    @Test func malformedBodiesAnswer400NamingTheField() async throws {
        try await TestApp.with { app, client in
            _ = try await app.seed()
            let cases: [(String, String?)] = [
                (#"{"password":"x","client":"dashboard"}"#, "email"),
                (#"{"email":42,"password":"x","client":"dashboard"}"#, "email"),
                (#"{"email":"a@b.test","password":["x"],"client":"dashboard"}"#, "password"),
                (#"{"email":"a@b.test","password":"x"}"#, "client"),
                (#"{"email":"a@b.test","password":"x","client":"tablet"}"#, "client"),
                (#"{"email":"a@b.test","password":"x","client":null}"#, "client"),
                (#"["email"]"#, "body"),
                (#"{"email":"#, "body"),
                ("", "body"),
            ]
            for (body, field) in cases {
                let reply = try await client.request(.post, "/v1/auth/login", body: ByteBuffer(string: body))
                #expect(reply.status == .badRequest, "\(body)")
                #expect(reply.errorCode == "invalid_request")
                #expect(reply.errorField == field, "\(body)")
            }
        }
    }

    @Test func nonUTF8BytesAreRefusedCleanly() async throws {
        try await TestApp.with { app, client in
            let bytes: [UInt8] = Array(#"{"email":""#.utf8) + [0xFF, 0xFE, 0xC3, 0x28] + Array(#"","password":"x","client":"dashboard"}"#.utf8)
            let reply = try await client.request(.post, "/v1/auth/login", body: ByteBuffer(bytes: bytes))
            #expect(reply.status == .badRequest)
            #expect(reply.errorCode == "invalid_request")
        }
    }

    @Test func unknownFieldsAreIgnored() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let reply = try await client.post(
                "/v1/auth/login",
                ["email": seed.owner.email, "password": seed.owner.password, "client": "dashboard", "remember_me": true, "extra": ["a": 1]]
            )
            #expect(reply.status == .ok)
        }
    }

    @Test func hostileStringsAreJustWrongCredentials() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let hostile = [
                "' OR 1=1 --", "owner@acme.test'; DROP TABLE users; --", String(repeating: "a", count: 10_000),
                // Look-alikes: Cyrillic "о" and a full-width "＠" are not the owner's address.
                "\u{043E}wner@acme.test", "owner\u{FF20}acme.test", "owner@acme.test\u{0000}", "\u{202E}tset.emca@renwo",
            ]
            for email in hostile {
                let reply = try await client.post("/v1/auth/login", ["email": email, "password": seed.owner.password, "client": "dashboard"])
                #expect(reply.status == .unauthorized || reply.status == .badRequest, "\(email.prefix(40))")
                #expect(reply.errorCode != nil)
            }
            let longPassword = try await client.post(
                "/v1/auth/login",
                ["email": seed.owner.email, "password": String(repeating: "p", count: 10_000), "client": "dashboard"]
            )
            #expect(longPassword.status == .badRequest)
            #expect(longPassword.errorField == "password")
            // Nothing was created or changed by any of it.
            let users = try await app.sql("SELECT count(*) AS n FROM users")
            #expect(try users.first?.decode("n", as: Int.self) == 4)
            #expect(try await client.login(seed.owner, client: "dashboard").status == .ok)
        }
    }

    @Test func oversizedBodiesAnswer413AndWrongContentTypes415() async throws {
        try await TestApp.with { app, client in
            let big = #"{"email":""# + String(repeating: "x", count: 70 * 1024) + #""}"#
            let tooLarge = try await client.request(.post, "/v1/auth/login", body: ByteBuffer(string: big))
            #expect(tooLarge.status == .contentTooLarge)
            #expect(tooLarge.errorCode == "payload_too_large")
            let form = try await client.request(
                .post,
                "/v1/auth/login",
                body: ByteBuffer(string: "email=a"),
                contentType: "application/x-www-form-urlencoded"
            )
            #expect(form.status == .unsupportedMediaType)
            #expect(form.errorCode == "unsupported_media_type")
            let missing = try await client.request(.post, "/v1/auth/login", body: ByteBuffer(string: "{}"), contentType: nil)
            #expect(missing.status == .unsupportedMediaType)
        }
    }

    @Test func unknownRoutesAndWrongMethodsAnswerTheEnvelope() async throws {
        try await TestApp.with { app, client in
            let unknown = try await client.get("/v1/nothing-here")
            #expect(unknown.status == .notFound)
            #expect(unknown.errorCode == "not_found")
            let wrongMethod = try await client.get("/v1/auth/login")
            #expect(wrongMethod.status == .methodNotAllowed)
            #expect(wrongMethod.errorCode == "method_not_allowed")
            let deleteMe = try await client.request(.delete, "/v1/me")
            #expect(deleteMe.status == .methodNotAllowed)
            // A literal path beside a pattern (`/v1/me/sessions/{id}`): the literal's methods.
            let endOthers = try await client.request(.options, "/v1/me/sessions/end-others")
            #expect(endOthers.status == .methodNotAllowed)
            #expect(endOthers.headers[.allow] == "POST")
            let oneSession = try await client.request(.options, "/v1/me/sessions/\(UUID())")
            #expect(oneSession.headers[.allow] == "DELETE")
        }
    }

    @Test func badQueryParametersAndIdsAreClientErrors() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let token = try await client.login(seed.owner, client: "dashboard").sessionToken()
            for query in ["limit=0", "limit=101", "limit=abc", "before=-1", "before=1e9", "limit=%00"] {
                let reply = try await client.get("/v1/company/security/events?\(query)", token: token)
                #expect(reply.status == .badRequest, "\(query)")
                #expect(reply.errorCode == "invalid_request")
            }
            let badID = try await client.post("/v1/company/security/two-factor/activation/not-a-uuid/verify", ["code": "123456"], token: token)
            #expect(badID.status == .notFound)
            let codeAsNumber = try await client.post("/v1/auth/login/verify", ["challenge_token": "x", "code": 123_456])
            #expect(codeAsNumber.status == .badRequest)
            #expect(codeAsNumber.errorField == "code")
            let hugeToken = try await client.get("/v1/me", token: String(repeating: "A", count: 4000))
            #expect(hugeToken.status == .unauthorized)
        }
    }

    @Test func corsAnswersPreflightsForConfiguredOriginsOnly() async throws {
        try await TestApp.with({ $0.http.corsAllowedOrigins = ["https://dash.acme.test"] }) { app, client in
            let preflight = try await client.request(
                .options,
                "/v1/auth/login",
                headers: [.origin: "https://dash.acme.test", .accessControlRequestMethod: "POST"]
            )
            #expect(preflight.status == .noContent)
            #expect(preflight.headers[.accessControlAllowOrigin] == "https://dash.acme.test")
            #expect(preflight.headers[.accessControlAllowHeaders]?.contains("Authorization") == true)
            let other = try await client.request(.get, "/health/live", headers: [.origin: "https://evil.test"])
            #expect(other.headers[.accessControlAllowOrigin] == nil)
            let allowed = try await client.request(.get, "/health/live", headers: [.origin: "https://dash.acme.test"])
            #expect(allowed.headers[.accessControlAllowOrigin] == "https://dash.acme.test")
        }
    }

    @Test func healthChecksAnswer() async throws {
        try await TestApp.with { app, client in
            let live = try await client.get("/health/live")
            #expect(live.status == .ok)
            let ready = try await client.get("/health/ready")
            #expect(ready.status == .ok)
        }
    }
}
