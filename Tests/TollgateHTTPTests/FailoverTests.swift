import Foundation
import HTTPTypes
import PQ
import TestSupport
import Testing

/// SPEC §15 within one process: while the database refuses writes (no primary yet, or only a
/// read-only one), requests answer 503 with Retry-After and `/health/ready` says why; once a
/// writable server is back, the same application serves again. The whole failover, with a real
/// HA manager, is `Tests/ha/test_failover.py`.
@Suite struct FailoverTests {
    @Test func whileTheDatabaseIsReadOnlyRequestsAnswer503AndReadinessSaysWhy() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let login: [String: any Sendable] = ["email": seed.phoneOnly.email, "password": seed.phoneOnly.password, "client": "phone_app"]
            try await Self.setReadOnly(true, app)

            let refused = try await client.post("/v1/auth/login", login)
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.errorCode == "unavailable")
            #expect(refused.headers[.retryAfter] != nil)
            let ready = try await client.get("/health/ready")
            #expect(ready.status == .serviceUnavailable)
            #expect(String(decoding: ready.body, as: UTF8.self).contains("read-only"))
            #expect(app.api.usage.open == 0, "the pool kept a connection to a read-only server")

            try await Self.setReadOnly(false, app)
            let accepted = try await client.post("/v1/auth/login", login)
            #expect(accepted.status == .ok)
            #expect(try await client.get("/health/ready").status == .ok)
        }
    }

    /// Makes new sessions of the test database read-only (as a standby's) or writable again,
    /// and ends the API role's open ones, as a failover ends them (through pgbouncer, its
    /// server connections).
    static func setReadOnly(_ readOnly: Bool, _ app: TestApp) async throws {
        let name = app.database.name
        let change = readOnly ? "SET default_transaction_read_only = on" : "RESET default_transaction_read_only"
        try await app.owner.query(PQQuery(unsafeSQL: "ALTER DATABASE \"\(name)\" \(change)"))
        try await app.owner.query(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = current_database() AND usename = 'tollgate_api'"
        )
    }
}
