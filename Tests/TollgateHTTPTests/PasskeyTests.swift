import Foundation
import HTTPTypes
import PQ
import TestSupport
import Testing
import TollgateCore
import TollgateHTTP

/// Passkeys through the real router and database (SPEC §13, §13.1): adding one, logging in
/// with it, the refusals that count as wrong codes, and the `phishing_resistant` policy with
/// its enrollment-only session and the owner's reset. The authenticator is ``TestAuthenticator``;
/// `Tests/browser/test_passkey_api.py` (an authenticator on Python fido2's encoders) and
/// `test_passkeys.py` (Chromium's virtual authenticator) drive the same API with independent
/// implementations.
@Suite struct PasskeyTests {
    /// The test server's relying party: `PUBLIC_URL` is unset, so the default link base's
    /// (`http://127.0.0.1:8080`), whose loopback host passkeys know as `localhost`.
    static let origin = "http://localhost:8080"

    /// Adds a passkey to `account` with the password (no recent second factor needed) and
    /// answers the authenticator.
    static func addPasskey(_ client: Client, _ account: Seed.Account, session: String, name: String = "Laptop") async throws -> TestAuthenticator {
        var authenticator = TestAuthenticator(origin: origin)
        let options = try await client.post("/v1/me/methods/passkeys/options", ["password": account.password], token: session)
        #expect(options.status == .ok)
        let credential = try authenticator.register(try #require(options.value("options") as? [String: Any]))
        let added = try await client.post("/v1/me/methods/passkeys", ["name": name, "credential": credential], token: session)
        #expect(added.status == .created, "\(String(decoding: added.body, as: UTF8.self))")
        #expect(try added.string("method", "kind") == "passkey")
        return authenticator
    }

    /// A company with 2FA on, policy `any`, whose member has a passkey: the seed and the passkey.
    static func memberWithPasskey(_ app: TestApp, _ client: Client) async throws -> (Seed, TestAuthenticator) {
        let seed = try await app.seed()
        let session = try await client.login(seed.member, client: "dashboard").sessionToken()
        let passkey = try await addPasskey(client, seed.member, session: session)
        _ = try await app.enableTwoFactor(seed, client: client)
        try await LoginMethodTests.setPolicy(app, seed)
        return (seed, passkey)
    }

    /// Logs in with the password and answers the passkey step's options and the challenge token.
    static func passkeyStep(_ client: Client, _ account: Seed.Account) async throws -> (token: String, options: [String: Any]) {
        let login = try await client.login(account, client: "dashboard")
        let token = try login.challengeToken()
        let options = try await client.post("/v1/auth/login/passkey/options", ["challenge_token": token])
        #expect(options.status == .ok)
        return (token, try #require(options.value("options") as? [String: Any]))
    }

    static func verify(_ client: Client, _ token: String, _ credential: [String: any Sendable]) async throws -> Reply {
        try await client.post("/v1/auth/login/passkey/verify", ["challenge_token": token, "credential": credential])
    }

    @Test func aPasskeyAddedThroughTheAPILogsInFromTheChooser() async throws {
        try await TestApp.with { app, client in
            var (seed, passkey) = try await Self.memberWithPasskey(app, client)
            let login = try await client.login(seed.member, client: "dashboard")
            #expect(login.value("challenge", "methods") as? [String] == ["passkey", "email"])
            #expect(try login.string("challenge", "method") == "passkey")
            #expect(try login.string("challenge", "delivery") == "not_sent")

            let options = try await client.post("/v1/auth/login/passkey/options", ["challenge_token": try login.challengeToken()])
            #expect(try options.string("options", "rpId") == "localhost")
            // The login's row keeps only the seed the challenge was derived from, never the challenge.
            let sent = try #require(Base64URL.decode(try options.string("options", "challenge")))
            let seedStored = try await app.sql("SELECT passkey_challenge FROM challenges WHERE user_id = \(seed.member.id) AND state = 'pending'")
                .first?.decode("passkey_challenge", as: Data.self)
            #expect(seedStored != nil && seedStored != Data(sent))
            let allowed = try #require(options.value("options", "allowCredentials") as? [[String: Any]])
            #expect(allowed.map { $0["id"] as? String } == [Base64URL.encode(passkey.credentialID)])
            let credential = try passkey.assert(try #require(options.value("options") as? [String: Any]))
            let verified = try await Self.verify(client, try login.challengeToken(), credential)
            #expect(verified.status == .ok)
            let me = try await client.get("/v1/me", token: try verified.sessionToken())
            #expect(me.value("session", "two_factor_verified") as? Bool == true)
            #expect(me.value("enrollment_only") as? Bool == false)
            let stored = try await app.sql(
                "SELECT sign_count, last_used_at IS NOT NULL AS used FROM user_methods WHERE user_id = \(seed.member.id) AND kind = 'passkey'"
            ).first
            #expect(try stored?.decode("sign_count", as: Int64.self) == 1)
            #expect(try stored?.decode("used", as: Bool.self) == true)
            let method = try await app.sql(
                "SELECT detail->>'method' AS method FROM events WHERE type = 'login.succeeded' AND user_id = \(seed.member.id) AND detail ? 'method'"
            ).first?.decode("method", as: String.self)
            #expect(method == "passkey")
            // The assertion is single use: the WebAuthn challenge and the login are both spent.
            #expect(try await Self.verify(client, try login.challengeToken(), credential).errorCode == "challenge_closed")
        }
    }

    /// Every failed assertion counts like a wrong code: a wrong origin, a cloned authenticator
    /// (recorded), another company's passkey, an assertion without options.
    @Test func failedAssertionsCountAsWrongCodesAndAClonedAuthenticatorIsRecorded() async throws {
        try await TestApp.with { app, client in
            var (seed, passkey) = try await Self.memberWithPasskey(app, client)
            var step = try await Self.passkeyStep(client, seed.member)

            var phished = passkey
            phished.origin = "https://tollgate.example.evil"
            let wrongOrigin = try await Self.verify(client, step.token, try phished.assert(step.options))
            #expect(wrongOrigin.status == .unauthorized)
            #expect(wrongOrigin.errorCode == "invalid_passkey")
            #expect(wrongOrigin.int("error", "attempts_remaining") == 4)
            // The WebAuthn challenge went with it: the same signature again is refused too.
            let noOptions = try await Self.verify(client, step.token, try passkey.assert(step.options))
            #expect(noOptions.int("error", "attempts_remaining") == 3)

            step = (
                step.token,
                try #require(
                    try await client.post("/v1/auth/login/passkey/options", ["challenge_token": step.token]).value("options") as? [String: Any]
                )
            )
            // The original has signed up to 6 by now; a copy of its key still counting from 0 signs 1.
            try await app.sql("UPDATE user_methods SET sign_count = 6 WHERE user_id = \(seed.member.id) AND kind = 'passkey'")
            var clone = passkey
            clone.signCount = 0
            let cloned = try await Self.verify(client, step.token, try clone.assert(step.options))
            #expect(cloned.errorCode == "invalid_passkey")
            #expect(cloned.int("error", "attempts_remaining") == 2)
            let recorded = try await app.sql(
                "SELECT detail->>'received_sign_count' AS received FROM events WHERE type = 'passkey.counter_regression' AND user_id = \(seed.member.id)"
            )
            #expect(try recorded.map { try $0.decode("received", as: String.self) } == ["1"])
            #expect(
                try await LoginMethodTests.count(
                    app,
                    "SELECT count(*) AS n FROM events WHERE type = 'login.code_failed' AND user_id = \(seed.member.id)"
                ) == 3
            )
        }
    }

    @Test func aPasskeyOfOneCompanyIsUselessAtAnotherAndCannotBeRegisteredTwice() async throws {
        try await TestApp.with { app, client in
            var (_, passkey) = try await Self.memberWithPasskey(app, client)
            let other = try await app.seed(name: "Globex", domain: "globex.test")
            let session = try await client.login(other.member, client: "dashboard").sessionToken()
            _ = try await Self.addPasskey(client, other.member, session: session, name: "Other key")
            _ = try await app.enableTwoFactor(other, client: client)
            try await LoginMethodTests.setPolicy(app, other)

            // Acme's passkey answers Globex's member's login: not among that user's passkeys.
            let step = try await Self.passkeyStep(client, other.member)
            let refused = try await Self.verify(client, step.token, try passkey.assert(step.options))
            #expect(refused.errorCode == "invalid_passkey")

            // The same credential registered again, here or at another company: 409.
            let globexSession = try await LoginMethodTests.verify(
                client,
                try await client.login(other.owner, client: "dashboard").challengeToken(),
                try await app.latestCode(for: other.owner.email)
            ).sessionToken()
            let options = try await client.post("/v1/me/methods/passkeys/options", ["password": other.owner.password], token: globexSession)
            var copy = passkey
            let again = try await client.post(
                "/v1/me/methods/passkeys",
                ["name": "Stolen", "credential": try copy.register(try #require(options.value("options") as? [String: Any]))],
                token: globexSession
            )
            #expect(again.status == .conflict)
            #expect(again.errorCode == "passkey_already_registered")
            #expect(try await LoginMethodTests.count(app, "SELECT count(*) AS n FROM user_methods WHERE kind = 'passkey'") == 2)
        }
    }

    @Test func registrationRefusalsNameTheirReasonAndNeedAFreshStart() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let session = try await client.login(seed.member, client: "dashboard").sessionToken()
            // A password session passed no second factor: the options need the password.
            #expect(try await client.post("/v1/me/methods/passkeys/options", token: session).errorCode == "reauthentication_required")

            var phished = TestAuthenticator(origin: "https://phish.example")
            let options = try await client.post("/v1/me/methods/passkeys/options", ["password": seed.member.password], token: session)
            let refused = try await client.post(
                "/v1/me/methods/passkeys",
                ["name": "Phished", "credential": try phished.register(try #require(options.value("options") as? [String: Any]))],
                token: session
            )
            #expect(refused.status == .badRequest)
            #expect(refused.errorCode == "passkey_rejected")
            #expect((refused.value("error", "reason") as? String) == "origin_not_allowed")
            // The registration was used up: a right answer to the same options is refused now.
            var honest = TestAuthenticator(origin: Self.origin)
            let late = try await client.post(
                "/v1/me/methods/passkeys",
                ["name": "Late", "credential": try honest.register(try #require(options.value("options") as? [String: Any]))],
                token: session
            )
            #expect((late.value("error", "reason") as? String) == "no_ceremony")
            #expect(try await LoginMethodTests.count(app, "SELECT count(*) AS n FROM events WHERE type = 'passkey.rejected'") == 1)
            #expect(try await LoginMethodTests.count(app, "SELECT count(*) AS n FROM user_methods") == 0)

            // At 10 passkeys the options refuse.
            for index in 0..<MethodService.maxPasskeys {
                try await app.sql(
                    """
                    INSERT INTO user_methods (company_id, user_id, kind, name, confirmed_at, credential_id, public_key, sign_count, backup_eligible, backup_state)
                    VALUES (\(seed.companyID), \(seed.member.id), 'passkey', \("Key \(index)"), now(), \(SecureRandom.bytes(16)), \(honest.coseKey), 0, false, false)
                    """
                )
            }
            let full = try await client.post("/v1/me/methods/passkeys/options", ["password": seed.member.password], token: session)
            #expect(full.errorCode == "method_limit_reached")
        }
    }

    /// Eight requests carry one valid assertion at once: one session, the others refused.
    @Test func oneAssertionSentConcurrentlyYieldsExactlyOneSession() async throws {
        try await TestApp.with { app, client in
            var (seed, passkey) = try await Self.memberWithPasskey(app, client)
            let step = try await Self.passkeyStep(client, seed.member)
            let (token, credential) = (step.token, try passkey.assert(step.options))
            let replies = try await RaceTests.parallel(8) { _ in try await Self.verify(client, token, credential) }
            #expect(replies.filter { $0.status == .ok }.count == 1)
            #expect(replies.filter { $0.status == .gone }.count == 7)
            let verified: PQQuery = "SELECT count(*) AS n FROM sessions WHERE user_id = \(seed.member.id) AND two_factor_verified"
            #expect(try await LoginMethodTests.count(app, verified) == 1)
        }
    }

    /// `phishing_resistant`: one email login that can only add a passkey, then passkeys only;
    /// a second email login is refused until an owner resets the user's methods.
    @Test func phishingResistantGivesOneEnrollmentLoginThenPasskeysOnly() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let ownerSession = try await app.enableTwoFactor(seed, client: client)
            let patched = try await client.patch(
                "/v1/company/security/policy",
                ["methods": "phishing_resistant", "password": seed.owner.password],
                token: ownerSession
            )
            #expect(patched.status == .ok)
            #expect(patched.int("policy", "users_without_passkey") == 3)

            let login = try await client.login(seed.member, client: "dashboard")
            #expect(login.value("challenge", "methods") as? [String] == ["email"])
            let session = try await LoginMethodTests.verify(client, try login.challengeToken(), try await app.latestCode(for: seed.member.email))
                .sessionToken()
            #expect(try await client.get("/v1/me", token: session).value("enrollment_only") as? Bool == true)
            let elsewhere = try await client.get("/v1/me/methods", token: session)
            #expect(elsewhere.status == .forbidden)
            #expect(elsewhere.errorCode == "passkey_enrollment_required")
            #expect(try await client.get("/v1/me/sessions", token: session).errorCode == "passkey_enrollment_required")

            // A second email login is refused at the password step …
            let again = try await client.login(seed.member, client: "dashboard")
            #expect(again.status == .forbidden)
            #expect(again.errorCode == "passkey_required")

            // … the enrollment session adds a passkey (its code is recent: no password) …
            var passkey = TestAuthenticator(origin: Self.origin)
            let options = try await client.post("/v1/me/methods/passkeys/options", token: session)
            #expect(options.status == .ok)
            let added = try await client.post(
                "/v1/me/methods/passkeys",
                ["name": "Laptop", "credential": try passkey.register(try #require(options.value("options") as? [String: Any]))],
                token: session
            )
            #expect(added.status == .created)

            // … and from then on only the passkey logs in; email is not offered.
            let step = try await Self.passkeyStep(client, seed.member)
            let challenge = try await client.post("/v1/auth/login/challenge", ["challenge_token": step.token])
            #expect(challenge.value("challenge", "methods") as? [String] == ["passkey"])
            #expect(try await client.post("/v1/auth/login/email", ["challenge_token": step.token]).status == .badRequest)
            let full = try await Self.verify(client, step.token, try passkey.assert(step.options))
            #expect(full.status == .ok)
            let fullSession = try full.sessionToken()
            #expect(try await client.get("/v1/me/methods", token: fullSession).status == .ok)
            // The last passkey cannot be removed while the company requires one.
            let methodID = try added.string("method", "id")
            let removal = try await client.request(.delete, "/v1/me/methods/\(methodID)", token: fullSession)
            #expect(removal.errorCode == "last_required_method")

            // Five failed assertions close a login that offers nothing else: no new code to point at.
            let doomed = try await Self.passkeyStep(client, seed.member)
            var phished = passkey
            phished.origin = "https://phish.example"
            for attempt in 1...5 {
                let options = try await client.post("/v1/auth/login/passkey/options", ["challenge_token": doomed.token])
                let failed = try await Self.verify(client, doomed.token, try phished.assert(try #require(options.value("options") as? [String: Any])))
                #expect(failed.errorCode == (attempt < 5 ? "invalid_passkey" : "too_many_attempts"))
                #expect(failed.int("error", "resends_remaining") == 0)
            }
            #expect(try await client.post("/v1/auth/login/passkey/options", ["challenge_token": doomed.token]).errorCode == "challenge_closed")

            // The owner resets the member's methods (password required): one email login again.
            let team = try await client.get("/v1/company/users", token: ownerSession)
            let listed = try #require(team.value("users") as? [[String: Any]])
            #expect(listed.first { $0["email"] as? String == seed.member.email }?["methods"] as? [String] == ["email", "passkey"])
            let path = "/v1/company/users/\(seed.member.id.uuidString.lowercased())/reset-methods"
            #expect(try await client.post(path, [:], token: ownerSession).errorCode == "reauthentication_required")
            let reset = try await client.post(path, ["password": seed.owner.password], token: ownerSession)
            #expect(reset.status == .ok)
            #expect(reset.value("user", "methods") as? [String] == ["email"])
            #expect(try await client.login(seed.member, client: "dashboard").value("challenge", "methods") as? [String] == ["email"])
            // An admin may not reset an owner.
            let adminLogin = try await client.login(seed.admin, client: "dashboard")
            let adminSession = try await LoginMethodTests.verify(
                client,
                try adminLogin.challengeToken(),
                try await app.latestCode(for: seed.admin.email)
            ).sessionToken()
            #expect(try await client.get("/v1/me", token: adminSession).value("enrollment_only") as? Bool == true)
            let ownerPath = "/v1/company/users/\(seed.owner.id.uuidString.lowercased())/reset-methods"
            #expect(
                try await client.post(ownerPath, ["password": seed.admin.password], token: adminSession).errorCode == "passkey_enrollment_required"
            )
        }
    }

    /// A company's dashboard (set through the provisioning API, no redeploy) is its relying
    /// party and one of its origins, and CORS admits it.
    @Test func aCompanysDashboardIsItsRelyingPartyAndCORSAdmitsIt() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            try await app.sql("UPDATE companies SET dashboard_url = 'https://dash.acme.test:8443' WHERE id = \(seed.companyID)")
            let preflight = try await client.request(
                .options,
                "/v1/me/methods/passkeys",
                headers: [.origin: "https://dash.acme.test:8443", .accessControlRequestMethod: "POST"]
            )
            #expect(preflight.status == .noContent)
            #expect(preflight.headers[.accessControlAllowOrigin] == "https://dash.acme.test:8443")
            let stranger = try await client.request(.options, "/v1/me", headers: [.origin: "https://evil.test", .accessControlRequestMethod: "GET"])
            #expect(stranger.headers[.accessControlAllowOrigin] == nil)

            let session = try await client.login(seed.member, client: "dashboard").sessionToken()
            let options = try await client.post("/v1/me/methods/passkeys/options", ["password": seed.member.password], token: session)
            #expect(try options.string("options", "rp", "id") == "dash.acme.test")
            var passkey = TestAuthenticator(origin: "https://dash.acme.test:8443")
            let added = try await client.post(
                "/v1/me/methods/passkeys",
                ["name": "Work", "credential": try passkey.register(try #require(options.value("options") as? [String: Any]))],
                token: session
            )
            #expect(added.status == .created)
        }
    }

    /// Malformed, mistyped and hostile credentials get the error envelope, never a 500; at a
    /// login a well-formed but meaningless one counts as a failed passkey.
    @Test func hostileCredentialsGetTheErrorEnvelope() async throws {
        try await TestApp.with { app, client in
            let (seed, _) = try await Self.memberWithPasskey(app, client)
            let step = try await Self.passkeyStep(client, seed.member)
            let garbage = String(repeating: "A", count: 60_000)
            let bodies: [[String: any Sendable]] = [
                ["credential": "not an object"], ["credential": 42], ["credential": ["id": 1] as [String: any Sendable]],
                [
                    "credential": [
                        "id": "x", "rawId": "x", "type": "public-key", "response": ["clientDataJSON": 5] as [String: any Sendable],
                    ] as [String: any Sendable]
                ],
            ]
            for body in bodies {
                let reply = try await client.post("/v1/auth/login/passkey/verify", body.merging(["challenge_token": step.token]) { $1 })
                #expect(reply.status == .badRequest && reply.errorField != nil, "\(body)")
            }
            let meaningless: [String: any Sendable] = [
                "id": "!!", "rawId": "!!", "type": "public-key",
                "response": ["clientDataJSON": garbage, "authenticatorData": "", "signature": "%%"] as [String: any Sendable],
            ]
            let refused = try await Self.verify(client, step.token, meaningless)
            #expect(refused.status == .unauthorized && refused.errorCode == "invalid_passkey")
            #expect(refused.int("error", "attempts_remaining") == 4)

            let session = try await client.login(seed.phoneOnly, client: "phone_app").sessionToken()
            #expect(
                try await client.post("/v1/me/methods/passkeys", ["name": "x", "credential": meaningless], token: session).errorCode
                    == "dashboard_session_required"
            )
            // A login that offers no passkey has no passkey step.
            let owner = try await client.login(seed.owner, client: "dashboard")
            let noStep = try await client.post("/v1/auth/login/passkey/options", ["challenge_token": try owner.challengeToken()])
            #expect(noStep.status == .badRequest && noStep.errorCode == "invalid_request")
        }
    }
}
