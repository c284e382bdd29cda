import Foundation
import HTTPTypes
import PQ
import TestSupport
import Testing
import TollgateCore

/// The provisioning API (SPEC §11) against the real router and database.
@Suite struct AdminAPITests {
    static func key(_ app: TestApp, _ name: String = "platform", company: UUID? = nil) async throws -> String {
        try await Provisioning(pool: app.owner, hasher: PasswordHasher(concurrency: 1)).createAPIKey(name: name, companyID: company).key
    }

    static func count(_ app: TestApp, _ query: PQQuery) async throws -> Int {
        try await app.sql(query).first?.decode("n", as: Int.self) ?? -1
    }

    @Test func aPlatformKeyCreatesACompanyAndACompanyKeyStaysInItsOwn() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let platform = try await Self.key(app)
            let created = try await client.post(
                "/v1/admin/companies",
                [
                    "name": "Globex", "owner": ["email": "Hank@Globex.test", "name": "Hank", "password": "globex-owner-pass-1"],
                    "dashboard_url": "https://dash.globex.test",
                ],
                token: platform
            )
            #expect(created.status == .created)
            let globex = try created.string("company", "id")
            #expect(created.value("company", "dashboard_url") as? String == "https://dash.globex.test")
            #expect(created.value("owner", "email") as? String == "hank@globex.test")
            #expect(created.value("owner", "role") as? String == "owner")
            let hank = Seed.Account(id: UUID(), email: "hank@globex.test", password: "globex-owner-pass-1")
            #expect(try await client.login(hank, client: "dashboard").status == .ok)
            // The company's own dashboard receives its users' links (SPEC §10).
            #expect(
                try await client.post("/v1/admin/companies/\(globex)/users", ["email": "ivy@globex.test", "role": "admin"], token: platform).status
                    == .created
            )
            let invitation = try await app.sql("SELECT body_text FROM email_outbox WHERE recipient = 'ivy@globex.test' AND template = 'invitation'")
            #expect(try invitation.first?.decode("body_text", as: String.self).contains("https://dash.globex.test/reset#token=") == true)

            let acmeKey = try await Self.key(app, "acme", company: seed.companyID)
            #expect(try await client.get("/v1/admin/companies/\(seed.companyID.uuidString)", token: acmeKey).status == .ok)
            // Another company's objects do not exist for a company key.
            for path in [
                "/v1/admin/companies/\(globex)", "/v1/admin/companies/\(globex)/users", "/v1/admin/users/\(try created.string("owner", "id"))",
            ] {
                let hidden = try await client.get(path, token: acmeKey)
                #expect(hidden.status == .notFound && hidden.errorCode == "not_found", "\(path)")
            }
            #expect(try await client.post("/v1/admin/companies", ["name": "X", "owner": ["email": "x@x.test"]], token: acmeKey).status == .forbidden)
            // Keys are refused on every non-admin route; sessions on admin routes.
            #expect(try await client.get("/v1/me", token: platform).status == .unauthorized)
            let session = try await client.login(seed.owner, client: "dashboard").sessionToken()
            #expect(try await client.get("/v1/admin/companies/\(seed.companyID.uuidString)", token: session).status == .unauthorized)
            // A revoked key stops at once.
            #expect(try await Provisioning(pool: app.owner, hasher: PasswordHasher(concurrency: 1)).revokeAPIKey(name: "acme"))
            #expect(try await client.get("/v1/admin/companies/\(seed.companyID.uuidString)", token: acmeKey).status == .unauthorized)
            let renamed = try await client.patch(
                "/v1/admin/companies/\(globex)",
                ["name": "Globex Corp", "dashboard_url": NSNull()],
                token: platform
            )
            #expect(renamed.value("company", "name") as? String == "Globex Corp")
            #expect(renamed.value("company", "dashboard_url") is NSNull)
            let events = try await app.sql("SELECT type, detail->>'api_key' AS k FROM events WHERE type LIKE 'admin.%' ORDER BY id")
            #expect(
                try events.map { "\(try $0.decode("type", as: String.self)) \(try $0.decode("k", as: String.self))" }
                    == ["admin.company_created platform", "admin.user_created platform", "admin.company_updated platform"]
            )
        }
    }

    @Test func usersAreCreatedInvitedPagedAndChanged() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let key = try await Self.key(app)
            let base = "/v1/admin/companies/\(seed.companyID.uuidString)/users"
            let invited = try await client.post(
                base,
                ["email": "new@acme.test", "name": "New", "role": "member", "dashboard_access": true],
                token: key
            )
            #expect(invited.status == .created)
            let id = try invited.string("user", "id")
            // Invited: the link sets the password (valid for days, not minutes).
            let token = try await PasswordTests.linkToken(app, "reset", to: "new@acme.test")
            let ttl = try await app.sql(
                "SELECT extract(epoch FROM expires_at - created_at)::bigint AS n FROM password_resets WHERE purpose = 'invitation'"
            )
            #expect(try ttl.first?.decode("n", as: Int.self) == 7 * 86_400)
            #expect(try await client.post("/v1/auth/password/reset", ["token": token, "new_password": "invited-passphrase-1"]).status == .noContent)
            #expect(
                try await client.login(Seed.Account(id: UUID(), email: "new@acme.test", password: "invited-passphrase-1"), client: "dashboard").status
                    == .ok
            )

            let weak = try await client.post(base, ["email": "weak@acme.test", "role": "member", "password": "qwerty123"], token: key)
            #expect(weak.errorCode == "password_rejected" && weak.errorField == "password")
            let duplicate = try await client.post(
                base,
                ["email": seed.admin.email, "role": "member", "password": "some-long-passphrase"],
                token: key
            )
            #expect(duplicate.status == .conflict)
            let badRole = try await client.post(base, ["email": "r@acme.test", "role": "king"], token: key)
            #expect(badRole.errorField == "role")

            var seen: [String] = []
            var after: String?
            repeat {
                let page = try await client.get(base + "?limit=2" + (after.map { "&after=\($0)" } ?? ""), token: key)
                let users = page.value("users") as? [[String: Any]] ?? []
                seen += users.compactMap { $0["id"] as? String }
                after = page.value("next_after") as? String
            } while after != nil
            #expect(seen.count == 5 && Set(seen).count == 5 && seen == seen.sorted())

            let changed = try await client.patch("/v1/admin/users/\(id)", ["name": "Renamed", "role": "admin"], token: key)
            #expect(changed.value("user", "name") as? String == "Renamed" && changed.value("user", "role") as? String == "admin")
            #expect(try await client.get("/v1/admin/users/\(UUID().uuidString)", token: key).status == .notFound)
        }
    }

    /// A deactivated user's live session stops at its next request, and logging in answers
    /// like an unknown address.
    @Test func deactivationEndsSessionsAtOnceAndLoginAnswersLikeAnUnknownAddress() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let key = try await Self.key(app)
            let session = try await client.login(seed.admin, client: "dashboard").sessionToken()
            #expect(try await client.get("/v1/me", token: session).status == .ok)
            let off = try await client.post("/v1/admin/users/\(seed.admin.id.uuidString)/deactivate", token: key)
            #expect(off.status == .ok && off.value("user", "active") as? Bool == false)
            #expect(try await client.get("/v1/me", token: session).status == .unauthorized)
            let login = try await client.login(seed.admin, client: "dashboard")
            let unknown = try await client.login(
                Seed.Account(id: UUID(), email: "ghost@acme.test", password: seed.admin.password),
                client: "dashboard"
            )
            #expect(login.status == .unauthorized && login.body == unknown.body)
            #expect(try await client.post("/v1/admin/users/\(seed.admin.id.uuidString)/password-reset", token: key).status == .conflict)
            #expect(try await client.post("/v1/admin/users/\(seed.admin.id.uuidString)/reactivate", token: key).status == .ok)
            #expect(try await client.login(seed.admin, client: "dashboard").status == .ok)
            #expect(try await client.post("/v1/admin/users/\(seed.admin.id.uuidString)/password-reset", token: key).status == .accepted)
            #expect(try await client.post("/v1/admin/users/\(seed.admin.id.uuidString)/unlock", token: key).status == .ok)
            let support = try await app.sql("SELECT active, reset_pending FROM support.users WHERE id = \(seed.admin.id)")
            #expect(try support.first?.decode("active", as: Bool.self) == true && support.first?.decode("reset_pending", as: Bool.self) == true)
        }
    }

    /// A deactivated user is changed only once reactivated: 409 `user_inactive`, as the
    /// document lists for PATCH, and nothing changes.
    @Test func changingADeactivatedUserIsRefusedUntilItIsReactivated() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let key = try await Self.key(app)
            let path = "/v1/admin/users/\(seed.admin.id.uuidString)"
            #expect(try await client.post("\(path)/deactivate", token: key).status == .ok)
            let refused = try await client.patch(path, ["name": "Renamed", "role": "member"], token: key)
            #expect(refused.status == .conflict && refused.errorCode == "user_inactive")
            let unchanged = try await client.get(path, token: key)
            #expect(unchanged.value("user", "name") as? String != "Renamed" && unchanged.value("user", "role") as? String == "admin")
            #expect(try await client.post("\(path)/reactivate", token: key).status == .ok)
            let changed = try await client.patch(path, ["name": "Renamed"], token: key)
            #expect(changed.status == .ok && changed.value("user", "name") as? String == "Renamed")
        }
    }

    /// A company always keeps an active owner, also when twenty demotions race.
    @Test func theLastActiveOwnerStaysUnderTwentyConcurrentDemotions() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let key = try await Self.key(app)
            let alone = try await client.patch("/v1/admin/users/\(seed.owner.id.uuidString)", ["role": "admin"], token: key)
            #expect(alone.status == .conflict && alone.errorCode == "last_owner")
            #expect(try await client.post("/v1/admin/users/\(seed.owner.id.uuidString)/deactivate", token: key).errorCode == "last_owner")
            #expect(try await client.patch("/v1/admin/users/\(seed.admin.id.uuidString)", ["role": "owner"], token: key).status == .ok)
            let owners = [seed.owner.id, seed.admin.id]
            let replies = try await RaceTests.parallel(20) { index in
                index % 4 == 3
                    ? try await client.post("/v1/admin/users/\(owners[index % 2].uuidString)/deactivate", token: key)
                    : try await client.patch("/v1/admin/users/\(owners[index % 2].uuidString)", ["role": "member"], token: key)
            }
            // A PATCH that finds its owner already deactivated by a racing request is refused as such.
            let refusals: Set = ["last_owner", "user_inactive"]
            #expect(replies.allSatisfy { $0.status == .ok || refusals.contains($0.errorCode ?? "") }, "\(replies.map(\.status.code))")
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM users WHERE role = 'owner' AND active") == 1)
        }
    }

    /// POSTs with an Idempotency-Key: the same key and body give the first answer and do the
    /// work once, also when twenty retries race; another body is 422.
    @Test func idempotentRetriesUnderConcurrencyDoNothingTwice() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let key = try await Self.key(app)
            let path = "/v1/admin/companies/\(seed.companyID.uuidString)/users"
            let body: [String: any Sendable] = ["email": "once@acme.test", "role": "member", "password": "only-once-passphrase"]
            let replies = try await RaceTests.parallel(20) { _ in
                try await client.post(path, body, token: key, headers: [HTTPField.Name("Idempotency-Key")!: "create-once-1"])
            }
            // Retries that arrive while the first runs wait for its answer (up to 15 s; on a
            // machine too busy for that they are told to retry: 409 with Retry-After).
            #expect(
                replies.allSatisfy { $0.status == .created || ($0.errorCode == "idempotency_in_progress" && $0.headers[.retryAfter] != nil) },
                "\(replies.map(\.status.code))"
            )
            #expect(replies.filter { $0.status == .created }.count >= 10, "\(replies.map(\.status.code))")
            #expect(Set(replies.compactMap { $0.value("user", "id") as? String }).count == 1)
            let later = try await client.post(path, body, token: key, headers: [HTTPField.Name("Idempotency-Key")!: "create-once-1"])
            #expect(later.status == .created && later.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(later.value("user", "id") as? String == replies.compactMap { $0.value("user", "id") as? String }.first)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM users WHERE email = 'once@acme.test'") == 1)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM events WHERE type = 'admin.user_created'") == 1)
            let other = try await client.post(
                path,
                ["email": "twice@acme.test", "role": "member", "password": "only-once-passphrase"],
                token: key,
                headers: [HTTPField.Name("Idempotency-Key")!: "create-once-1"]
            )
            #expect(other.status == .unprocessableContent && other.errorCode == "idempotency_key_reused")
            // A refusal is a first answer too.
            let refused = try await client.post(
                path,
                ["email": "bad", "role": "member"],
                token: key,
                headers: [HTTPField.Name("Idempotency-Key")!: "k2"]
            )
            let replayed = try await client.post(
                path,
                ["email": "bad", "role": "member"],
                token: key,
                headers: [HTTPField.Name("Idempotency-Key")!: "k2"]
            )
            #expect(refused.status == .badRequest && replayed.status == .badRequest && refused.body == replayed.body)
        }
    }

    @Test func eachKeyIsLimited() async throws {
        try await TestApp.with({ $0.domain.limits.adminRequestsPerKey = 3 }) { app, client in
            let seed = try await app.seed()
            let key = try await Self.key(app)
            var statuses: [Int] = []
            for _ in 0..<5 { statuses.append(try await client.get("/v1/admin/companies/\(seed.companyID.uuidString)", token: key).status.code) }
            #expect(statuses == [200, 200, 200, 429, 429])
        }
    }
}
