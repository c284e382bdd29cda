import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PQ
import TestSupport
import Testing
import TollgateCore

/// Activation, code login, resend, disable (SPEC §2, §3, §4), reading codes from the queue.
@Suite struct TwoFactorTests {
    @Test func activationEnablesTwoFactorForTheCompanyAndRevokesUnverifiedSessions() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let adminSession = try await client.login(seed.admin, client: "dashboard").sessionToken()
            let phoneSession = try await client.login(seed.member, client: "phone_app").sessionToken()
            let ownerSession = try await app.enableTwoFactor(seed, client: client)

            let security = try await client.get("/v1/company/security", token: ownerSession)
            #expect(security.value("two_factor", "enabled") as? Bool == true)
            #expect(try security.string("two_factor", "enabled_by") == seed.owner.id.uuidString.lowercased())
            // The caller's own session counts as verified; other dashboard sessions must pass 2FA.
            let me = try await client.get("/v1/me", token: ownerSession)
            #expect(me.value("session", "two_factor_verified") as? Bool == true)
            #expect(try await client.get("/v1/me", token: adminSession).status == .unauthorized)
            // The phone app is exempt.
            #expect(try await client.get("/v1/me", token: phoneSession).status == .ok)
            // Every owner got a notice in the same transaction.
            let notices = try await app.sql("SELECT recipient FROM email_outbox WHERE template = 'two_factor_enabled'")
            #expect(try notices.map { try $0.decode("recipient", as: String.self) } == [seed.owner.email])
            let types = try await app.sql("SELECT type FROM events ORDER BY id").map { try $0.decode("type", as: String.self) }
            #expect(types.contains("two_factor.activation_started") && types.contains("two_factor.activation_verified"))
            #expect(types.contains("two_factor.enabled") && types.contains("session.revoked"))
        }
    }

    @Test func aDashboardLoginNeedsTheEmailedCodeOnceTwoFactorIsOn() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let login = try await client.login(seed.member, client: "dashboard")
            #expect(login.status == .accepted)
            #expect(try login.string("challenge", "email_hint") == "m***@acme.test")
            #expect(login.int("challenge", "resends_remaining") == 3)
            #expect(login.int("challenge", "attempts_remaining") == 5)
            #expect(try login.string("challenge", "delivery") == "queued")
            let token = try login.challengeToken()
            let code = try await app.latestCode(for: seed.member.email)
            let formatted = "\(code.prefix(3))-\(code.suffix(3))"
            let verified = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": formatted])
            #expect(verified.status == .ok)
            let me = try await client.get("/v1/me", token: try verified.sessionToken())
            #expect(me.value("session", "two_factor_verified") as? Bool == true)
            // A code works once.
            let again = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": code])
            #expect(again.status == .gone)
            #expect(again.errorCode == "challenge_closed")
            // The phone app never asks for a code, and says so in the log.
            let phone = try await client.login(seed.member, client: "phone_app")
            #expect(phone.status == .ok)
            let exempt = try await app.sql(
                "SELECT count(*) AS n FROM events WHERE type = 'login.succeeded' AND detail->>'two_factor' = 'exempt_phone_app'"
            )
            #expect(try exempt.first?.decode("n", as: Int.self) == 1)
        }
    }

    @Test func wrongCodesCountDownAndTheFifthBurnsTheCode() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            let code = try await app.latestCode(for: seed.member.email)
            let wrong = code == "000000" ? "111111" : "000000"
            for remaining in [4, 3, 2, 1] {
                let reply = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": wrong])
                #expect(reply.status == .unauthorized)
                #expect(reply.errorCode == "invalid_code")
                #expect(reply.int("error", "attempts_remaining") == remaining)
                #expect(reply.int("error", "resends_remaining") == 3)
            }
            let fifth = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": "abc123"])
            #expect(fifth.status == .unauthorized)
            #expect(fifth.errorCode == "too_many_attempts")
            #expect(fifth.int("error", "attempts_remaining") == 0)
            // Even the right code is refused now; a new code is needed.
            let right = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": code])
            #expect(right.errorCode == "too_many_attempts")
            let challenge = try await client.post("/v1/auth/login/challenge", ["challenge_token": token])
            #expect(challenge.int("challenge", "attempts_remaining") == 0)
        }
    }

    @Test func aResendReplacesTheCodeKeepsTheTokenAndIsLimitedToThree() async throws {
        try await TestApp.with({ $0.domain.codes.resendCooldown = 0 }) { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            var previous = try await app.latestCode(for: seed.member.email)
            let emailOfChallenge: PQQuery = "SELECT email_id FROM challenges WHERE purpose = 'login'"
            var previousEmail = try await app.sql(emailOfChallenge).first?.decode("email_id", as: UUID?.self)
            for remaining in [2, 1, 0] {
                let resent = try await client.post("/v1/auth/login/resend", ["challenge_token": token])
                #expect(resent.status == .accepted)
                #expect(try resent.challengeToken() == token)
                #expect(resent.int("challenge", "resends_remaining") == remaining)
                // A resend queues a new email with a new code...
                let currentEmail = try await app.sql(emailOfChallenge).first?.decode("email_id", as: UUID?.self)
                #expect(currentEmail != nil && currentEmail != previousEmail, "a resend must send a new email")
                previousEmail = currentEmail
                let current = try await app.latestCode(for: seed.member.email)
                // ...and the old code stops working (unless the new one is by chance the same: 1 in 10^6).
                if current != previous {
                    let old = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": previous])
                    #expect(old.errorCode == "invalid_code", "a replaced code must not work")
                }
                previous = current
            }
            let fourth = try await client.post("/v1/auth/login/resend", ["challenge_token": token])
            #expect(fourth.status == .conflict)
            #expect(fourth.errorCode == "resend_limit_reached")
            let verified = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": previous])
            #expect(verified.status == .ok)
        }
    }

    @Test func resendsWithinTheCooldownAreRefusedWithRetryAfter() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            let reply = try await client.post("/v1/auth/login/resend", ["challenge_token": token])
            #expect(reply.status == .tooManyRequests)
            #expect(reply.errorCode == "resend_too_soon")
            let retryAfter = try #require(reply.headers[.retryAfter].flatMap(Int.init))
            #expect(retryAfter > 0 && retryAfter <= 30)
            // Once the cooldown has passed (moved back in the database, not waited for), it works.
            try await app.sql("UPDATE challenges SET last_sent_at = now() - interval '31 seconds'")
            #expect(try await client.post("/v1/auth/login/resend", ["challenge_token": token]).status == .accepted)
        }
    }

    @Test func anExpiredCodeAsksForANewOneAndClosesTheChallengeWhenNoneIsLeft() async throws {
        try await TestApp.with({
            $0.domain.codes.resendCooldown = 0
            $0.domain.codes.maxResends = 1
        }) { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            let code = try await app.latestCode(for: seed.member.email)
            try await app.sql("UPDATE challenges SET code_expires_at = now() - interval '1 second' WHERE purpose = 'login'")
            let expired = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": code])
            #expect(expired.status == .unauthorized)
            #expect(expired.errorCode == "code_expired")
            #expect(expired.int("error", "resends_remaining") == 1)
            #expect(try await client.post("/v1/auth/login/resend", ["challenge_token": token]).status == .accepted)
            let second = try await app.latestCode(for: seed.member.email)
            try await app.sql("UPDATE challenges SET code_expires_at = now() - interval '1 second' WHERE purpose = 'login'")
            let closed = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": second])
            #expect(closed.status == .gone)
            #expect(closed.errorCode == "challenge_closed")
            let state = try await app.sql("SELECT state, close_reason FROM challenges WHERE purpose = 'login'")
            #expect(try state.first?.decode("state", as: String.self) == "closed")
            #expect(try state.first?.decode("close_reason", as: String.self) == "expired")
            #expect(try await client.post("/v1/auth/login/resend", ["challenge_token": token]).status == .gone)
            // Starting over with the password works.
            #expect(try await client.login(seed.member, client: "dashboard").status == .accepted)
        }
    }

    /// Once the account's hourly wrong-code limit is used up, a resend sends no new code: the
    /// account's challenges close (SPEC §5).
    @Test func aResendAfterTheAccountsWrongCodeLimitClosesInsteadOfSending() async throws {
        try await TestApp.with({
            $0.domain.limits.wrongCodesPerAccount = 3
            $0.domain.codes.resendCooldown = 0
        }) { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            let real = try await app.latestCode(for: seed.member.email)
            for guess in ["000000", "000001", "000002", "000003"].filter({ $0 != real }).prefix(3) {
                let reply = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": guess])
                #expect(reply.errorCode == "invalid_code")
            }
            let emails = try await app.sql("SELECT count(*) AS n FROM email_outbox WHERE recipient = \(seed.member.email)")
            let resent = try await client.post("/v1/auth/login/resend", ["challenge_token": token])
            #expect(resent.status == .gone, "\(resent.status)")
            #expect(resent.errorCode == "challenge_closed")
            let state = try await app.sql("SELECT state, close_reason FROM challenges WHERE purpose = 'login' AND user_id = \(seed.member.id)")
            #expect(try state.first?.decode("close_reason", as: String?.self) == "account_limit")
            let after = try await app.sql("SELECT count(*) AS n FROM email_outbox WHERE recipient = \(seed.member.email)")
            #expect(try after.first?.decode("n", as: Int.self) == emails.first?.decode("n", as: Int.self), "no new code was mailed")
        }
    }

    @Test func codesExpireByTheDatabaseClockWithAShortTTL() async throws {
        try await TestApp.with({ $0.domain.codes.ttl = 1 }) { app, client in
            let seed = try await app.seed()
            // Switched on directly: an activation code would itself live only one second.
            try await app.sql("UPDATE companies SET two_factor_enabled = true, two_factor_changed_at = now()")
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            let code = try await app.latestCode(for: seed.member.email)
            // Wait until the database itself says the code is past its expiry (a condition, not a guess).
            try await eventually("the database to see the code expired", timeout: .seconds(10)) {
                try await app.sql("SELECT 1 FROM challenges WHERE purpose = 'login' AND code_expires_at > now()").isEmpty
            }
            let reply = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": code])
            #expect(reply.errorCode == "code_expired")
        }
    }

    @Test func unknownAndMalformedChallengeTokensAre404() async throws {
        try await TestApp.with { app, client in
            for token in ["", "nonsense", BearerToken.make(companyID: UUID()), String(repeating: "A", count: 64)] {
                let verify = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": "123456"])
                #expect(verify.status == .notFound)
                #expect(verify.errorCode == "challenge_not_found")
                #expect(try await client.post("/v1/auth/login/resend", ["challenge_token": token]).status == .notFound)
                #expect(try await client.post("/v1/auth/login/challenge", ["challenge_token": token]).status == .notFound)
            }
        }
    }

    @Test func onlyAnOwnerDisablesAndOnlyWithConfirmation() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let ownerSession = try await app.enableTwoFactor(seed, client: client)
            let adminLogin = try await client.login(seed.admin, client: "dashboard")
            let adminCode = try await app.latestCode(for: seed.admin.email)
            let adminSession = try await client.post(
                "/v1/auth/login/verify",
                ["challenge_token": try adminLogin.challengeToken(), "code": adminCode]
            ).sessionToken()

            let denied = try await client.post("/v1/company/security/two-factor/disable", ["confirm": true], token: adminSession)
            #expect(denied.status == .forbidden)
            #expect(denied.errorCode == "forbidden")
            let deniedEvents = try await app.sql("SELECT count(*) AS n FROM events WHERE type = 'two_factor.disable_denied'")
            #expect(try deniedEvents.first?.decode("n", as: Int.self) == 1)

            for body: [String: any Sendable] in [[:], ["confirm": false]] {
                let unconfirmed = try await client.post("/v1/company/security/two-factor/disable", body, token: ownerSession)
                #expect(unconfirmed.status == .badRequest)
                #expect(unconfirmed.errorCode == "confirmation_required")
            }
            let mistyped = try await client.post("/v1/company/security/two-factor/disable", ["confirm": "yes"], token: ownerSession)
            #expect(mistyped.errorField == "confirm")

            let disabled = try await client.post(
                "/v1/company/security/two-factor/disable",
                ["confirm": true, "password": seed.owner.password],
                token: ownerSession
            )
            #expect(disabled.status == .ok)
            #expect(disabled.value("two_factor", "enabled") as? Bool == false)
            let again = try await client.post(
                "/v1/company/security/two-factor/disable",
                ["confirm": true, "password": seed.owner.password],
                token: ownerSession
            )
            #expect(again.status == .conflict)
            #expect(again.errorCode == "already_disabled")
            // Back to password-only logins.
            #expect(try await client.login(seed.member, client: "dashboard").status == .ok)
            let notices = try await app.sql("SELECT count(*) AS n FROM email_outbox WHERE template = 'two_factor_disabled'")
            #expect(try notices.first?.decode("n", as: Int.self) == 1)
        }
    }

    /// SPEC §3.3: a session alone cannot switch 2FA off; a wrong or missing password is 403
    /// `reauthentication_required`, is recorded, and counts toward the failed-password limit.
    @Test func disablingAsksForTheOwnersPasswordAndCountsAWrongOne() async throws {
        try await TestApp.with({ $0.domain.limits.failedPasswords = 3 }) { app, client in
            let seed = try await app.seed()
            let ownerSession = try await app.enableTwoFactor(seed, client: client)
            let disable = "/v1/company/security/two-factor/disable"
            let missing = try await client.post(disable, ["confirm": true], token: ownerSession)
            #expect(missing.status == .forbidden)
            #expect(missing.errorCode == "reauthentication_required")
            let wrong = try await client.post(disable, ["confirm": true, "password": "not-the-password"], token: ownerSession)
            #expect(wrong.status == .forbidden)
            #expect(wrong.errorCode == "reauthentication_required")
            let state = try await client.get("/v1/company/security", token: ownerSession)
            #expect(state.value("two_factor", "enabled") as? Bool == true)
            let denied = try await app.sql(
                "SELECT detail->>'reason' AS reason FROM events WHERE type = 'two_factor.disable_denied' ORDER BY id"
            )
            #expect(try denied.map { try $0.decode("reason", as: String.self) } == ["wrong_password", "wrong_password"])
            // Two wrong confirmations and one wrong login reach the limit of 3: the right
            // password is refused for now, at login and at disable alike.
            #expect(
                try await client.login(Seed.Account(id: seed.owner.id, email: seed.owner.email, password: "wrong-again"), client: "dashboard").status
                    == .unauthorized
            )
            #expect(try await client.login(seed.owner, client: "dashboard").status == .tooManyRequests)
            let limited = try await client.post(disable, ["confirm": true, "password": seed.owner.password], token: ownerSession)
            #expect(limited.status == .tooManyRequests)
            #expect(try await client.get("/v1/company/security", token: ownerSession).value("two_factor", "enabled") as? Bool == true)
        }
    }

    @Test func enablingNeedsAFreshVerifiedActivationUsedOnce() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let session = try await client.login(seed.owner, client: "dashboard").sessionToken()
            let started = try await client.post("/v1/company/security/two-factor/activation", token: session)
            let id = try started.string("activation", "id")
            #expect(try started.string("activation", "status") == "code_sent")
            let early = try await client.post("/v1/company/security/two-factor/enable", ["activation_id": id, "confirm": true], token: session)
            #expect(early.status == .conflict)
            #expect(early.errorCode == "activation_not_verified")
            let code = try await app.latestCode(for: seed.owner.email)
            #expect(try await client.post("/v1/company/security/two-factor/activation/\(id)/verify", ["code": code], token: session).status == .ok)
            // Usable for 10 minutes from its verification.
            let window = try await app.sql("SELECT round(extract(epoch FROM usable_until - verified_at))::integer AS n FROM challenges")
            #expect(try window.first?.decode("n", as: Int.self) == 600)
            // Verified more than 10 minutes ago: too old.
            try await app.sql("UPDATE challenges SET verified_at = now() - interval '11 minutes', usable_until = now() - interval '1 minute'")
            let stale = try await client.post("/v1/company/security/two-factor/enable", ["activation_id": id, "confirm": true], token: session)
            #expect(stale.errorCode == "activation_not_verified")
            try await app.sql("UPDATE challenges SET verified_at = now(), usable_until = now() + interval '10 minutes'")
            let unconfirmed = try await client.post("/v1/company/security/two-factor/enable", ["activation_id": id], token: session)
            #expect(unconfirmed.errorCode == "confirmation_required")
            #expect(
                try await client.post("/v1/company/security/two-factor/enable", ["activation_id": id, "confirm": true], token: session).status == .ok
            )
            let twice = try await client.post("/v1/company/security/two-factor/enable", ["activation_id": id, "confirm": true], token: session)
            #expect(twice.status == .conflict)
            #expect(twice.errorCode == "already_enabled")
            let restart = try await client.post("/v1/company/security/two-factor/activation", token: session)
            #expect(restart.errorCode == "already_enabled")
        }
    }

    @Test func membersCannotReadSecurityOrActivate() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let session = try await client.login(seed.member, client: "dashboard").sessionToken()
            #expect(try await client.get("/v1/company/security", token: session).status == .forbidden)
            #expect(try await client.get("/v1/company/security/events", token: session).status == .forbidden)
            #expect(try await client.post("/v1/company/security/two-factor/activation", token: session).status == .forbidden)
            #expect(try await client.post("/v1/company/security/two-factor/disable", ["confirm": true], token: session).status == .forbidden)
        }
    }

    @Test func eventsPageNewestFirst() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            for _ in 0..<4 { _ = try await client.login(seed.member, client: "phone_app") }
            let session = try await client.login(seed.owner, client: "dashboard").sessionToken()
            let first = try await client.get("/v1/company/security/events?limit=3", token: session)
            let firstIDs = ((first.json["events"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? Int }
            #expect(firstIDs.count == 3 && firstIDs == firstIDs.sorted(by: >))
            let before = try #require(first.int("next_before"))
            let second = try await client.get("/v1/company/security/events?limit=100&before=\(before)", token: session)
            let secondIDs = ((second.json["events"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? Int }
            #expect(secondIDs.allSatisfy { $0 < before } && secondIDs.count == 7)
            #expect(second.value("next_before") is NSNull)
        }
    }
}
