import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PQ
import Synchronization
import TestSupport
import Testing
import TollgateCore
import TollgateHTTP

/// What ends a challenge besides its codes (SPEC §2, issue 22): its absolute lifetime, and
/// the account events after which whoever holds its token must hold nothing — a password
/// changed or reset, a deactivation, a change of role or dashboard access. Against the real
/// router and database.
@Suite struct ChallengeLifecycleTests {
    static func count(_ app: TestApp, _ query: PQQuery) async throws -> Int {
        try await app.sql(query).first?.decode("n", as: Int.self) ?? -1
    }

    /// The close reason of the member's login challenge, and the events that recorded it.
    static func closing(_ app: TestApp, _ user: UUID) async throws -> (reason: String?, events: [String]) {
        let reason = try await app.sql("SELECT close_reason FROM challenges WHERE purpose = 'login' AND user_id = \(user)")
            .first?.decode("close_reason", as: String?.self)
        let events = try await app.sql(
            "SELECT detail->>'reason' AS reason FROM events WHERE type = 'login.challenge_closed' AND user_id = \(user) ORDER BY id"
        ).map { try $0.decode("reason", as: String.self) }
        return (reason, events)
    }

    /// Verify, resend and the poll all answer 410 `challenge_closed` for `token`.
    static func expectClosed(_ client: Client, _ token: String, code: String, _ why: Comment) async throws {
        let verify = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": code])
        #expect(verify.status == .gone && verify.errorCode == "challenge_closed", why)
        let resend = try await client.post("/v1/auth/login/resend", ["challenge_token": token])
        #expect(resend.status == .gone && resend.errorCode == "challenge_closed", why)
        let poll = try await client.post("/v1/auth/login/challenge", ["challenge_token": token])
        #expect(poll.status == .gone && poll.errorCode == "challenge_closed", why)
    }

    /// `account` starts a login; `change` (an operator's SQL, bypassing the API's closing)
    /// takes away what the login is for; then the right code is refused and makes no session.
    static func expectNoSession(_ app: TestApp, _ client: Client, _ account: Seed.Account, after change: PQQuery) async throws {
        let token = try await client.login(account, client: "dashboard").challengeToken()
        let code = try await app.latestCode(for: account.email)
        try await app.sql(change)
        let refused = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": code])
        #expect(refused.status == .gone && refused.errorCode == "challenge_closed")
        #expect(try await count(app, "SELECT count(*) AS n FROM sessions WHERE user_id = \(account.id) AND client = 'dashboard'") == 0)
    }

    /// A login of `account` waiting for its code (token and code), and a reset link it asked for.
    static func pendingLoginAndResetLink(_ app: TestApp, _ client: Client, _ account: Seed.Account) async throws -> (String, String, String) {
        let token = try await client.login(account, client: "dashboard").challengeToken()
        let code = try await app.latestCode(for: account.email)
        #expect(try await client.post("/v1/auth/password/forgot", ["email": account.email]).status == .accepted)
        try await eventually("the reset email") {
            try await count(app, "SELECT count(*) AS n FROM email_outbox WHERE template = 'password_reset'") == 1
        }
        return (token, code, try await PasswordTests.linkToken(app, "reset", to: account.email))
    }

    @Test func aPasswordResetClosesTheOpenChallengeAPhisherHolds() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let (phished, code, link) = try await Self.pendingLoginAndResetLink(app, client, seed.member)
            #expect(try await client.post("/v1/auth/password/reset", ["token": link, "new_password": "brand-new-passphrase-7"]).status == .noContent)
            try await Self.expectClosed(client, phished, code: code, "after the reset")
            let closed = try await Self.closing(app, seed.member.id)
            #expect(closed.reason == "password_reset" && closed.events == ["password_reset"])
        }
    }

    @Test func aPasswordChangeClosesOpenChallengesAndVoidsResetLinks() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let (pending, code, link) = try await Self.pendingLoginAndResetLink(app, client, seed.member)
            let phone = try await client.login(seed.member, client: "phone_app").sessionToken()
            let changed = try await client.post(
                "/v1/account/password",
                ["current_password": seed.member.password, "new_password": "a-fresh-passphrase-1"],
                token: phone
            )
            #expect(changed.status == .noContent)
            try await Self.expectClosed(client, pending, code: code, "after the change")
            #expect(try await Self.closing(app, seed.member.id).reason == "password_changed")
            // A reset link asked for before the change is void: whoever asked for it is done.
            let stale = try await client.post("/v1/auth/password/reset", ["token": link, "new_password": "another-passphrase-8"])
            #expect(stale.status == .gone && stale.errorCode == "token_invalid")
        }
    }

    @Test func deactivationClosesOpenChallengesAndAnInactiveUserGetsNoSession() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let key = try await AdminAPITests.key(app)
            let pending = try await client.login(seed.member, client: "dashboard").challengeToken()
            let code = try await app.latestCode(for: seed.member.email)
            #expect(try await client.post("/v1/admin/users/\(seed.member.id)/deactivate", token: key).status == .ok)
            try await Self.expectClosed(client, pending, code: code, "after deactivation")
            #expect(try await Self.closing(app, seed.member.id).reason == "deactivated")
            // Reactivated, no session made while deactivated comes alive.
            #expect(try await client.post("/v1/admin/users/\(seed.member.id)/reactivate", token: key).status == .ok)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM sessions WHERE user_id = \(seed.member.id) AND revoked_at IS NULL") == 0)

            // Deactivated by any other means (an operator's UPDATE): verify still refuses.
            try await Self.expectNoSession(app, client, seed.admin, after: "UPDATE users SET active = false WHERE id = \(seed.admin.id)")
        }
    }

    @Test func losingDashboardAccessOrChangingRoleClosesOpenChallenges() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let key = try await AdminAPITests.key(app)
            let pending = try await client.login(seed.member, client: "dashboard").challengeToken()
            let code = try await app.latestCode(for: seed.member.email)
            // A change of name alone closes nothing.
            #expect(try await client.patch("/v1/admin/users/\(seed.member.id)", ["name": "Renamed"], token: key).status == .ok)
            #expect(try await client.post("/v1/auth/login/challenge", ["challenge_token": pending]).status == .ok)
            #expect(try await client.patch("/v1/admin/users/\(seed.member.id)", ["dashboard_access": false], token: key).status == .ok)
            try await Self.expectClosed(client, pending, code: code, "after losing dashboard access")
            #expect(try await Self.closing(app, seed.member.id).reason == "access_changed")

            // An admin demoted to a member without dashboard access.
            let adminPending = try await client.login(seed.admin, client: "dashboard").challengeToken()
            let adminCode = try await app.latestCode(for: seed.admin.email)
            #expect(try await client.patch("/v1/admin/users/\(seed.admin.id)", ["role": "member"], token: key).status == .ok)
            try await Self.expectClosed(client, adminPending, code: adminCode, "after the demotion")
            #expect(try await Self.closing(app, seed.admin.id).reason == "access_changed")

            // Access lost by any other means: verify refuses without a session.
            #expect(try await client.patch("/v1/admin/users/\(seed.member.id)", ["dashboard_access": true], token: key).status == .ok)
            try await Self.expectNoSession(app, client, seed.member, after: "UPDATE users SET dashboard_access = false WHERE id = \(seed.member.id)")
        }
    }

    @Test func aChallengeEndsAnHourAfterItBeganWhateverResendsItHasLeft() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            let code = try await app.latestCode(for: seed.member.email)
            let lifetime = try await app.sql(
                "SELECT extract(epoch FROM lifetime_ends_at - created_at)::integer AS n FROM challenges WHERE user_id = \(seed.member.id)"
            ).first?.decode("n", as: Int.self)
            #expect(lifetime == 3600)
            // An hour later (arranged, not slept): its code is live and 3 resends are left.
            try await app.sql(
                """
                UPDATE challenges SET lifetime_ends_at = now() - interval '1 second', created_at = now() - interval '1 hour',
                    last_sent_at = now() - interval '1 hour'
                WHERE user_id = \(seed.member.id)
                """
            )
            try await Self.expectClosed(client, token, code: code, "past the lifetime")
            #expect(try await Self.closing(app, seed.member.id).reason == "lifetime_over")
            let codes = try await Self.count(
                app,
                "SELECT count(*) AS n FROM email_outbox WHERE recipient = \(seed.member.email) AND template = 'login_code'"
            )
            #expect(codes == 1, "no new code after the lifetime")
        }
    }

    @Test func theLifetimeIsConfigurable() throws {
        func settings(_ lifetime: String) throws -> DomainSettings {
            try DomainSettings(
                environment: EnvironmentReader(["CHALLENGE_LIFETIME": lifetime]),
                requireSecret: false,
                serverURL: "http://127.0.0.1:8080"
            )
        }
        #expect(try settings("1800").codes.lifetime == 1800)
        #expect(throws: ConfigurationError.self) { try settings("5") }
    }

    /// "This wasn't me" after the code was entered (a 500 before): the session the challenge
    /// produced ends, the report is recorded, and the owners are told.
    @Test func thisWasntMeAfterTheCodeWasEnteredEndsTheSessionItMade() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            let report = try await PasswordTests.linkToken(app, "not-me", to: seed.member.email)
            let verified = try await client.post(
                "/v1/auth/login/verify",
                ["challenge_token": token, "code": try await app.latestCode(for: seed.member.email)]
            )
            let session = try verified.sessionToken()
            let other = try await client.login(seed.member, client: "phone_app").sessionToken()
            let reported = try await client.post("/v1/auth/not-me", ["token": report])
            #expect(reported.status == .noContent)
            #expect(try await client.get("/v1/me", token: session).status == .unauthorized, "the session the code opened is ended")
            #expect(try await client.get("/v1/me", token: other).status == .ok, "other sessions are the user's to end")
            let revoked = try await app.sql("SELECT detail->>'reason' AS reason FROM events WHERE type = 'session.revoked'")
            #expect(try revoked.map { try $0.decode("reason", as: String.self) } == ["reported"])
            let logged = try await app.sql("SELECT detail->>'sessions_ended' AS n FROM events WHERE type = 'login.reported'")
            #expect(try logged.first?.decode("n", as: String.self) == "1")
            let owners = try await app.sql(
                "SELECT body_text FROM email_outbox WHERE template = 'login_reported' AND recipient = \(seed.owner.email)"
            )
            #expect(try owners.first?.decode("body_text", as: String.self).contains("the session it opened has been ended") == true)
            let twice = try await client.post("/v1/auth/not-me", ["token": report])
            #expect(twice.status == .gone && twice.errorCode == "token_invalid")
        }
    }

    /// After `TOLLGATE_SECRET` is rotated, the link in a code email sent with the new secret
    /// first reports the challenge begun under the old one.
    @Test func thisWasntMeWorksAcrossASecretRotation() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            try await app.sql("UPDATE challenges SET last_sent_at = now() - interval '1 minute' WHERE user_id = \(seed.member.id)")
            // The same database, served with a new first secret and the old one after it.
            var rotated = app.configuration
            rotated.domain.secrets = [Array("rotated-secret-rotated-secret-rotated-99".utf8)] + app.configuration.domain.secrets
            let router = try buildRouter(http: rotated.http, domain: rotated.domain, pool: app.api, logger: TestPostgres.logger)
            try await Application(router: router, logger: TestPostgres.logger).test(.router) { raw in
                let after = Client(client: raw)
                #expect(try await after.post("/v1/auth/login/resend", ["challenge_token": token]).status == .accepted)
                let link = try await PasswordTests.linkToken(app, "not-me", to: seed.member.email)
                let reported = try await after.post("/v1/auth/not-me", ["token": link])
                #expect(reported.status == .noContent)
            }
            #expect(try await Self.closing(app, seed.member.id).reason == "reported")
        }
    }

    /// A login whose password was being hashed while the account was deactivated gets
    /// nothing: the session's transaction re-reads the account under a lock.
    @Test func aLoginInFlightDoesNotOutliveADeactivation() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let (locked, lockTaken) = AsyncStream.makeStream(of: Void.self)
            let login = Mutex<Task<Reply, any Error>?>(nil)
            // Holds the company's row while the login hashes and then queues on it; the
            // deactivation commits with the lock's release.
            let holder = Task {
                try await app.owner.withTransaction { tx -> Bool in
                    defer { lockTaken.finish() }
                    try tx.query("SELECT 1 FROM companies WHERE id = \(seed.companyID) FOR UPDATE")
                    lockTaken.yield()
                    let waited = try tx.anotherSessionWaitsForALock(within: .seconds(60))
                    try tx.query("UPDATE users SET active = false WHERE id = \(seed.member.id)")
                    return waited
                }
            }
            for await _ in locked { break }
            login.withLock { $0 = Task { try await client.login(seed.member, client: "phone_app") } }
            #expect(try await holder.value, "the login queued on the company's lock")
            let answer = try await #require(login.withLock { $0 }).value
            #expect(answer.status == .unauthorized && answer.errorCode == "invalid_credentials")
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM sessions WHERE user_id = \(seed.member.id)") == 0)
        }
    }

    /// A wrong code whose transaction fails at COMMIT (injected: a deferred trigger that
    /// raises a serialization failure) is still counted, in a transaction of its own.
    @Test func aComparedCodeCountsEvenWhenItsCommitFails() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            try await app.sql(
                """
                CREATE FUNCTION test_fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '40001'; END $$
                """
            )
            try await app.sql(
                """
                CREATE CONSTRAINT TRIGGER test_fail_commit AFTER INSERT ON events DEFERRABLE INITIALLY DEFERRED
                FOR EACH ROW WHEN (NEW.type = 'login.code_failed') EXECUTE FUNCTION test_fail_commit()
                """
            )
            let failed = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": "000000"])
            #expect(failed.status == .serviceUnavailable && failed.errorCode == "unavailable")
            let row = try #require(try await app.sql("SELECT attempts, wrong_total FROM challenges WHERE user_id = \(seed.member.id)").first)
            #expect(try row.decode("attempts", as: Int.self) == 1, "the compared entry was counted")
            #expect(try row.decode("wrong_total", as: Int.self) == 1)
            let hourly = try await Self.count(app, "SELECT count AS n FROM rate_limits WHERE key = \("wrong_codes:\(seed.member.id)")")
            #expect(hourly == 1, "and against the account's hourly limit")
            try await app.sql("DROP TRIGGER test_fail_commit ON events")
            let next = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": "000000"])
            #expect(next.errorCode == "invalid_code" && next.int("error", "attempts_remaining") == 3)
        }
    }

    /// The close reasons the code knows are exactly the ones the table accepts.
    @Test(.postgres) func closeReasonsAreExactlyTheTablesValues() async throws {
        let pool = try TestDatabase.current.pool(role: nil, maxConnections: 1)
        let definition =
            try await pool.query(
                "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = 'challenges_close_reason_check'"
            ).first?.decode("def", as: String.self) ?? ""
        let quoted = try Regex("'([a-z_]+)'")
        let stored = Set(definition.matches(of: quoted).map { String($0.output[1].substring ?? "") })
        #expect(stored == Set(Challenge.CloseReason.allCases.map(\.rawValue)))
    }
}
