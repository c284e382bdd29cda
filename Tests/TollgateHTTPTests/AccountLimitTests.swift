import Foundation
import HTTPTypes
import PQ
import TestSupport
import Testing
import TollgateCore

/// A limit shared by an account's requests (challenges per hour, wrong codes per hour) is
/// decided on the account's counters read under its row lock; the refusal's writes go with
/// the COMMIT. Each test drives one such limit and checks that exactly one set of effects was
/// kept, in the request's usual round trips (nothing is run twice).
@Suite struct AccountLimitTests {
    static func count(_ app: TestApp, _ sql: PQQuery) async throws -> Int {
        try await app.sql(sql).first?.decode("n", as: Int.self) ?? -1
    }

    @Test func aLoginRefusedForItsChallengeLimitKeepsOneSetOfEffects() async throws {
        try await TestApp.with({ $0.domain.limits.challengesPerAccount = 1 }) { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            #expect(try await client.login(seed.admin, client: "dashboard").status == .accepted)
            let before = app.api.roundTrips
            let refused = try await client.login(seed.admin, client: "dashboard")
            let trips = app.api.roundTrips - before
            #expect(refused.status == .tooManyRequests)
            #expect(trips <= 3, "the refusal costs a login's round trips (\(trips))")

            let admin = seed.admin.email
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM events WHERE email = \(admin) AND type = 'login.password_succeeded'") == 2)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM events WHERE email = \(admin) AND type = 'login.rate_limited'") == 1)
            let challenges: PQQuery = "SELECT count(*) AS n FROM challenges c JOIN users u ON u.id = c.user_id WHERE u.email = \(admin)"
            #expect(try await Self.count(app, challenges) == 1)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM email_outbox WHERE recipient = \(admin)") == 1)
            let refusals: PQQuery = """
                SELECT r.refused AS n FROM rate_limits r JOIN users u ON lower(r.key) = 'challenges:' || u.id WHERE u.email = \(admin)
                """
            #expect(try await Self.count(app, refusals) == 1)
        }
    }

    @Test func aWrongCodePastTheAccountLimitKeepsOneSetOfEffects() async throws {
        try await TestApp.with({ $0.domain.limits.wrongCodesPerAccount = 1 }) { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let token = try await client.login(seed.admin, client: "dashboard").challengeToken()
            let first = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": "000000"])
            #expect(first.status == .unauthorized)
            let before = app.api.roundTrips
            let second = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": "000001"])
            let trips = app.api.roundTrips - before
            #expect(second.status == .gone)
            #expect(second.errorCode == "challenge_closed")
            #expect(trips <= 3, "the refusal costs a verify's round trips and one read of what it closed (\(trips))")

            let admin = seed.admin.email
            let rows = try await app.sql(
                "SELECT c.state, c.close_reason, c.attempts, c.wrong_total FROM challenges c JOIN users u ON u.id = c.user_id WHERE u.email = \(admin)"
            )
            let row = try #require(rows.first)
            #expect(try row.decode("state", as: String.self) == "closed")
            #expect(try row.decode("close_reason", as: String?.self) == "account_limit")
            #expect(try row.decode("attempts", as: Int.self) == 1, "the refused entry was not counted against the code")
            #expect(try row.decode("wrong_total", as: Int.self) == 1)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM events WHERE email = \(admin) AND type = 'login.code_failed'") == 1)
            #expect(
                try await Self.count(
                    app,
                    "SELECT count(*) AS n FROM events WHERE email = \(admin) AND type = 'login.rate_limited' AND detail->>'limit' = 'wrong_codes_per_account'"
                ) == 1
            )
            #expect(try await Self.count(app, "SELECT consecutive_wrong_codes AS n FROM users WHERE email = \(admin)") == 1)
        }
    }

    /// Logins, wrong codes, resends and polls of one account at once take turns on its row
    /// (and its challenges, always in that order): none waits into a deadlock (which would
    /// answer 503) and none fails.
    @Test func requestsOnOneAccountTakeTurnsWithoutDeadlock() async throws {
        try await TestApp.with({
            $0.domain.limits.challengesPerAccount = 1000
            $0.domain.limits.wrongCodesPerAccount = 1000
            $0.domain.codes.resendCooldown = 0
        }) { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let token = try await client.login(seed.admin, client: "dashboard").challengeToken()
            let replies = try await RaceTests.parallel(24) { index in
                switch index % 4 {
                case 0: try await client.login(seed.admin, client: "dashboard")
                case 1: try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": "000000"])
                case 2: try await client.post("/v1/auth/login/resend", ["challenge_token": token])
                default: try await client.post("/v1/auth/login/challenge", ["challenge_token": token])
                }
            }
            let failures = replies.filter { $0.status.code >= 500 }.map { "\($0.status.code) \($0.errorCode ?? "")" }
            #expect(failures.isEmpty, "\(failures)")
            #expect(replies.filter { $0.status == .accepted && $0.value("challenge", "token") != nil }.count >= 6)
        }
    }
}
