import Foundation
import OpenAPIRuntime

/// The flows, in the order of clients/python/journey.py.
extension Journey {
    var ownerEmail: String { "owner-\(run)@swift.journey.test" }

    /// Health and the document itself.
    func operations() async throws {
        check(try await anonymous.live().ok.body.json.status == .ok, "live")
        check(try await anonymous.ready().ok.body.json.status == .ready, "ready")
        let document = try await anonymous.openapi().ok.body.yaml
        check(try await String(collecting: document, upTo: 1 << 20).hasPrefix("openapi: 3.1"), "the document as text")
    }

    /// A company with its owner (retried with the same Idempotency-Key), users paged to the
    /// empty page, a deactivated user's PATCH, and the last owner kept.
    func provisioning() async throws {
        let body = Operations.AdminCreateCompany.Input.Body.json(
            .init(name: "Swift journey \(run)", owner: .init(email: ownerEmail, name: "Olga Owner", password: Self.firstPassword))
        )
        let key = "create-\(run)"
        let created = try await platform.adminCreateCompany(headers: .init(idempotencyKey: key), body: body).created.body.json
        let again = try await platform.adminCreateCompany(headers: .init(idempotencyKey: key), body: body).created.body.json
        check(again.company.id == created.company.id, "the retry returns the first answer")
        check(created.company.dashboardUrl == nil && created.owner.role.value1 == .owner, "a company and its owner")
        let companyID = created.company.id
        let updated = try await platform.adminUpdateCompany(path: .init(id: companyID), body: .json(.init(dashboardUrl: "https://dash.journey.test")))
        check(try updated.ok.body.json.company.dashboardUrl == "https://dash.journey.test", "company updated")
        check(try await platform.adminGetCompany(path: .init(id: companyID)).ok.body.json.company.name == "Swift journey \(run)", "company read")

        let admin = try await platform.adminCreateUser(
            path: .init(id: companyID),
            headers: .init(idempotencyKey: "admin-\(run)"),
            body: .json(.init(email: "admin-\(run)@swift.journey.test", role: .admin, password: "journey-admin-pass-1"))
        ).created.body.json.user
        check(admin.role.value1 == .admin, "admin added")
        for index in 0..<4 {
            _ = try await platform.adminCreateUser(
                path: .init(id: companyID),
                body: .json(.init(email: "member\(index)-\(run)@swift.journey.test", role: .member))
            ).created
        }
        check(try await mail.next(to: "member0-\(run)@swift.journey.test", subject: "choose a password").contains("/reset#token="), "invitation")
        var after: String?
        var pages = 0
        var seen: [String] = []
        while true {
            let page = try await platform.adminListUsers(path: .init(id: companyID), query: .init(limit: 3, after: after)).ok.body.json
            pages += 1
            seen += page.users.map(\.id)
            guard let next = page.nextAfter else {
                check(page.users.isEmpty, "the page after a full last page is empty")
                break
            }
            check(page.users.count == 3, "a page with a cursor is full")
            after = next
        }
        check(seen.count == 6 && pages == 3, "six users on two full pages and an empty one, got \(seen.count) on \(pages)")

        let user = Operations.AdminGetUser.Input.Path(id: admin.id)
        let renamed = try await platform.adminUpdateUser(path: .init(id: admin.id), body: .json(.init(name: "Ada Admin"))).ok.body.json
        check(renamed.user.name == "Ada Admin", "user renamed")
        check(try await platform.adminDeactivateUser(path: .init(id: admin.id)).ok.body.json.user.active == false, "deactivated")
        let inactive = try await platform.adminUpdateUser(path: .init(id: admin.id), body: .json(.init(name: "X"))).conflict.body.json
        check(errorCode(inactive) == "user_inactive", "PATCH of a deactivated user")
        check(try await platform.adminReactivateUser(path: .init(id: admin.id)).ok.body.json.user.active, "reactivated")
        check(try await platform.adminGetUser(path: user).ok.body.json.user.name == "Ada Admin", "user read")
        let demoted = try await platform.adminUpdateUser(path: .init(id: created.owner.id), body: .json(.init(role: .admin))).conflict.body.json
        check(errorCode(demoted) == "last_owner", "the last owner stays an owner")
        let deactivated = try await platform.adminDeactivateUser(path: .init(id: created.owner.id)).conflict.body.json
        check(errorCode(deactivated) == "last_owner", "the last owner stays active")
    }

    static let firstPassword = "journey-owner-pass-1"

    /// What a later version may send: a code and a delivery state this client has never seen.
    func futureValues() {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let error = try? decoder.decode(
            Components.Schemas._Error.self,
            from: Data(#"{"error": {"code": "code_of_a_later_version", "message": "later"}}"#.utf8)
        )
        check(error.map(errorCode) == "code_of_a_later_version" && error?.error.code.value1 == nil, "an unknown error code decodes")
        let challenge = #"""
            {"challenge": {"token": "t", "methods": ["email"], "method": "email", "remember_browser_days": null,
             "code_expires_at": "2026-12-02T14:13:00Z", "resends_remaining": 3,
             "attempts_remaining": 5, "email_hint": "o***@d.test", "delivery": "bounced"}}
            """#
        let decoded = try? decoder.decode(Components.Schemas.ChallengeEnvelope.self, from: Data(challenge.utf8))
        check(decoded?.challenge.delivery.value2 == "bounced" && decoded?.challenge.delivery.value1 == nil, "an unknown delivery state decodes")
    }
}
