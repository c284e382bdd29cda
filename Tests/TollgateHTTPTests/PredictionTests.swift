import Foundation
import HTTPTypes
import PQ
import TestSupport
import Testing
import TollgateCore

/// Hot requests send their writes with the COMMIT on the outcome their locked rows predict;
/// when a limit shared with other requests proves the prediction wrong, nothing of that run
/// may stay, and the request runs again reading each answer (`ExpectedOutcome`). Each test
/// drives one such limit and checks that exactly one set of effects was kept. The round trips
/// show that the second run happened (a predicted request costs 3 or fewer).
@Suite struct PredictionTests {
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
            #expect(trips > 3, "the refusal was found by the second, reading run (\(trips) round trips)")

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
            #expect(trips > 2, "the account's limit was found by the second, reading run (\(trips) round trips)")

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
}
