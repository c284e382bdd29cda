import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PQ
import Synchronization
import TestSupport
import Testing
import TollgateCore

/// Races on codes, counters and resends, each with many parallel requests (SPEC §2, §5).
@Suite struct RaceTests {
    /// Runs `count` copies of `work` at once and collects the replies.
    static func parallel(_ count: Int, _ work: @escaping @Sendable (Int) async throws -> Reply) async throws -> [Reply] {
        try await withThrowingTaskGroup(of: Reply.self) { group in
            for index in 0..<count { group.addTask { try await work(index) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    @Test func theRightCodeSubmittedConcurrentlyYieldsExactlyOneSession() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            let code = try await app.latestCode(for: seed.member.email)
            let replies = try await Self.parallel(25) { _ in
                try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": code])
            }
            #expect(replies.filter { $0.status == .ok }.count == 1)
            #expect(replies.filter { $0.status == .gone }.count == 24)
            let sessions = try await app.sql("SELECT count(*) AS n FROM sessions WHERE user_id = \(seed.member.id)")
            #expect(try sessions.first?.decode("n", as: Int.self) == 1)
        }
    }

    @Test func concurrentWrongCodesNeverGetMoreThanFiveGuessesPerCode() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            let code = try await app.latestCode(for: seed.member.email)
            let replies = try await Self.parallel(30) { index in
                // Thirty different wrong codes.
                let guess = String(format: "%06d", (Int(code)! + 1 + index) % 1_000_000)
                return try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": guess])
            }
            #expect(replies.filter { $0.errorCode == "invalid_code" }.count == 4)
            #expect(replies.filter { $0.errorCode == "too_many_attempts" }.count == 26)
            let state = try await app.sql("SELECT attempts, wrong_total FROM challenges WHERE purpose = 'login'")
            #expect(try state.first?.decode("attempts", as: Int.self) == 5)
            #expect(try state.first?.decode("wrong_total", as: Int.self) == 5, "exactly five guesses were compared")
        }
    }

    @Test func concurrentWrongCodesNeverPassTheAccountLimit() async throws {
        try await TestApp.with({
            $0.domain.limits.wrongCodesPerAccount = 7
            $0.domain.codes.resendCooldown = 0
        }) { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            // One challenge, three codes (two resends), twenty concurrent wrong guesses on each:
            // five per code would be compared, but the account's limit of seven stops them all.
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            var replies: [Reply] = []
            for _ in 0..<3 {
                let real = try await app.latestCode(for: seed.member.email)
                let guesses = Array((0..<21).map { String(format: "%06d", $0) }.filter { $0 != real }.prefix(20))
                replies += try await Self.parallel(20) { index in
                    try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": guesses[index]])
                }
                _ = try await client.post("/v1/auth/login/resend", ["challenge_token": token])
            }
            #expect(!replies.contains { $0.status == .ok }, "no guess was right")
            let compared = try await app.sql("SELECT coalesce(sum(wrong_total), 0)::bigint AS n FROM challenges WHERE user_id = \(seed.member.id)")
            #expect(try compared.first?.decode("n", as: Int.self) == 7, "exactly the account's limit of guesses was compared")
            let closed = try await app.sql("SELECT state, close_reason FROM challenges WHERE user_id = \(seed.member.id)")
            #expect(try closed.first?.decode("close_reason", as: String?.self) == "account_limit")
            // New challenges are refused for the rest of the hour.
            let again = try await client.login(seed.member, client: "dashboard")
            #expect(again.status == .tooManyRequests)
            #expect(again.errorCode == "rate_limited")
        }
    }

    @Test func concurrentResendsAcceptAtMostThree() async throws {
        try await TestApp.with({ $0.domain.codes.resendCooldown = 0 }) { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            let replies = try await Self.parallel(20) { _ in try await client.post("/v1/auth/login/resend", ["challenge_token": token]) }
            #expect(replies.filter { $0.status == .accepted }.count == 3)
            #expect(replies.filter { $0.errorCode == "resend_limit_reached" }.count == 17)
            let emails = try await app.sql("SELECT count(*) AS n FROM email_outbox WHERE template = 'login_code'")
            #expect(try emails.first?.decode("n", as: Int.self) == 4)
        }
    }

    @Test func aCodeReplacedByAConcurrentResendIsRefusedOnceTheResendCommits() async throws {
        try await TestApp.with({ $0.domain.codes.resendCooldown = 0 }) { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            let old = try await app.latestCode(for: seed.member.email)
            let replies = try await Self.parallel(20) { index in
                index == 0
                    ? try await client.post("/v1/auth/login/resend", ["challenge_token": token])
                    : try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": old])
            }
            let resendWon = replies.contains { $0.status == .accepted }
            let sessions = replies.filter { $0.status == .ok }.count
            #expect(sessions <= 1)
            if resendWon {
                // After the resend committed, the old code never works again.
                let late = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": old])
                #expect(late.status != .ok)
            }
            #expect(resendWon || sessions == 1)
        }
    }

    /// A used challenge never changes again, so replaying its token reads it without its row
    /// lock: a replay is answered while another transaction holds that lock, instead of
    /// queueing behind it (64 replays of one token queued so, bench/RESULTS.md).
    @Test func aReplayIsAnsweredWhileTheChallengeRowIsLocked() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            let code = try await app.latestCode(for: seed.member.email)
            let first = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": code])
            #expect(first.status == .ok)
            let (locked, lockTaken) = AsyncStream.makeStream(of: Void.self)
            let answered = Mutex(false)
            // Holds the row's lock until the replay is answered, or 10 s at most: false then.
            let holder = Task {
                try await app.owner.withTransaction { tx -> Bool in
                    // Ends the stream if this throws first, so the test fails instead of waiting.
                    defer { lockTaken.finish() }
                    try tx.query("SELECT 1 FROM challenges WHERE user_id = \(seed.member.id) AND purpose = 'login' FOR UPDATE")
                    lockTaken.yield()
                    let deadline = Date().addingTimeInterval(10)
                    while Date() < deadline {
                        if answered.withLock({ $0 }) { return true }
                        try tx.query("SELECT pg_sleep(0.02)")
                    }
                    return false
                }
            }
            for await _ in locked { break }
            let replay = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": code])
            answered.withLock { $0 = true }
            #expect(replay.errorCode == "challenge_closed")
            #expect(try await holder.value, "the replay was answered while the lock was held")
        }
    }

    /// A verify waiting for the challenge's lock while another transaction uses the
    /// challenge up is answered as a replay (`challenge_closed`), not `challenge_not_found`:
    /// the lock-free read of ended challenges runs after the locking read.
    @Test func aVerifyWaitingForAChallengeThatEndsIsToldItIsClosed() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            let code = try await app.latestCode(for: seed.member.email)
            let (locked, lockTaken) = AsyncStream.makeStream(of: Void.self)
            let verify = Task {
                for await _ in locked { break }
                return try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": code])
            }
            // Uses the challenge up in a transaction that stays open until the verify waits for
            // its row (bounded: false if the verify never waits).
            let sawVerifyWaiting = try await app.owner.withTransaction { tx -> Bool in
                defer { lockTaken.finish() }
                try tx.query(
                    "UPDATE challenges SET state = 'used', used_at = now() WHERE user_id = \(seed.member.id) AND purpose = 'login' AND state = 'pending'"
                )
                lockTaken.yield()
                return try tx.anotherSessionWaitsForALock()
            }
            let reply = try await verify.value
            #expect(sawVerifyWaiting)
            #expect(reply.errorCode == "challenge_closed")
            let sessions = try await app.sql("SELECT count(*) AS n FROM sessions WHERE user_id = \(seed.member.id) AND client = 'dashboard'")
            #expect(try sessions.first?.decode("n", as: Int.self) == 0)
        }
    }

    @Test func enableRacingDisableEndsConsistentWithBothEvents() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let ownerSession = try await app.enableTwoFactor(seed, client: client)
            // Disable, then race a fresh enable by the admin against a disable by the owner.
            #expect(
                try await client.post(
                    "/v1/company/security/two-factor/disable",
                    ["confirm": true, "password": seed.owner.password],
                    token: ownerSession
                ).status == .ok
            )
            let adminSession = try await client.login(seed.admin, client: "dashboard").sessionToken()
            let started = try await client.post("/v1/company/security/two-factor/activation", token: adminSession)
            let id = try started.string("activation", "id")
            let code = try await app.latestCode(for: seed.admin.email)
            #expect(
                try await client.post("/v1/company/security/two-factor/activation/\(id)/verify", ["code": code], token: adminSession).status == .ok
            )
            let replies = try await Self.parallel(20) { index in
                index % 2 == 0
                    ? try await client.post("/v1/company/security/two-factor/enable", ["activation_id": id, "confirm": true], token: adminSession)
                    : try await client.post(
                        "/v1/company/security/two-factor/disable",
                        ["confirm": true, "password": seed.owner.password],
                        token: ownerSession
                    )
            }
            // Ten disables hash a password at once: past the hasher's queue the designed answer is
            // 503 `busy` with Retry-After, never another server error.
            #expect(
                replies.allSatisfy { $0.status.code < 500 || $0.errorCode == "busy" },
                "\(replies.map { "\($0.status.code) \($0.errorCode ?? "")" })"
            )
            #expect(replies.filter { $0.status == .ok && $0.value("two_factor", "enabled") as? Bool == true }.count == 1)
            let company = try await app.sql("SELECT two_factor_enabled FROM companies")
            let enabled = try company.first?.decode("two_factor_enabled", as: Bool.self) ?? false
            let events = try await app.sql("SELECT type FROM events WHERE type IN ('two_factor.enabled', 'two_factor.disabled') ORDER BY id")
            let types = try events.map { try $0.decode("type", as: String.self) }
            // The log replays to the final state: the last change recorded is the state we are in.
            #expect(types.last == (enabled ? "two_factor.enabled" : "two_factor.disabled"))
            #expect(types.filter { $0 == "two_factor.enabled" }.count == 2)
        }
    }
}
