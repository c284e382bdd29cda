import Foundation
import HTTPTypes
import PQ
import TestSupport
import Testing
import TollgateCore
import TollgateHTTP

/// Logging in with a choice of second factors (SPEC §13, §13.1), the company's policy, and
/// remembered browsers (SPEC §14, §14.1), through the real router and database. Codes from an
/// authenticator app are computed here with ``TOTP``; `Tests/browser/test_methods_login.py`
/// does the same with `pyotp`, an independent implementation.
@Suite struct LoginMethodTests {
    /// Gives `account` a confirmed authenticator app (as the enrolment's confirm leaves it) and
    /// answers its secret.
    static func addApp(_ app: TestApp, _ account: Seed.Account, companyID: UUID, name: String = "Phone") async throws -> [UInt8] {
        let secret = SecureRandom.bytes(20)
        let sealed = MethodSecretBox(secrets: app.configuration.domain.secrets).seal(secret)
        try await app.sql(
            """
            INSERT INTO user_methods (company_id, user_id, kind, name, totp_sealed, confirmed_at)
            VALUES (\(companyID), \(account.id), 'totp', \(name), \(sealed), now())
            """
        )
        return secret
    }

    /// A company with 2FA on whose policy allows any method, and whose member has an
    /// authenticator app: the company and the app's secret.
    static func memberWithApp(_ app: TestApp, _ client: Client) async throws -> (Seed, [UInt8]) {
        let seed = try await app.seed()
        _ = try await app.enableTwoFactor(seed, client: client)
        try await setPolicy(app, seed)
        return (seed, try await addApp(app, seed.member, companyID: seed.companyID))
    }

    static func setPolicy(_ app: TestApp, _ seed: Seed, methods: String = "any", ask: String = "every_login", days: Int = 30) async throws {
        try await app.sql(
            "UPDATE companies SET methods_policy = \(methods), ask_policy = \(ask), remember_days = \(days) WHERE id = \(seed.companyID)"
        )
    }

    static func appCode(_ secret: [UInt8], offset: Int64 = 0) -> String {
        TOTP.code(secret: secret, step: TOTP.step(at: Date()) + offset)
    }

    static func count(_ app: TestApp, _ query: PQQuery) async throws -> Int {
        try await app.sql(query).first?.decode("n", as: Int.self) ?? -1
    }

    static func verify(_ client: Client, _ token: String, _ code: String, method: String? = nil, remember: Bool? = nil) async throws -> Reply {
        var body: [String: any Sendable] = ["challenge_token": token, "code": code]
        if let method { body["method"] = method }
        if let remember { body["remember_browser"] = remember }
        return try await client.post("/v1/auth/login/verify", body)
    }

    @Test func withAnAppAndPolicyAnyTheChallengeOpensWithTheAppAndMailsNothing() async throws {
        try await TestApp.with { app, client in
            let (seed, secret) = try await Self.memberWithApp(app, client)

            let login = try await client.login(seed.member, client: "dashboard")
            #expect(login.status == .accepted)
            #expect(login.value("challenge", "methods") as? [String] == ["totp", "email"])
            #expect(try login.string("challenge", "method") == "totp")
            #expect(try login.string("challenge", "delivery") == "not_sent")
            #expect(login.int("challenge", "resends_remaining") == 3)
            let mailed: PQQuery = "SELECT count(*) AS n FROM email_outbox WHERE recipient = \(seed.member.email)"
            #expect(try await Self.count(app, mailed) == 0)

            let verified = try await Self.verify(client, try login.challengeToken(), Self.appCode(secret), method: "totp")
            #expect(verified.status == .ok)
            let me = try await client.get("/v1/me", token: try verified.sessionToken())
            #expect(me.value("session", "two_factor_verified") as? Bool == true)
            let method = try await app.sql(
                "SELECT detail->>'method' AS method FROM events WHERE type = 'login.succeeded' AND user_id = \(seed.member.id)"
            ).first?.decode("method", as: String.self)
            #expect(method == "totp")
            #expect(try await Self.count(app, mailed) == 0)
            let used: PQQuery = "SELECT count(*) AS n FROM user_methods WHERE user_id = \(seed.member.id) AND last_used_at IS NOT NULL"
            #expect(try await Self.count(app, used) == 1)
        }
    }

    /// An app enrolled under a `TOLLGATE_SECRET` since rotated out of first place still logs
    /// in, and its secret is then sealed under the newest key.
    @Test func anAppSealedUnderAnOlderSecretLogsInAndIsSealedAnew() async throws {
        let old = Array("old-secret-old-secret-old-secret-0123456".utf8)
        let new = Array("new-secret-new-secret-new-secret-0123456".utf8)
        try await TestApp.with({ $0.domain.secrets = [new, old] }) { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            try await Self.setPolicy(app, seed)
            let secret = SecureRandom.bytes(20)
            try await app.sql(
                """
                INSERT INTO user_methods (company_id, user_id, kind, name, totp_sealed, confirmed_at)
                VALUES (\(seed.companyID), \(seed.member.id), 'totp', 'Old phone', \(MethodSecretBox(secrets: [old]).seal(secret)), now())
                """
            )
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            #expect(try await Self.verify(client, token, Self.appCode(secret), method: "totp").status == .ok)
            let sealed = try await app.sql("SELECT totp_sealed FROM user_methods WHERE user_id = \(seed.member.id)")
                .first.map { try $0.decode("totp_sealed", as: Data.self) }
            let stored = try #require(sealed)
            #expect(MethodSecretBox(secrets: [new]).open(stored) == secret)
            #expect(MethodSecretBox(secrets: [old]).open(stored) == nil)
        }
    }

    @Test func underTheEmailPolicyAnAppIsNotOfferedAndItsCodesCountAsWrong() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let secret = try await Self.addApp(app, seed.member, companyID: seed.companyID)

            let login = try await client.login(seed.member, client: "dashboard")
            #expect(login.value("challenge", "methods") as? [String] == ["email"])
            #expect(try login.string("challenge", "delivery") == "queued")
            let refused = try await Self.verify(client, try login.challengeToken(), Self.appCode(secret), method: "totp")
            #expect(refused.status == .unauthorized && refused.errorCode == "invalid_code")
            #expect(refused.int("error", "attempts_remaining") == 4)
            let code = try await app.latestCode(for: seed.member.email)
            #expect(try await Self.verify(client, try login.challengeToken(), code).status == .ok)
        }
    }

    @Test func eachStepOfAnAppIsAcceptedOnceEvenByTwoLoginsRacing() async throws {
        try await TestApp.with { app, client in
            let (seed, secret) = try await Self.memberWithApp(app, client)
            // A code that logged in once does not log in again, on a new challenge.
            let code = Self.appCode(secret)
            let first = try await client.login(seed.member, client: "dashboard").challengeToken()
            #expect(try await Self.verify(client, first, code, method: "totp").status == .ok)
            let second = try await client.login(seed.member, client: "dashboard").challengeToken()
            let replay = try await Self.verify(client, second, code, method: "totp")
            #expect(replay.status == .unauthorized && replay.errorCode == "invalid_code")

            // Eight requests at once with the next step's right code: one session.
            let racing = try await client.login(seed.member, client: "dashboard").challengeToken()
            let next = Self.appCode(secret, offset: 1)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<8 { group.addTask { try await Self.verify(client, racing, next, method: "totp").status } }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .ok }.count == 1, "\(statuses)")
            #expect(!statuses.contains(.internalServerError))
            let sessions: PQQuery = "SELECT count(*) AS n FROM sessions WHERE user_id = \(seed.member.id) AND two_factor_verified"
            #expect(try await Self.count(app, sessions) == 2)
        }
    }

    @Test func pickingEmailMailsTheFirstCodeOnceWithoutUsingAResend() async throws {
        try await TestApp.with { app, client in
            let (seed, _) = try await Self.memberWithApp(app, client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()

            let chosen = try await client.post("/v1/auth/login/email", ["challenge_token": token])
            #expect(chosen.status == .accepted)
            #expect(try chosen.string("challenge", "delivery") == "queued")
            #expect(chosen.int("challenge", "resends_remaining") == 3)
            let again = try await client.post("/v1/auth/login/email", ["challenge_token": token])
            #expect(again.status == .accepted && again.int("challenge", "resends_remaining") == 3)
            let mailed: PQQuery = "SELECT count(*) AS n FROM email_outbox WHERE recipient = \(seed.member.email) AND template = 'login_code'"
            #expect(try await Self.count(app, mailed) == 1)

            let code = try await app.latestCode(for: seed.member.email)
            #expect(try await Self.verify(client, token, code).status == .ok)
        }
    }

    /// Five wrong app codes use up the first code's tries; picking email then mails a new code
    /// that counts as a resend, so no challenge ever gets more than 5 × 4 entries.
    @Test func afterFiveWrongAppCodesTheEmailedCodeIsANewOne() async throws {
        try await TestApp.with { app, client in
            let (seed, secret) = try await Self.memberWithApp(app, client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            for _ in 0..<5 { _ = try await Self.verify(client, token, Self.appCode(secret, offset: 7), method: "totp") }
            let burned = try await Self.verify(client, token, Self.appCode(secret), method: "totp")
            #expect(burned.errorCode == "too_many_attempts")
            let chosen = try await client.post("/v1/auth/login/email", ["challenge_token": token])
            #expect(chosen.status == .accepted)
            #expect(chosen.int("challenge", "attempts_remaining") == 5 && chosen.int("challenge", "resends_remaining") == 2)
            #expect(try await Self.verify(client, token, try await app.latestCode(for: seed.member.email)).status == .ok)
        }
    }

    @Test func aResendBeforeAnyEmailIsTheFirstSend() async throws {
        try await TestApp.with { app, client in
            let (seed, _) = try await Self.memberWithApp(app, client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            let resent = try await client.post("/v1/auth/login/resend", ["challenge_token": token])
            #expect(resent.status == .accepted && resent.int("challenge", "resends_remaining") == 3)
            #expect(try resent.string("challenge", "delivery") == "queued")
        }
    }

    /// SPEC §13: one counter for both methods. Twenty wrong entries at once, half from the
    /// app and half typed as email codes, on one challenge: five count, the rest are refused,
    /// and the account's run of wrong codes is five.
    @Test func concurrentWrongCodesFromBothMethodsShareOneCounter() async throws {
        try await TestApp.with { app, client in
            let (seed, secret) = try await Self.memberWithApp(app, client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            _ = try await client.post("/v1/auth/login/email", ["challenge_token": token])
            // A code that is right neither now nor ±1 step.
            let wrongApp = Self.appCode(secret, offset: 5)
            let answers = try await withThrowingTaskGroup(of: Reply.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        index.isMultiple(of: 2)
                            ? try await Self.verify(client, token, wrongApp, method: "totp")
                            : try await Self.verify(client, token, "000000", method: "email")
                    }
                }
                return try await group.reduce(into: [Reply]()) { $0.append($1) }
            }
            #expect(answers.allSatisfy { $0.status == .unauthorized })
            #expect(answers.filter { $0.errorCode == "invalid_code" }.count == 4)
            #expect(answers.filter { $0.errorCode == "too_many_attempts" }.count == 16)
            let attempts = try await app.sql("SELECT attempts FROM challenges WHERE user_id = \(seed.member.id) AND purpose = 'login'")
            #expect(try attempts.first?.decode("attempts", as: Int.self) == 5)
            let run = try await app.sql("SELECT consecutive_wrong_codes FROM users WHERE id = \(seed.member.id)")
            #expect(try run.first?.decode("consecutive_wrong_codes", as: Int.self) == 5)
        }
    }

    @Test func anAppCodeNeedsNoEmailedCodeAliveButTheChallengeStillEnds() async throws {
        try await TestApp.with { app, client in
            let (seed, secret) = try await Self.memberWithApp(app, client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            // Twenty minutes on the chooser: no emailed code ran out, since none was sent.
            try await app.sql("UPDATE challenges SET code_expires_at = now() - interval '10 minutes' WHERE user_id = \(seed.member.id)")
            #expect(try await Self.verify(client, token, Self.appCode(secret), method: "totp").status == .ok)

            let later = try await client.login(seed.member, client: "dashboard").challengeToken()
            try await app.sql(
                """
                UPDATE challenges SET lifetime_ends_at = now() - interval '1 second'
                WHERE user_id = \(seed.member.id) AND state = 'pending'
                """
            )
            let closed = try await Self.verify(client, later, Self.appCode(secret, offset: 1), method: "totp")
            #expect(closed.status == .gone && closed.errorCode == "challenge_closed")
        }
    }

    // MARK: Remembered browsers

    @Test func aRememberedBrowserSkipsTheSecondStepForItsUserOnly() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            try await Self.setPolicy(app, seed, methods: "email", ask: "per_browser", days: 7)

            let started = try await client.login(seed.member, client: "dashboard")
            #expect(started.int("challenge", "remember_browser_days") == 7)
            let token = try started.challengeToken()
            let code = try await app.latestCode(for: seed.member.email)
            let verified = try await Self.verify(client, token, code, remember: true)
            #expect(verified.status == .ok)
            let browser = try verified.string("remembered_browser", "token")
            let expires = try verified.string("remembered_browser", "expires_at")
            let days = try #require(ISO8601DateFormatter().date(from: expires)).timeIntervalSinceNow / 86_400
            #expect(days > 6.9 && days <= 7.0)
            let stored: PQQuery = "SELECT count(*) AS n FROM remembered_browsers WHERE token_hash = sha256(\(Data(browser.utf8)))"
            #expect(try await Self.count(app, stored) == 0, "stored as a keyed hash, not a plain hash")

            func login(_ account: Seed.Account, browser: String?) async throws -> Reply {
                var body: [String: any Sendable] = ["email": account.email, "password": account.password, "client": "dashboard"]
                if let browser { body["remembered_browser"] = browser }
                return try await client.post("/v1/auth/login", body)
            }
            let skipped = try await login(seed.member, browser: browser)
            #expect(skipped.status == .ok)
            let me = try await client.get("/v1/me", token: try skipped.sessionToken())
            #expect(me.value("session", "two_factor_verified") as? Bool == true)
            let used: PQQuery = "SELECT count(*) AS n FROM events WHERE type = 'login.remembered_browser_used' AND user_id = \(seed.member.id)"
            #expect(try await Self.count(app, used) == 1)

            // Bound to its user: the admin on the same browser is asked as usual.
            #expect(try await login(seed.admin, browser: browser).status == .accepted)
            // Garbage and wrong-company tokens are ignored, not refused.
            #expect(try await login(seed.member, browser: "not-a-token").status == .accepted)
            #expect(try await login(seed.member, browser: BearerToken.make(companyID: UUID())).status == .accepted)
            // Expired: asked again.
            try await app.sql("UPDATE remembered_browsers SET expires_at = now() - interval '1 second'")
            #expect(try await login(seed.member, browser: browser).status == .accepted)
        }
    }

    @Test func aPolicyChangeForgetsEveryBrowserAndEveryLoginAsksAgain() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let owner = try await app.enableTwoFactor(seed, client: client)
            try await Self.setPolicy(app, seed, methods: "email", ask: "per_browser", days: 30)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            let verified = try await Self.verify(client, token, try await app.latestCode(for: seed.member.email), remember: true)
            let browser = try verified.string("remembered_browser", "token")

            let changed = try await client.patch(
                "/v1/company/security/policy",
                ["remember_days": 10, "password": seed.owner.password],
                token: owner
            )
            #expect(changed.status == .ok && changed.int("policy", "remember_days") == 10)
            let body: [String: any Sendable] = [
                "email": seed.member.email, "password": seed.member.password, "client": "dashboard", "remembered_browser": browser,
            ]
            #expect(try await client.post("/v1/auth/login", body).status == .accepted)
        }
    }

    @Test func rememberingNeedsThePerBrowserPolicy() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let started = try await client.login(seed.member, client: "dashboard")
            #expect(started.value("challenge", "remember_browser_days") is NSNull)
            let token = try started.challengeToken()
            let verified = try await Self.verify(client, token, try await app.latestCode(for: seed.member.email), remember: true)
            #expect(verified.status == .ok)
            #expect(verified.value("remembered_browser") is NSNull)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM remembered_browsers") == 0)
        }
    }

    // MARK: The policy

    @Test func onlyAnOwnerWithThePasswordChangesThePolicyAndOwnersAreTold() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let owner = try await client.login(seed.owner, client: "dashboard").sessionToken()
            let admin = try await client.login(seed.admin, client: "dashboard").sessionToken()

            let read = try await client.get("/v1/company/security/policy", token: admin)
            #expect(read.status == .ok)
            #expect(try read.string("policy", "methods") == "email" && (try read.string("policy", "ask")) == "every_login")
            #expect(read.int("policy", "users_without_passkey") == 3)

            let byAdmin = try await client.patch("/v1/company/security/policy", ["methods": "any", "password": seed.admin.password], token: admin)
            #expect(byAdmin.status == .forbidden && byAdmin.errorCode == "forbidden")
            let noPassword = try await client.patch("/v1/company/security/policy", ["methods": "any"], token: owner)
            #expect(noPassword.status == .forbidden && noPassword.errorCode == "reauthentication_required")
            for (body, field) in [
                (["remember_days": 0] as [String: any Sendable], "remember_days"), (["remember_days": 31], "remember_days"),
                (["remember_days": "7"], "remember_days"), (["methods": "sometimes"], "methods"), (["ask": 3], "ask"),
            ] {
                let refused = try await client.patch(
                    "/v1/company/security/policy",
                    body.merging(["password": seed.owner.password]) { $1 },
                    token: owner
                )
                #expect(refused.status == .badRequest && refused.errorField == field, "\(body)")
            }
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM events WHERE type = 'policy.changed'") == 0)

            let changed = try await client.patch(
                "/v1/company/security/policy",
                ["methods": "any", "ask": "per_browser", "remember_days": 14, "password": seed.owner.password],
                token: owner
            )
            #expect(changed.status == .ok)
            #expect(try changed.string("policy", "methods") == "any" && (try changed.string("policy", "ask")) == "per_browser")
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM events WHERE type = 'policy.changed'") == 1)
            let notices: PQQuery = "SELECT count(*) AS n FROM email_outbox WHERE template = 'policy_changed' AND recipient = \(seed.owner.email)"
            #expect(try await Self.count(app, notices) == 1)
            // The same again changes nothing and tells nobody.
            let same = try await client.patch("/v1/company/security/policy", ["methods": "any", "password": seed.owner.password], token: owner)
            #expect(same.status == .ok)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM events WHERE type = 'policy.changed'") == 1)
        }
    }
}
