import Foundation
import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import PQ
import TestSupport
import Testing
import TollgateHTTP

@testable import TollgateCore

/// "Where you're logged in" and remembered browsers (SPEC §14), against the real router and
/// database: what a user sees of its own sessions, ending them, an owner ending the whole
/// company's, `last_used_at` kept to the minute, and every way a remembered browser ends.
@Suite struct SessionListTests {
    static let firefox: HTTPFields = [.userAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"]

    static func count(_ app: TestApp, _ query: PQQuery) async throws -> Int {
        try await app.sql(query).first?.decode("n", as: Int.self) ?? -1
    }

    /// Remembers a browser for `account` through the store the login calls (until the login
    /// issues them itself).
    static func remember(_ app: TestApp, _ account: Seed.Account, companyID: UUID, days: Int = 30) async throws -> RememberedBrowserGrant {
        let mac = SecretMAC(secrets: app.configuration.domain.secrets)
        return try await app.api.withTenant(companyID) { tx in
            let user = try UserStore.find(account.id, activeOnly: true, in: tx).orThrow()
            let now: Date = try tx.query("SELECT now() AS now").first.orThrow().decode("now")
            let info = ClientInfo(ip: "198.51.100.7", userAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Version/17.5 Safari/605.1.15")
            return RememberedBrowsers.remember(user: user, days: days, databaseNow: now, clientInfo: info, mac: mac, in: tx)
        }
    }

    /// Whether a login with this token would skip the second step, as the store holds it: a
    /// live row under one of the token's MACs. (The HTTP variant is in the disabled test below.)
    static func works(_ app: TestApp, _ token: String) async throws -> Bool {
        let candidates = SecretMAC(secrets: app.configuration.domain.secrets).tokenCandidates(token)
        return try await count(
            app,
            """
            SELECT count(*) AS n FROM remembered_browsers
            WHERE token_hash = ANY(\(PQByteaArray(candidates))) AND revoked_at IS NULL AND expires_at > now()
            """
        ) == 1
    }

    static func sessions(_ reply: Reply) -> [[String: Any]] { reply.json["sessions"] as? [[String: Any]] ?? [] }
    static func browsers(_ reply: Reply) -> [[String: Any]] { reply.json["remembered_browsers"] as? [[String: Any]] ?? [] }

    // MARK: Listing

    @Test func theListShowsOnlyTheCallersLiveSessionsAndMarksTheCurrentOne() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let here = try await client.login(seed.owner, client: "dashboard", headers: Self.firefox).sessionToken()
            _ = try await client.login(seed.owner, client: "phone_app").sessionToken()
            let gone = try await client.login(seed.owner, client: "dashboard").sessionToken()
            #expect(try await client.post("/v1/auth/logout", token: gone).status == .noContent)
            try await app.sql(
                "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE client = 'phone_app' AND user_id = \(seed.owner.id)"
            )
            let phone = try await client.login(seed.owner, client: "phone_app").sessionToken()
            _ = try await client.login(seed.admin, client: "dashboard").sessionToken()
            let other = try await app.seed(name: "Globex", domain: "globex.test")
            _ = try await client.login(other.owner, client: "dashboard").sessionToken()
            let browser = try await Self.remember(app, seed.owner, companyID: seed.companyID)
            _ = try await Self.remember(app, seed.admin, companyID: seed.companyID)

            let listed = try await client.get("/v1/me/sessions", token: here)
            #expect(listed.status == .ok)
            let sessions = Self.sessions(listed)
            #expect(sessions.count == 2, "the live dashboard session and the newer phone session; not the ended, expired or others'")
            let current = try #require(sessions.first)
            #expect(current["current"] as? Bool == true && current["client"] as? String == "dashboard")
            #expect(current["browser"] as? String == "Firefox 128 on Linux")
            #expect(current["ip"] as? String != nil && current["created_at"] as? String != nil && current["last_used_at"] as? String != nil)
            #expect(current["two_factor_verified"] as? Bool == false, "2FA is off for this company")
            #expect(sessions.filter { $0["current"] as? Bool == true }.count == 1)
            #expect(sessions[1]["client"] as? String == "phone_app" && sessions[1]["browser"] as? String == "unknown browser")
            let browsers = Self.browsers(listed)
            #expect(browsers.count == 1)
            #expect(browsers.first?["id"] as? String == browser.id.uuidString.lowercased())
            #expect(browsers.first?["browser"] as? String == "Safari 17 on macOS")
            #expect(browsers.first?["last_used_at"] is NSNull, "never used yet")
            #expect(browsers.first?["expires_at"] as? String != nil)
            #expect(!String(decoding: listed.body, as: UTF8.self).contains(browser.token))

            // A phone-app session sees the same list, itself marked current (SPEC §14: every user).
            let fromPhone = Self.sessions(try await client.get("/v1/me/sessions", token: phone))
            #expect(fromPhone.count == 2 && fromPhone.first?["client"] as? String == "phone_app" && fromPhone.first?["current"] as? Bool == true)
            #expect(fromPhone.first?["two_factor_verified"] as? Bool == false)
            #expect(try await client.get("/v1/me/sessions").status == .unauthorized)
        }
    }

    /// A user without dashboard access has only phone-app sessions, and sees and ends them.
    @Test func aPhoneOnlyUserListsAndEndsItsSessions() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let here = try await client.login(seed.phoneOnly, client: "phone_app").sessionToken()
            let lost = try await client.login(seed.phoneOnly, client: "phone_app").sessionToken()
            let listed = Self.sessions(try await client.get("/v1/me/sessions", token: here))
            #expect(listed.count == 2 && listed.allSatisfy { $0["client"] as? String == "phone_app" })
            #expect(try await client.post("/v1/me/sessions/end-others", token: here).int("ended") == 1)
            #expect(try await client.get("/v1/me", token: lost).status == .unauthorized)
            let refused = try await client.post("/v1/company/security/end-all-sessions", ["password": seed.phoneOnly.password], token: here)
            #expect(refused.status == .forbidden && refused.errorCode == "dashboard_session_required")
        }
    }

    /// What the new requests cost in round trips, counted by the API pool: the authentication's
    /// one, then one to read (both lists in one pipeline), or two to lock (or change) and to
    /// commit with the event. Rare requests, so these are today's counts, not a goal.
    @Test func theNewRequestsStayWithinTheirRoundTripBudgets() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let here = try await client.login(seed.member, client: "dashboard").sessionToken()
            for _ in 0..<3 { _ = try await client.login(seed.member, client: "phone_app") }
            _ = try await Self.remember(app, seed.member, companyID: seed.companyID)
            let (listed, listTrips) = try await RoundTripTests.cost(app) { try await client.get("/v1/me/sessions", token: here) }
            let other = try #require(Self.sessions(listed).last?["id"] as? String)
            let browser = try #require(Self.browsers(listed).first?["id"] as? String)
            let (_, endTrips) = try await RoundTripTests.cost(app) { try await client.request(.delete, "/v1/me/sessions/\(other)", token: here) }
            let (ended, othersTrips) = try await RoundTripTests.cost(app) { try await client.post("/v1/me/sessions/end-others", token: here) }
            #expect(ended.int("ended") == 2)
            let (_, forgetTrips) = try await RoundTripTests.cost(app) {
                try await client.request(.delete, "/v1/me/remembered-browsers/\(browser)", token: here)
            }
            print("session list round trips: list \(listTrips), end one \(endTrips), end others \(othersTrips), forget \(forgetTrips)")
            #expect(listTrips <= 2)
            #expect(endTrips <= 3)
            #expect(othersTrips <= 3)
            #expect(forgetTrips <= 3)
        }
    }

    // MARK: Ending one, ending the others

    @Test func endingAnotherUsersOrCompanysSessionIsNotFoundAndChangesNothing() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let here = try await client.login(seed.member, client: "dashboard").sessionToken()
            let admin = try await client.login(seed.admin, client: "dashboard").sessionToken()
            let other = try await app.seed(name: "Globex", domain: "globex.test")
            let foreign = try await client.login(other.owner, client: "dashboard").sessionToken()
            let ids = try await app.sql("SELECT id, user_id FROM sessions").map {
                (try $0.decode("id", as: UUID.self), try $0.decode("user_id", as: UUID.self))
            }
            let adminSession = try #require(ids.first { $0.1 == seed.admin.id }?.0)
            let foreignSession = try #require(ids.first { $0.1 == other.owner.id }?.0)
            for id in [adminSession.uuidString, foreignSession.uuidString, UUID().uuidString, "not-a-uuid", "1"] {
                let refused = try await client.request(.delete, "/v1/me/sessions/\(id)", token: here)
                #expect(refused.status == .notFound && refused.errorCode == "not_found", "\(id)")
            }
            #expect(try await client.get("/v1/me", token: admin).status == .ok)
            #expect(try await client.get("/v1/me", token: foreign).status == .ok)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM sessions WHERE revoked_at IS NOT NULL") == 0)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM events WHERE type = 'session.revoked'") == 0)
            // The same for remembered browsers.
            let adminBrowser = try await Self.remember(app, seed.admin, companyID: seed.companyID)
            for id in [adminBrowser.id.uuidString, UUID().uuidString, "x"] {
                let refused = try await client.request(.delete, "/v1/me/remembered-browsers/\(id)", token: here)
                #expect(refused.status == .notFound && refused.errorCode == "not_found", "\(id)")
            }
            #expect(try await Self.works(app, adminBrowser.token))
        }
    }

    @Test func aUserEndsOneSessionOrAllOthersAndKeepsTheCurrentOne() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let here = try await client.login(seed.admin, client: "dashboard").sessionToken()
            var others: [String] = []
            for _ in 0..<3 { others.append(try await client.login(seed.admin, client: "phone_app").sessionToken()) }
            let colleague = try await client.login(seed.member, client: "dashboard").sessionToken()

            let listed = Self.sessions(try await client.get("/v1/me/sessions", token: others[0]))
            let first = try #require(listed.first { $0["current"] as? Bool == true }?["id"] as? String)
            let ended = try await client.request(.delete, "/v1/me/sessions/\(first)", token: here)
            #expect(ended.status == .noContent)
            #expect(try await client.get("/v1/me", token: others[0]).status == .unauthorized)
            #expect(try await client.request(.delete, "/v1/me/sessions/\(first)", token: here).status == .notFound, "ended already")

            let rest = try await client.post("/v1/me/sessions/end-others", token: here)
            #expect(rest.status == .ok && rest.int("ended") == 2)
            for token in others { #expect(try await client.get("/v1/me", token: token).status == .unauthorized) }
            #expect(try await client.get("/v1/me", token: here).status == .ok, "the current session stays")
            #expect(try await client.get("/v1/me", token: colleague).status == .ok, "another user's stays")
            #expect(try await client.post("/v1/me/sessions/end-others", token: here).int("ended") == 0)
            #expect(Self.sessions(try await client.get("/v1/me/sessions", token: here)).count == 1)
            let reasons = try await app.sql(
                "SELECT detail->>'reason' AS reason, count(*) AS n FROM events WHERE type = 'session.revoked' AND user_id = \(seed.admin.id) GROUP BY 1"
            ).map { "\(try $0.decode("reason", as: String.self)) \(try $0.decode("n", as: Int.self))" }
            #expect(reasons == ["ended_by_user 3"])
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM sessions WHERE revoked_reason = 'ended_by_user'") == 3)

            // Ending the current session is a logout.
            let me = try #require(Self.sessions(try await client.get("/v1/me/sessions", token: here)).first?["id"] as? String)
            #expect(try await client.request(.delete, "/v1/me/sessions/\(me)", token: here).status == .noContent)
            #expect(try await client.get("/v1/me", token: here).status == .unauthorized)
        }
    }

    /// Twenty requests at once on one user's twenty sessions, each ending all the others or one
    /// other: no 500, every session is ended once, and the answers add up to what was ended.
    @Test func concurrentEndingsAddUp() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            var tokens: [String] = []
            for _ in 0..<20 { tokens.append(try await client.login(seed.member, client: "phone_app").sessionToken()) }
            let ids = try await app.sql("SELECT id FROM sessions WHERE user_id = \(seed.member.id) ORDER BY created_at").map {
                try $0.decode("id", as: UUID.self).uuidString.lowercased()
            }
            #expect(ids.count == 20)
            let answers = try await withThrowingTaskGroup(of: (HTTPResponse.Status, Int).self) { group in
                for (index, token) in tokens.enumerated() {
                    group.addTask {
                        if index.isMultiple(of: 2) {
                            let reply = try await client.post("/v1/me/sessions/end-others", token: token)
                            return (reply.status, reply.int("ended") ?? 0)
                        }
                        let reply = try await client.request(.delete, "/v1/me/sessions/\(ids[(index + 7) % 20])", token: token)
                        return (reply.status, reply.status == .noContent ? 1 : 0)
                    }
                }
                var all: [(HTTPResponse.Status, Int)] = []
                for try await answer in group { all.append(answer) }
                return all
            }
            #expect(answers.allSatisfy { [.ok, .noContent, .unauthorized, .notFound].contains($0.0) }, "\(answers.map(\.0))")
            let revoked = try await Self.count(app, "SELECT count(*) AS n FROM sessions WHERE revoked_at IS NOT NULL")
            #expect(answers.map(\.1).reduce(0, +) == revoked)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM events WHERE type = 'session.revoked'") == revoked)
            #expect(
                try await Self.count(app, "SELECT count(DISTINCT detail->>'session_id') AS n FROM events WHERE type = 'session.revoked'") == revoked
            )
            // The last request to succeed kept its own session.
            #expect(revoked < 20 && answers.contains { $0.0 == .ok || $0.0 == .noContent })
        }
    }

    // MARK: The owner's "end every session"

    @Test func anOwnerEndsEverySessionOfTheCompanyAndNoOtherCompanys() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let provisioning = Provisioning(pool: app.owner, hasher: PasswordHasher(concurrency: 1))
            _ = try await provisioning.addUser(
                companyID: seed.companyID,
                email: "second-owner@acme.test",
                password: "second-owner-password-1",
                role: .owner,
                dashboardAccess: true,
                name: "Second"
            )
            let owner = try await client.login(seed.owner, client: "dashboard").sessionToken()
            let ownerPhone = try await client.login(seed.owner, client: "phone_app").sessionToken()
            let admin = try await client.login(seed.admin, client: "dashboard").sessionToken()
            let member = try await client.login(seed.member, client: "dashboard").sessionToken()
            let phoneOnly = try await client.login(seed.phoneOnly, client: "phone_app").sessionToken()
            let browsers = [
                try await Self.remember(app, seed.owner, companyID: seed.companyID),
                try await Self.remember(app, seed.member, companyID: seed.companyID),
            ]
            let other = try await app.seed(name: "Globex", domain: "globex.test")
            let foreign = try await client.login(other.owner, client: "dashboard").sessionToken()
            let foreignBrowser = try await Self.remember(app, other.owner, companyID: other.companyID)
            let path = "/v1/company/security/end-all-sessions"

            for token in [admin, member] {
                let refused = try await client.post(path, ["password": "admin-password-1"], token: token)
                #expect(refused.status == .forbidden && refused.errorCode == "forbidden")
            }
            let phoneRefused = try await client.post(path, ["password": seed.owner.password], token: ownerPhone)
            #expect(phoneRefused.status == .forbidden && phoneRefused.errorCode == "dashboard_session_required")
            func failedPasswords() async throws -> Int {
                try await Self.count(app, "SELECT coalesce(sum(count), 0)::int AS n FROM rate_limits WHERE key LIKE 'failed_password:%'")
            }
            let wrong = try await client.post(path, ["password": "not-the-password"], token: owner)
            #expect(wrong.status == .forbidden && wrong.errorCode == "reauthentication_required")
            #expect(try await failedPasswords() == 1, "a wrong password counts as a failed password")
            let missing = try await client.post(path, [:], token: owner)
            #expect(missing.status == .forbidden && missing.errorCode == "reauthentication_required")
            #expect(try await failedPasswords() == 2)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM sessions WHERE revoked_at IS NOT NULL") == 0, "nothing ended yet")

            let done = try await client.post(path, ["password": seed.owner.password], token: owner)
            #expect(done.status == .ok)
            #expect(done.int("sessions_ended") == 5 && done.int("browsers_forgotten") == 2)
            for token in [owner, ownerPhone, admin, member, phoneOnly] {
                #expect(try await client.get("/v1/me", token: token).status == .unauthorized)
            }
            for browser in browsers { #expect(try await !Self.works(app, browser.token)) }
            #expect(try await client.get("/v1/me", token: foreign).status == .ok, "another company is untouched")
            #expect(try await Self.works(app, foreignBrowser.token))
            let event = try #require(
                try await app.sql("SELECT user_id, detail FROM events WHERE type = 'company.sessions_ended'").first
            )
            #expect(try event.decode("user_id", as: UUID.self) == seed.owner.id)
            #expect(
                try event.decode("detail", as: PQJSON<[String: EventValue]>.self).value == ["sessions_ended": .int(5), "browsers_forgotten": .int(2)]
            )
            let notices = try await app.sql("SELECT recipient FROM email_outbox WHERE template = 'sessions_ended' ORDER BY recipient").map {
                try $0.decode("recipient", as: String.self)
            }
            #expect(notices == ["owner@acme.test", "second-owner@acme.test"])
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM sessions WHERE revoked_reason = 'ended_by_owner'") == 5)
            // Everyone can log in again.
            #expect(try await client.login(seed.owner, client: "dashboard").status == .ok)
        }
    }

    // MARK: Bad input

    @Test func badInputIsAnsweredWithTheEnvelope() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let owner = try await client.login(seed.owner, client: "dashboard").sessionToken()
            let path = "/v1/company/security/end-all-sessions"
            let typed = try await client.post(path, ["password": 12345], token: owner)
            #expect(typed.status == .badRequest && typed.errorCode == "invalid_request" && typed.errorField == "password")
            let notJSON = try await client.request(.post, path, body: .init(string: "password=x"), token: owner)
            #expect(notJSON.status == .badRequest && notJSON.errorCode == "invalid_request")
            let wrongType = try await client.request(.post, path, body: .init(string: "{}"), contentType: "text/plain", token: owner)
            #expect(wrongType.status == .unsupportedMediaType)
            let array = try await client.request(.post, path, body: .init(string: "[]"), token: owner)
            #expect(array.status == .badRequest)
            for id in ["%00", "..", String(repeating: "a", count: 300), "00000000-0000-0000-0000-00000000000g"] {
                for prefix in ["/v1/me/sessions/", "/v1/me/remembered-browsers/"] {
                    let refused = try await client.request(.delete, prefix + id, token: owner)
                    #expect(refused.status.code < 500 && refused.errorCode != nil, "\(prefix)\(id): \(refused.status)")
                }
            }
            let unauthenticated = try await client.post("/v1/me/sessions/end-others")
            #expect(unauthenticated.status == .unauthorized && unauthenticated.errorCode == "unauthenticated")
            #expect(try await client.request(.delete, "/v1/me/sessions", token: owner).status.code < 500)
        }
    }

    // MARK: last_used_at

    /// The authentication statement touches `last_used_at` at most once a minute per session:
    /// time is moved by setting the stored value back, on the database's clock.
    @Test func lastUsedMovesAtMostOnceAMinute() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let token = try await client.login(seed.admin, client: "phone_app").sessionToken()
            let other = try await client.login(seed.admin, client: "dashboard").sessionToken()
            func lastUsed(_ client: String) async throws -> Date? {
                try await app.sql("SELECT last_used_at FROM sessions WHERE user_id = \(seed.admin.id) AND client = \(client)").first?.decode(
                    "last_used_at"
                )
            }
            #expect(try await lastUsed("phone_app") == nil, "not used since the login")
            #expect(try await client.get("/v1/me", token: token).status == .ok)
            let first = try #require(try await lastUsed("phone_app"))
            #expect(try await client.get("/v1/me", token: token).status == .ok)
            #expect(try await lastUsed("phone_app") == first, "not again within the minute")

            // 45 seconds ago on the database's clock: still within the minute (a slow machine has
            // 15 seconds to send the next request).
            try await app.sql("UPDATE sessions SET last_used_at = now() - interval '45 seconds' WHERE client = 'phone_app'")
            let moved = try #require(try await lastUsed("phone_app"))
            #expect(try await client.get("/v1/me", token: token).status == .ok)
            #expect(try await lastUsed("phone_app") == moved, "45 seconds is within the minute")

            try await app.sql("UPDATE sessions SET last_used_at = now() - interval '61 seconds' WHERE client = 'phone_app'")
            #expect(try await client.get("/v1/me", token: token).status == .ok)
            let touched = try #require(try await lastUsed("phone_app"))
            #expect(touched > moved)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM sessions WHERE last_used_at > now() - interval '10 seconds'") == 1)
            #expect(try await lastUsed("dashboard") == nil, "only the session that was used")

            // The list reports it; a revoked session is never touched.
            let listed = Self.sessions(try await client.get("/v1/me/sessions", token: other))
            #expect(listed.count == 2 && listed.allSatisfy { $0["last_used_at"] as? String != nil })
            #expect(try await client.post("/v1/auth/logout", token: token).status == .noContent)
            try await app.sql("UPDATE sessions SET last_used_at = now() - interval '1 hour' WHERE client = 'phone_app'")
            #expect(try await client.get("/v1/me", token: token).status == .unauthorized)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM sessions WHERE last_used_at < now() - interval '59 minutes'") == 1)
        }
    }

    /// The touch never makes a request wait: while another transaction holds the session's row
    /// (ending it, say), authentication answers at once and leaves `last_used_at` for later.
    @Test func authenticationNeverWaitsForALockedSessionRow() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let token = try await client.login(seed.admin, client: "phone_app").sessionToken()
            let state = NIOLockedValueBox((locked: false, done: false))
            let holder = Task {
                try await app.owner.withTransaction { tx in
                    try tx.query("SELECT id FROM sessions WHERE user_id = \(seed.admin.id) FOR UPDATE")
                    state.withLockedValue { $0.locked = true }
                    // Held until the request is answered; bounded, so a request that did wait
                    // fails the test below instead of hanging it.
                    let deadline = ContinuousClock.now + .seconds(15)
                    while !state.withLockedValue({ $0.done }) && ContinuousClock.now < deadline {
                        try tx.query("SELECT pg_sleep(0.01)")
                    }
                }
            }
            try await eventually("the session row to be locked") { state.withLockedValue { $0.locked } }
            let started = ContinuousClock.now
            let reply = try await client.get("/v1/me", token: token)
            let waited = ContinuousClock.now - started
            state.withLockedValue { $0.done = true }
            try await holder.value
            #expect(reply.status == .ok)
            #expect(waited < .seconds(5), "authentication waited \(waited) for the locked row")
            let touched = try await app.sql("SELECT last_used_at FROM sessions WHERE user_id = \(seed.admin.id)").first?.decode(
                "last_used_at",
                as: Date?.self
            )
            #expect(touched == nil, "the locked row was skipped")
            #expect(try await client.get("/v1/me", token: token).status == .ok)
            #expect(
                try await Self.count(app, "SELECT count(*) AS n FROM sessions WHERE last_used_at IS NOT NULL") == 1,
                "touched by the next request"
            )
        }
    }

    // MARK: Remembered browsers

    @Test func aUserForgetsOneRememberedBrowser() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let session = try await client.login(seed.member, client: "dashboard").sessionToken()
            let kept = try await Self.remember(app, seed.member, companyID: seed.companyID)
            let forgotten = try await Self.remember(app, seed.member, companyID: seed.companyID)
            let path = "/v1/me/remembered-browsers/\(forgotten.id.uuidString.lowercased())"
            #expect(try await client.request(.delete, path, token: session).status == .noContent)
            #expect(try await !Self.works(app, forgotten.token))
            #expect(try await Self.works(app, kept.token))
            #expect(try await client.request(.delete, path, token: session).status == .notFound)
            let listed = Self.browsers(try await client.get("/v1/me/sessions", token: session))
            #expect(listed.map { $0["id"] as? String } == [kept.id.uuidString.lowercased()])
            let event = try #require(try await app.sql("SELECT detail FROM events WHERE type = 'remembered_browser.forgotten'").first)
            #expect(
                try event.decode("detail", as: PQJSON<[String: EventValue]>.self).value
                    == ["reason": .string("forgotten"), "remembered_browser_id": .string(forgotten.id.uuidString.lowercased())]
            )
            // An expired one is not listed and cannot be forgotten.
            try await app.sql("UPDATE remembered_browsers SET expires_at = now() - interval '1 second' WHERE id = \(kept.id)")
            #expect(try await !Self.works(app, kept.token))
            #expect(Self.browsers(try await client.get("/v1/me/sessions", token: session)).isEmpty)
        }
    }

    /// SPEC §14: a remembered browser stops working on password change or reset, "this wasn't
    /// me" and deactivation (the owner's end-all and "forget" are tested above; the policy
    /// change with the policy). Each counts what it forgot in its own event.
    @Test func everyAccountEventOfSpec14ForgetsTheUsersBrowsers() async throws {
        try await TestApp.with({ $0.http.maxConcurrentHashes = 8 }) { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            func detail(_ type: String) async throws -> [String: EventValue] {
                let row = try #require(try await app.sql("SELECT detail FROM events WHERE type = \(type) ORDER BY id DESC LIMIT 1").first, "\(type)")
                return try row.decode("detail", as: PQJSON<[String: EventValue]>.self).value
            }
            let bystander = try await Self.remember(app, seed.owner, companyID: seed.companyID)

            // A password change.
            var browser = try await Self.remember(app, seed.admin, companyID: seed.companyID)
            let adminSession = try await client.login(seed.admin, client: "phone_app").sessionToken()
            let changed = try await client.post(
                "/v1/account/password",
                ["current_password": seed.admin.password, "new_password": "a-fresh-passphrase-1"],
                token: adminSession
            )
            #expect(changed.status == .noContent)
            #expect(try await !Self.works(app, browser.token))
            #expect(try await detail("password.changed")["browsers_forgotten"] == .int(1))

            // A reset.
            browser = try await Self.remember(app, seed.member, companyID: seed.companyID)
            #expect(try await client.post("/v1/auth/password/forgot", ["email": seed.member.email]).status == .accepted)
            try await eventually("the reset email") {
                try await Self.count(app, "SELECT count(*) AS n FROM email_outbox WHERE template = 'password_reset'") == 1
            }
            let resetToken = try await PasswordTests.linkToken(app, "reset", to: seed.member.email)
            #expect(
                try await client.post("/v1/auth/password/reset", ["token": resetToken, "new_password": "brand-new-passphrase-7"]).status == .noContent
            )
            #expect(try await !Self.works(app, browser.token))
            #expect(try await detail("password.reset")["browsers_forgotten"] == .int(1))

            // "This wasn't me".
            let member = Seed.Account(id: seed.member.id, email: seed.member.email, password: "brand-new-passphrase-7")
            browser = try await Self.remember(app, member, companyID: seed.companyID)
            #expect(try await client.login(member, client: "dashboard").status == .accepted)
            let reportToken = try await PasswordTests.linkToken(app, "not-me", to: seed.member.email)
            #expect(try await client.post("/v1/auth/not-me", ["token": reportToken]).status == .noContent)
            #expect(try await !Self.works(app, browser.token))
            #expect(try await detail("login.reported")["browsers_forgotten"] == .int(1))

            // Deactivation by the provisioning API; reactivating brings nothing back.
            browser = try await Self.remember(app, member, companyID: seed.companyID)
            let key = try await AdminAPITests.key(app)
            #expect(try await client.post("/v1/admin/users/\(seed.member.id.uuidString)/deactivate", token: key).status == .ok)
            #expect(try await !Self.works(app, browser.token))
            #expect(try await detail("admin.user_deactivated")["browsers_forgotten"] == .int(1))
            #expect(try await client.post("/v1/admin/users/\(seed.member.id.uuidString)/reactivate", token: key).status == .ok)
            #expect(try await !Self.works(app, browser.token))

            #expect(try await Self.works(app, bystander.token), "another user's browser stays")
            let reasons = try await app.sql("SELECT revoked_reason AS r FROM remembered_browsers WHERE revoked_at IS NOT NULL ORDER BY revoked_at")
                .map {
                    try $0.decode("r", as: String.self)
                }
            #expect(reasons == ["password_changed", "password_reset", "reported", "deactivated"])
        }
    }

    /// The end-to-end form of the tests above, through the login itself (SPEC §14.1).
    @Test func aRememberedBrowserSkipsTheCodeUntilItIsRevoked() async throws {
        try await TestApp.with({ $0.http.maxConcurrentHashes = 8 }) { app, client in
            let seed = try await app.seed()
            let ownerSession = try await app.enableTwoFactor(seed, client: client)
            try await app.sql("UPDATE companies SET ask_policy = 'per_browser', remember_days = 7")
            func login(_ token: String, _ account: Seed.Account = seed.admin) async throws -> HTTPResponse.Status {
                try await client.post(
                    "/v1/auth/login",
                    ["email": account.email, "password": account.password, "client": "dashboard", "remembered_browser": token]
                ).status
            }
            var browser = try await Self.remember(app, seed.admin, companyID: seed.companyID)
            #expect(try await login(browser.token) == .ok, "no second step")
            #expect(try await login(browser.token, seed.member) == .accepted, "bound to its user")
            let admin = try await client.login(seed.admin, client: "phone_app").sessionToken()
            #expect(try await client.request(.delete, "/v1/me/remembered-browsers/\(browser.id.uuidString)", token: admin).status == .noContent)
            #expect(try await login(browser.token) == .accepted, "forgotten")
            browser = try await Self.remember(app, seed.admin, companyID: seed.companyID)
            let ended = try await client.post("/v1/company/security/end-all-sessions", ["password": seed.owner.password], token: ownerSession)
            #expect(ended.status == .ok)
            #expect(try await login(browser.token) == .accepted, "ended by the owner")
            browser = try await Self.remember(app, seed.admin, companyID: seed.companyID, days: 1)
            try await app.sql("UPDATE remembered_browsers SET expires_at = now() - interval '1 second' WHERE id = \(browser.id)")
            #expect(try await login(browser.token) == .accepted, "expired")
        }
    }

    // MARK: Retention and support

    @Test func endedRememberedBrowsersArePurgedLikeEndedSessionsAndSupportSeesThemWithoutHashes() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let live = try await Self.remember(app, seed.owner, companyID: seed.companyID)
            let revoked = try await Self.remember(app, seed.admin, companyID: seed.companyID)
            let expired = try await Self.remember(app, seed.member, companyID: seed.companyID)
            let recent = try await Self.remember(app, seed.phoneOnly, companyID: seed.companyID)
            try await app.sql(
                "UPDATE remembered_browsers SET revoked_at = now() - interval '40 days', revoked_reason = 'forgotten' WHERE id = \(revoked.id)"
            )
            try await app.sql("UPDATE remembered_browsers SET expires_at = now() - interval '40 days' WHERE id = \(expired.id)")
            try await app.sql(
                "UPDATE remembered_browsers SET revoked_at = now() - interval '1 day', revoked_reason = 'forgotten' WHERE id = \(recent.id)"
            )
            _ = try await client.login(seed.owner, client: "dashboard")

            let support = app.database.pool(role: "tollgate_support", maxConnections: 1)
            let seen = try await support.query("SELECT user_email, live, revoked_reason FROM support.remembered_browsers ORDER BY user_email")
            #expect(seen.count == 4)
            #expect(try seen.first?.decode("user_email", as: String.self) == "admin@acme.test")
            let sessions = try await support.query("SELECT user_email, client, live, last_used_at FROM support.sessions")
            #expect(sessions.count == 1)
            #expect(try sessions.first?.decode("live", as: Bool.self) == true)
            await support.close()

            let worker = app.database.pool(role: "tollgate_worker", maxConnections: 1)
            var settings = RetentionSettings()
            settings.batchSize = 1
            let deleted = try await Purge.retention(settings).run(on: worker)
            await worker.close()
            #expect(deleted["remembered_browsers"] == 2)
            let left = try await app.sql("SELECT id FROM remembered_browsers ORDER BY id").map { try $0.decode("id", as: UUID.self) }
            #expect(Set(left) == [live.id, recent.id])
        }
    }
}
