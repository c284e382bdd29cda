import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Metrics
import PQ
import Prometheus
import TestSupport
import Testing
import TollgateHTTP

/// `/openapi.yaml`, and `/metrics` on its own listener (issues: operations, security).
@Suite struct OperationsTests {
    /// Bootstraps the Prometheus backend once for the whole test process.
    static let metricsReady: Bool = {
        MetricsSystem.bootstrap(PrometheusMetricsFactory())
        return true
    }()

    @Test func theServedOpenAPIDocumentIsTheOneInTheRepository() async throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let onDisk = try Data(contentsOf: repository.appendingPathComponent("openapi.yaml"))
        try await TestApp.with { app, client in
            let reply = try await client.get("/openapi.yaml")
            #expect(reply.status == .ok)
            #expect(reply.body == onDisk)
            #expect(String(decoding: reply.body, as: UTF8.self).hasPrefix("openapi: 3.1"))
        }
    }

    /// The routes the router registers are exactly the operations openapi.yaml documents
    /// (besides the dashboard's pages): read from the router itself, so a route added without
    /// its documentation, or documented and never served, fails here.
    @Test func theRouterServesExactlyTheDocumentedOperations() async throws {
        let pool = PQPool(
            configuration: PQPoolConfiguration(conninfo: "host=/nonexistent-tollgate-socket", maxConnections: 1),
            logger: TestPostgres.logger
        )
        let configuration = TestApp.configuration()
        let router = try buildRouter(http: configuration.http, domain: configuration.domain, pool: pool, logger: TestPostgres.logger)
        await pool.close()
        let dashboard: Set<String> = ["GET /", "GET /reset", "GET /not-me", "GET /assets/{name}"]
        let served = Set(router.routes.map { "\($0.method.rawValue) \($0.path.description)" }).subtracting(dashboard)
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try String(contentsOf: repository.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        #expect(served == Self.operations(in: document))
        #expect(served.count >= 30)
    }

    /// "METHOD /path" for each operation under `paths:` (our document's layout: a path at two
    /// spaces, its methods at four).
    static func operations(in document: String) -> Set<String> {
        var operations: Set<String> = []
        var inPaths = false
        var path = ""
        for line in document.split(separator: "\n", omittingEmptySubsequences: false) {
            if !line.hasPrefix(" ") && !line.isEmpty { inPaths = line == "paths:" }
            guard inPaths else { continue }
            if line.hasPrefix("  /") && line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
            } else if line.hasPrefix("    ") && !line.hasPrefix("     ") && line.hasSuffix(":") {
                let key = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "post", "put", "patch", "delete"].contains(key) { operations.insert("\(key.uppercased()) \(path)") }
            }
        }
        return operations
    }

    @Test func metricsExposeRequestsAndThePool() async throws {
        #expect(Self.metricsReady)
        try await TestApp.with { app, client in
            _ = try await client.get("/health/ready")
            _ = try await client.post("/v1/auth/login", ["email": "nobody@acme.test", "password": "wrong-password", "client": "dashboard"])
            let reply = try await app.metrics()
            #expect(reply.status == .ok)
            let text = String(decoding: reply.body, as: UTF8.self)
            #expect(text.contains("tollgate_db_pool_open"))
            #expect(text.contains("hb_requests"))
            #expect(
                text.contains(#"tollgate_auth_outcomes_total{step="password",outcome="invalid_credentials"}"#)
                    || text.contains(#"tollgate_auth_outcomes_total{outcome="invalid_credentials",step="password"}"#)
            )
        }
    }

    /// Issue 11: the page counts across companies, so the public API port never serves it.
    @Test func theAPIPortServesNoMetrics() async throws {
        try await TestApp.with { app, client in
            let reply = try await client.get("/metrics")
            #expect(reply.status == .notFound)
            #expect(reply.errorCode == "not_found")
            #expect(try await app.metrics().status == .ok)
        }
    }

    /// The value of one sample line of a Prometheus text page (nil when absent).
    static func sample(_ line: String, in text: String) -> Double? {
        for candidate in text.split(separator: "\n") where candidate.hasPrefix(line + " ") {
            return Double(candidate.dropFirst(line.count + 1))
        }
        return nil
    }

    @Test func metricsCountTheChallengesOpenInEveryCompany() async throws {
        #expect(Self.metricsReady)
        try await TestApp.with { app, client in
            let login = #"tollgate_challenges_open{purpose="login"}"#
            let activation = #"tollgate_challenges_open{purpose="activation"}"#
            let empty = String(decoding: try await app.metrics().body, as: UTF8.self)
            #expect(Self.sample(login, in: empty) == 0 && Self.sample(activation, in: empty) == 0, "\(empty)")

            // Two companies with 2FA on, each with a dashboard login waiting for its code, and
            // a third starting activation: the API role counts across companies.
            let acme = try await app.seed()
            let beta = try await app.seed(name: "Beta", domain: "beta.test")
            let gamma = try await app.seed(name: "Gamma", domain: "gamma.test")
            _ = try await app.enableTwoFactor(acme, client: client)
            _ = try await app.enableTwoFactor(beta, client: client)
            _ = try await client.login(acme.admin, client: "dashboard").challengeToken()
            let betaChallenge = try await client.login(beta.admin, client: "dashboard").challengeToken()
            let session = try await client.login(gamma.owner, client: "dashboard").sessionToken()
            #expect(try await client.post("/v1/company/security/two-factor/activation", token: session).status == .accepted)
            let open = String(decoding: try await app.metrics().body, as: UTF8.self)
            #expect(Self.sample(login, in: open) == 2, "\(open)")
            #expect(Self.sample(activation, in: open) == 1)

            // A used challenge is no longer open, nor one whose code expired.
            let code = try await app.latestCode(for: beta.admin.email)
            #expect(try await client.post("/v1/auth/login/verify", ["challenge_token": betaChallenge, "code": code]).status == .ok)
            try await app.sql("UPDATE challenges SET code_expires_at = now() - interval '1 second' WHERE purpose = 'activation'")
            let later = String(decoding: try await app.metrics().body, as: UTF8.self)
            #expect(Self.sample(login, in: later) == 1, "\(later)")
            #expect(Self.sample(activation, in: later) == 0)

            // When the count cannot be read the page still answers, saying so with NaN.
            try await app.sql("REVOKE EXECUTE ON FUNCTION open_challenges() FROM tollgate_api")
            let failed = try await app.metrics()
            #expect(failed.status == .ok)
            #expect(Self.sample(login, in: String(decoding: failed.body, as: UTF8.self))?.isNaN == true)
        }
    }
}
