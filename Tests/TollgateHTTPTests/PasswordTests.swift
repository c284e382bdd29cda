import Foundation
import HTTPTypes
import PQ
import TestSupport
import Testing
import TollgateCore
import TollgateHTTP

/// Passwords people can run and "this wasn't me" (SPEC §10), against the real router and
/// database, reading the links from the queued emails as their readers would.
@Suite struct PasswordTests {
    /// The token of the newest link of `kind` ("reset" or "not-me") mailed to `recipient`.
    static func linkToken(_ app: TestApp, _ kind: String, to recipient: String) async throws -> String {
        let rows = try await app.sql(
            "SELECT body_text FROM email_outbox WHERE recipient = \(recipient) AND body_text LIKE \("%/\(kind)#token=%") ORDER BY created_at DESC LIMIT 1"
        )
        let text = try #require(try rows.first?.decode("body_text", as: String.self), "no \(kind) link mailed to \(recipient)")
        let start = try #require(text.range(of: "/\(kind)#token="))
        return String(text[start.upperBound...].prefix { !$0.isWhitespace })
    }

    static func count(_ app: TestApp, _ query: PQQuery) async throws -> Int {
        try await app.sql(query).first?.decode("n", as: Int.self) ?? -1
    }

    @Test func changingThePasswordNeedsTheCurrentOneAndEndsOtherSessions() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let here = try await client.login(seed.admin, client: "dashboard").sessionToken()
            let elsewhere = try await client.login(seed.admin, client: "phone_app").sessionToken()
            let path = "/v1/account/password"

            let wrong = try await client.post(path, ["current_password": "not-it", "new_password": "a-fresh-passphrase-1"], token: here)
            #expect(wrong.status == .forbidden && wrong.errorCode == "reauthentication_required")
            for (weak, why) in [
                ("short", "too short"), ("password123", "common"), ("iloveyou", "common"), (String(repeating: "x", count: 129), "too long"),
            ] {
                let refused = try await client.post(path, ["current_password": seed.admin.password, "new_password": weak], token: here)
                #expect(refused.status == .badRequest, "\(why)")
                #expect(refused.errorCode == "password_rejected" && refused.errorField == "new_password", "\(why)")
            }
            let changed = try await client.post(path, ["current_password": seed.admin.password, "new_password": "a-fresh-passphrase-1"], token: here)
            #expect(changed.status == .noContent)
            #expect(try await client.get("/v1/me", token: here).status == .ok, "the session it was made in stays")
            #expect(try await client.get("/v1/me", token: elsewhere).status == .unauthorized, "every other session ends")
            #expect(try await client.login(seed.admin, client: "dashboard").status == .unauthorized)
            let renewed = Seed.Account(id: seed.admin.id, email: seed.admin.email, password: "a-fresh-passphrase-1")
            #expect(try await client.login(renewed, client: "dashboard").status == .ok)
            #expect(
                try await Self.count(
                    app,
                    "SELECT count(*) AS n FROM email_outbox WHERE template = 'password_changed' AND recipient = \(seed.admin.email)"
                ) == 1
            )
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM events WHERE type = 'password.changed'") == 1)
        }
    }

    /// "Forgot password" answers alike for every address; only a real one gets a link.
    @Test func forgotPasswordAnswersAlikeForUnknownAddresses() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let known = try await client.post("/v1/auth/password/forgot", ["email": seed.member.email])
            let unknown = try await client.post("/v1/auth/password/forgot", ["email": "nobody@acme.test"])
            let malformed = try await client.post("/v1/auth/password/forgot", ["email": "not an address"])
            for reply in [known, unknown, malformed] {
                #expect(reply.status == .accepted)
                #expect(reply.body == known.body)
                #expect(reply.headers[.contentType] == known.headers[.contentType])
            }
            try await eventually("the reset email") {
                try await Self.count(app, "SELECT count(*) AS n FROM email_outbox WHERE template = 'password_reset'") == 1
            }
            #expect(
                try await Self.count(
                    app,
                    "SELECT count(*) AS n FROM email_outbox WHERE recipient = \(seed.member.email) AND template = 'password_reset'"
                ) == 1
            )
            // Only a keyed hash of the token is stored.
            let token = try await Self.linkToken(app, "reset", to: seed.member.email)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM password_resets WHERE token_hash = \(BearerToken.hash(token))") == 0)
            #expect(
                try await Self.count(app, "SELECT count(*) AS n FROM password_resets WHERE encode(token_hash, 'escape') LIKE \("%" + token + "%")")
                    == 0
            )
        }
    }

    @Test func aResetLinkWorksOnceEndsEverySessionAndNeverLogsIn() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let phone = try await client.login(seed.member, client: "phone_app").sessionToken()
            #expect(try await client.post("/v1/auth/password/forgot", ["email": seed.member.email]).status == .accepted)
            try await eventually("the reset email") {
                try await Self.count(app, "SELECT count(*) AS n FROM email_outbox WHERE template = 'password_reset'") == 1
            }
            let token = try await Self.linkToken(app, "reset", to: seed.member.email)
            let weak = try await client.post("/v1/auth/password/reset", ["token": token, "new_password": "password"])
            #expect(weak.errorCode == "password_rejected" && weak.errorField == "new_password")
            let reset = try await client.post("/v1/auth/password/reset", ["token": token, "new_password": "brand-new-passphrase-7"])
            #expect(reset.status == .noContent)
            #expect(reset.body.isEmpty, "a reset answers no session")
            #expect(try await client.get("/v1/me", token: phone).status == .unauthorized)
            let again = try await client.post("/v1/auth/password/reset", ["token": token, "new_password": "another-passphrase-8"])
            #expect(again.status == .gone && again.errorCode == "token_invalid")
            // 2FA is on: the new password still leads to a code, not a session.
            let renewed = Seed.Account(id: seed.member.id, email: seed.member.email, password: "brand-new-passphrase-7")
            #expect(try await client.login(renewed, client: "dashboard").status == .accepted)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM events WHERE type = 'password.reset'") == 1)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM email_outbox WHERE template = 'password_changed'") == 1)
            for bogus in ["", "x", String(repeating: "A", count: 64), token.replacingOccurrences(of: "A", with: "B")] {
                let refused = try await client.post("/v1/auth/password/reset", ["token": bogus, "new_password": "brand-new-passphrase-9"])
                #expect(refused.status == .gone && refused.errorCode == "token_invalid", "\(bogus.prefix(8))")
            }
        }
    }

    /// Twenty resets racing with one token: exactly one sets the password.
    @Test func aResetTokenIsUsedOnceUnderTwentyConcurrentResets() async throws {
        try await TestApp.with({ $0.http.maxConcurrentHashes = 8 }) { app, client in
            let seed = try await app.seed()
            #expect(try await client.post("/v1/auth/password/forgot", ["email": seed.owner.email]).status == .accepted)
            try await eventually("the reset email") {
                try await Self.count(app, "SELECT count(*) AS n FROM email_outbox WHERE template = 'password_reset'") == 1
            }
            let token = try await Self.linkToken(app, "reset", to: seed.owner.email)
            let replies = try await RaceTests.parallel(20) { index in
                try await client.post("/v1/auth/password/reset", ["token": token, "new_password": "racing-passphrase-\(index)"])
            }
            #expect(replies.filter { $0.status == .noContent }.count == 1)
            #expect(replies.filter { $0.status == .gone }.count == 19, "\(replies.map(\.status.code))")
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM events WHERE type = 'password.reset'") == 1)
        }
    }

    @Test func resetLinksExpireAndAreLimitedToThreeAnHour() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            for _ in 0..<5 {
                #expect(try await client.post("/v1/auth/password/forgot", ["email": seed.admin.email]).status == .accepted)
            }
            try await eventually("three reset emails and two refusals counted") {
                let mailed = try await Self.count(app, "SELECT count(*) AS n FROM email_outbox WHERE template = 'password_reset'")
                let refused = try await Self.count(app, "SELECT count(*) AS n FROM rate_limits WHERE key LIKE 'password_resets:%' AND refused = 2")
                return mailed == 3 && refused == 1
            }
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM events WHERE type = 'password.rate_limited'") == 1)
            let token = try await Self.linkToken(app, "reset", to: seed.admin.email)
            try await app.sql("UPDATE password_resets SET expires_at = now() - interval '1 second'")
            let late = try await client.post("/v1/auth/password/reset", ["token": token, "new_password": "too-late-passphrase-1"])
            #expect(late.status == .gone && late.errorCode == "token_invalid")
        }
    }

    @Test func thisWasntMeClosesTheChallengeRecordsItAndTellsTheOwners() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let challenge = try await client.login(
                seed.member,
                client: "dashboard",
                headers: [.userAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"]
            )
            .challengeToken()
            let token = try await Self.linkToken(app, "not-me", to: seed.member.email)
            // The link alone changes nothing: the page asks for a click, which POSTs.
            #expect(try await client.post("/v1/auth/login/challenge", ["challenge_token": challenge]).status == .ok)
            #expect(try await client.post("/v1/auth/not-me", ["token": token]).status == .noContent)
            let verify = try await client.post(
                "/v1/auth/login/verify",
                ["challenge_token": challenge, "code": try await app.latestCode(for: seed.member.email)]
            )
            #expect(verify.status == .gone && verify.errorCode == "challenge_closed")
            let closed = try await app.sql("SELECT close_reason FROM challenges WHERE purpose = 'login' AND user_id = \(seed.member.id)")
            #expect(try closed.first?.decode("close_reason", as: String?.self) == "reported")
            let events = try await app.sql("SELECT user_agent, ip FROM events WHERE type = 'login.reported'")
            #expect(events.count == 1)
            #expect(try events.first?.decode("user_agent", as: String?.self)?.contains("Firefox/120.0") == true)
            let mailed = try await app.sql("SELECT recipient FROM email_outbox WHERE template = 'login_reported' ORDER BY recipient")
            #expect(try mailed.map { try $0.decode("recipient", as: String.self) } == [seed.member.email, seed.owner.email])
            let twice = try await client.post("/v1/auth/not-me", ["token": token])
            #expect(twice.status == .gone && twice.errorCode == "token_invalid")
            #expect(try await client.post("/v1/auth/not-me", ["token": "made-up"]).errorCode == "token_invalid")
        }
    }
}
