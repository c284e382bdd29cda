import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PQ
import Testing
import TollgateCore

/// No alternate path yields a dashboard session or a 2FA change without the right code.
@Suite struct BypassTests {
    @Test func aPhoneAppSessionIsRefusedOnEveryDashboardRoute() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let phone = try await client.login(seed.owner, client: "phone_app").sessionToken()
            let id = UUID().uuidString
            let routes: [(HTTPRequest.Method, String)] = [
                (.get, "/v1/company/security"), (.get, "/v1/company/security/events"),
                (.post, "/v1/company/security/two-factor/activation"), (.post, "/v1/company/security/two-factor/activation/\(id)/resend"),
                (.post, "/v1/company/security/two-factor/activation/\(id)/verify"), (.post, "/v1/company/security/two-factor/enable"),
                (.post, "/v1/company/security/two-factor/disable"),
            ]
            for (method, path) in routes {
                let reply =
                    method == .get
                    ? try await client.get(path, token: phone)
                    : try await client.post(path, ["code": "123456", "confirm": true, "activation_id": id], token: phone)
                #expect(reply.status == .forbidden, "\(path)")
                #expect(reply.errorCode == "dashboard_session_required", "\(path)")
            }
        }
    }

    @Test func aLoginCodeNeverActivatesAndAnActivationCodeNeverLogsIn() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let ownerSession = try await app.enableTwoFactor(seed, client: client)
            #expect(
                try await client.post(
                    "/v1/company/security/two-factor/disable",
                    ["confirm": true, "password": seed.owner.password],
                    token: ownerSession
                ).status == .ok
            )
            // An activation pending for the owner, and a login challenge for the owner.
            let started = try await client.post("/v1/company/security/two-factor/activation", token: ownerSession)
            let activationID = try started.string("activation", "id")
            let activationCode = try await app.latestCode(for: seed.owner.email)
            try await app.sql("UPDATE companies SET two_factor_enabled = true")
            let token = try await client.login(seed.owner, client: "dashboard").challengeToken()
            let loginCode = try await app.latestCode(for: seed.owner.email)
            // Two random codes coincide once in a million runs; then this test proves nothing.
            try #require(loginCode != activationCode)
            let crossLogin = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": activationCode])
            #expect(crossLogin.errorCode == "invalid_code")
            let crossActivation = try await client.post(
                "/v1/company/security/two-factor/activation/\(activationID)/verify",
                ["code": loginCode],
                token: ownerSession
            )
            #expect(crossActivation.errorCode == "invalid_code")
        }
    }

    @Test func oneUsersCodeNeverServesAnother() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let memberToken = try await client.login(seed.member, client: "dashboard").challengeToken()
            let memberCode = try await app.latestCode(for: seed.member.email)
            let adminToken = try await client.login(seed.admin, client: "dashboard").challengeToken()
            let adminCode = try await app.latestCode(for: seed.admin.email)
            if memberCode != adminCode {
                let crossed = try await client.post("/v1/auth/login/verify", ["challenge_token": adminToken, "code": memberCode])
                #expect(crossed.errorCode == "invalid_code")
            }
            // Each code is bound to its challenge: the stored MAC differs even for equal codes.
            let macs = try await app.sql("SELECT count(DISTINCT code_hash) AS n FROM challenges WHERE purpose = 'login'")
            #expect(try macs.first?.decode("n", as: Int.self) == 2)
            #expect(try await client.post("/v1/auth/login/verify", ["challenge_token": memberToken, "code": memberCode]).status == .ok)
        }
    }

    @Test func codesAndTokensNeverRestInClear() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            let code = try await app.latestCode(for: seed.member.email)
            // Every text and bytea column of every table except the outbox (which carries the
            // email until it is delivered; the mail worker scrubs it) must be free of both.
            let columns = try await app.sql(
                """
                SELECT table_name, column_name, data_type FROM information_schema.columns
                WHERE table_schema = 'public' AND data_type IN ('text', 'bytea', 'jsonb') AND table_name <> 'email_outbox'
                """
            )
            for column in columns {
                let table: String = try column.decode("table_name")
                let name: String = try column.decode("column_name")
                let found = try await app.sql(
                    "SELECT count(*) AS n FROM \(unsafeSQL: table) WHERE position(\(code) IN \(unsafeSQL: name)::text) > 0 OR position(\(token) IN \(unsafeSQL: name)::text) > 0"
                )
                #expect(try found.first?.decode("n", as: Int.self) == 0, "\(table).\(name)")
            }
        }
    }

    @Test func aHundredWrongCodesInARowLockTheDashboardLoginUntilUnlocked() async throws {
        try await TestApp.with({
            $0.domain.limits.consecutiveWrongCodesLock = 6
            $0.domain.codes.resendCooldown = 0
        }) { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            let code = try await app.latestCode(for: seed.member.email)
            let wrong = code == "000000" ? "111111" : "000000"
            var last: Reply?
            for _ in 0..<5 { last = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": wrong]) }
            _ = try await client.post("/v1/auth/login/resend", ["challenge_token": token])
            last = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": wrong])
            #expect(last?.status == .forbidden)
            #expect(last?.errorCode == "account_locked")
            let locked = try await client.login(seed.member, client: "dashboard")
            #expect(locked.status == .forbidden)
            #expect(locked.errorCode == "account_locked")
            #expect(locked.headers[.retryAfter] != nil)
            // The phone app is not locked; support lifts the lock.
            #expect(try await client.login(seed.member, client: "phone_app").status == .ok)
            let provisioning = Provisioning(pool: app.owner, hasher: PasswordHasher(concurrency: 1))
            #expect(try await provisioning.unlock(email: seed.member.email))
            let reopened = try await client.login(seed.member, client: "dashboard")
            #expect(reopened.status == .accepted)
            // Locked while a challenge is open: its codes are refused too, and the refusal is recorded.
            try await app.sql("UPDATE users SET locked_until = now() + interval '1 hour' WHERE id = \(seed.member.id)")
            let lockEvents: PQQuery = """
                SELECT count(*) AS n FROM events
                WHERE type = 'login.rate_limited' AND detail->>'limit' = 'account_locked' AND user_id = \(seed.member.id)
                """
            let before = try await app.sql(lockEvents).first?.decode("n", as: Int.self) ?? 0
            let refused = try await client.post(
                "/v1/auth/login/verify",
                ["challenge_token": try reopened.challengeToken(), "code": try await app.latestCode(for: seed.member.email)]
            )
            #expect(refused.status == .forbidden && refused.errorCode == "account_locked")
            #expect(try await app.sql(lockEvents).first?.decode("n", as: Int.self) == before + 1)
        }
    }

    @Test func challengesPerAccountAreLimited() async throws {
        try await TestApp.with({ $0.domain.limits.challengesPerAccount = 3 }) { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            for _ in 0..<3 { #expect(try await client.login(seed.member, client: "dashboard").status == .accepted) }
            let fourth = try await client.login(seed.member, client: "dashboard")
            #expect(fourth.status == .tooManyRequests)
            #expect(fourth.errorCode == "rate_limited")
            let emails = try await app.sql("SELECT count(*) AS n FROM email_outbox WHERE template = 'login_code'")
            #expect(try emails.first?.decode("n", as: Int.self) == 3)
        }
    }
}
