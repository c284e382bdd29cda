import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PQ
import TestSupport
import Testing
import TollgateCore
import TollgateHTTP

/// What an outside review found (issue 11), each shown against the real router and database.
@Suite struct SecurityHardeningTests {
    /// A login of `email` with a wrong password, and the round trips it cost the API's pool.
    static func roundTrips(_ app: TestApp, _ client: Client, email: String) async throws -> (status: HTTPResponse.Status, roundTrips: Int) {
        let before = app.api.roundTrips
        let reply = try await client.post("/v1/auth/login", ["email": email, "password": "not-the-password", "client": "dashboard"])
        return (reply.status, app.api.roundTrips - before)
    }

    /// Login timing must not tell which addresses have accounts: a known and an unknown address
    /// send the database the same number of statements on every refusal branch (the hashing
    /// and the measured medians are `bench/login-parity.sh`'s to show).
    @Test func knownAndUnknownAddressesCostTheSameRoundTripsOnEveryBranch() async throws {
        try await TestApp.with({
            $0.domain.limits.loginsPerIP = 7
            $0.domain.limits.failedPasswords = 1
        }) { app, client in
            let seed = try await app.seed()
            // Warm-up: the first login reads the database's rate-limit key once.
            _ = try await Self.roundTrips(app, client, email: "warm-up@nowhere.test")

            // A wrong password (each address's first failure).
            let known = try await Self.roundTrips(app, client, email: seed.admin.email)
            let unknown = try await Self.roundTrips(app, client, email: "nobody@acme.test")
            #expect(known.status == .unauthorized && unknown.status == .unauthorized)
            #expect(known.roundTrips == unknown.roundTrips, "known \(known.roundTrips), unknown \(unknown.roundTrips)")

            // Over the failed-password limit: the first refusal, which alone is logged (an event
            // for an account, the counter rewritten for an unknown address), and a later one.
            let knownFirst = try await Self.roundTrips(app, client, email: seed.admin.email)
            let unknownFirst = try await Self.roundTrips(app, client, email: "nobody@acme.test")
            #expect(knownFirst.status == .tooManyRequests && unknownFirst.status == .tooManyRequests)
            #expect(knownFirst.roundTrips == unknownFirst.roundTrips, "known \(knownFirst.roundTrips), unknown \(unknownFirst.roundTrips)")
            let knownLimited = try await Self.roundTrips(app, client, email: seed.admin.email)
            let unknownLimited = try await Self.roundTrips(app, client, email: "nobody@acme.test")
            #expect(knownLimited.status == .tooManyRequests && unknownLimited.status == .tooManyRequests)
            #expect(knownLimited.roundTrips == unknownLimited.roundTrips)

            // Over the IP's limit (7 logins a minute; the 8th is the first refusal).
            let firstRefusal = try await Self.roundTrips(app, client, email: seed.owner.email)
            #expect(firstRefusal.status == .tooManyRequests)
            let knownOverIP = try await Self.roundTrips(app, client, email: seed.owner.email)
            let unknownOverIP = try await Self.roundTrips(app, client, email: "someone@acme.test")
            #expect(knownOverIP.status == .tooManyRequests && unknownOverIP.status == .tooManyRequests)
            #expect(knownOverIP.roundTrips == unknownOverIP.roundTrips)
        }
    }

    /// SPEC §5: at most one event per limited key per window, so one attacker cannot fill a
    /// victim's append-only log; the refusals are still counted.
    @Test func aFloodOfRefusedLoginsWritesOneEventPerLimitedKey() async throws {
        try await TestApp.with({
            $0.domain.limits.loginsPerIP = 2
            $0.http.maxConcurrentHashes = 8
        }) { app, client in
            let seed = try await app.seed()
            let replies = try await RaceTests.parallel(40) { _ in
                try await client.post("/v1/auth/login", ["email": seed.owner.email, "password": "guess", "client": "dashboard"])
            }
            // Two logins pass the IP's limit; the rest are refused (or, on a machine so busy that
            // no connection frees up in time, 503 before reaching the limit: not counted).
            let statuses = replies.map { "\($0.status.code) \($0.errorCode ?? "")" }
            let limited = replies.filter { $0.status == .tooManyRequests }.count
            #expect(replies.filter { $0.status == .unauthorized }.count <= 2, "\(statuses)")
            #expect(replies.allSatisfy { [.unauthorized, .tooManyRequests, .serviceUnavailable].contains($0.status) }, "\(statuses)")
            #expect(limited >= 20, "\(statuses)")
            let events = try await app.sql("SELECT detail->>'limit' AS limit_hit FROM events WHERE type = 'login.rate_limited'")
            #expect(try events.map { try $0.decode("limit_hit", as: String.self) } == ["logins_per_ip"])
            let refused = try await app.sql("SELECT refused FROM rate_limits WHERE key LIKE 'login_ip:%'")
            #expect(try refused.first?.decode("refused", as: Int.self) == limited)
        }
    }

    /// Rotating TOLLGATE_SECRET (a new first secret) must not reset failed-password counters.
    @Test func rotatingTheSecretKeepsFailedPasswordCounters() async throws {
        try await TestApp.with({ $0.domain.limits.failedPasswords = 3 }) { app, client in
            let seed = try await app.seed()
            for _ in 0..<3 {
                #expect(try await Self.roundTrips(app, client, email: seed.owner.email).status == .unauthorized)
            }
            var rotated = app.configuration
            rotated.domain.secrets = [Array("a-brand-new-secret-after-rotation-0123456789".utf8)] + app.configuration.domain.secrets
            let router = try buildRouter(http: rotated.http, domain: rotated.domain, pool: app.api, logger: TestPostgres.logger)
            try await Application(router: router, logger: TestPostgres.logger).test(.router) { raw in
                let reply = try await Client(client: raw).login(seed.owner, client: "dashboard")
                #expect(reply.status == .tooManyRequests, "the right password stays refused after the rotation")
            }
        }
    }

    /// A challenge issued before a rotation of TOLLGATE_SECRET is found by its token's MAC
    /// under the old secret (the second candidate): its code still works once, and a replay
    /// is told the challenge is over, not that it does not exist.
    @Test func aChallengeIssuedBeforeARotationStillVerifiesOnce() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            let code = try await app.latestCode(for: seed.member.email)
            var rotated = app.configuration
            rotated.domain.secrets = [Array("a-brand-new-secret-after-rotation-0123456789".utf8)] + app.configuration.domain.secrets
            let router = try buildRouter(http: rotated.http, domain: rotated.domain, pool: app.api, logger: TestPostgres.logger)
            try await Application(router: router, logger: TestPostgres.logger).test(.router) { raw in
                let client = Client(client: raw)
                let first = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": code])
                #expect(first.status == .ok)
                let replay = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": code])
                #expect(replay.errorCode == "challenge_closed")
            }
        }
    }

    /// A login racing "enable": its session is created in a transaction that reads the
    /// company's setting under a share lock, so a login whose password was checked while 2FA
    /// was off, but which finishes after 2FA went on, gets a code, not a password-only session.
    @Test func aLoginRacingEnableGetsACodeNotAPasswordOnlySession() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let companyID = seed.companyID
            let login = Task { try await client.login(seed.admin, client: "dashboard") }
            // Turn 2FA on in a transaction that stays open until the login is seen waiting for
            // the company row (bounded: without the share lock it never waits, and the
            // transaction commits after the deadline).
            let sawLoginWaiting = try await app.owner.withTransaction { tx -> Bool in
                try tx.query("UPDATE companies SET two_factor_enabled = true, two_factor_changed_at = now() WHERE id = \(companyID)")
                return try tx.anotherSessionWaitsForALock()
            }
            let reply = try await login.value
            #expect(sawLoginWaiting)
            #expect(reply.status == .accepted, "a login finishing after 2FA went on must ask for a code")
            let sessions = try await app.sql("SELECT count(*) AS n FROM sessions WHERE NOT two_factor_verified AND client = 'dashboard'")
            #expect(try sessions.first?.decode("n", as: Int.self) == 0)
        }
    }
}
