import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PQ
import Testing
import TollgateCore

/// A tenant never sees or touches another's data (SPEC §4 "always 404", §9 row-level security).
@Suite struct TenancyTests {
    @Test func aTokenOfCompanyBNeverSeesCompanyA() async throws {
        try await TestApp.with { app, client in
            let a = try await app.seed(name: "Acme", domain: "acme.test")
            let b = try await app.seed(name: "Bravo", domain: "bravo.test")
            let tokenA = try await client.login(a.owner, client: "dashboard").sessionToken()
            let tokenB = try await client.login(b.owner, client: "dashboard").sessionToken()
            let started = try await client.post("/v1/company/security/two-factor/activation", token: tokenA)
            let activationA = try started.string("activation", "id")

            let meB = try await client.get("/v1/me", token: tokenB)
            #expect(try meB.string("company", "id") == b.companyID.uuidString.lowercased())
            // A's activation does not exist for B: 404, never 403.
            let codeA = try await app.latestCode(for: a.owner.email)
            let verify = try await client.post("/v1/company/security/two-factor/activation/\(activationA)/verify", ["code": codeA], token: tokenB)
            #expect(verify.status == .notFound)
            let resend = try await client.post("/v1/company/security/two-factor/activation/\(activationA)/resend", token: tokenB)
            #expect(resend.status == .notFound)
            let enable = try await client.post(
                "/v1/company/security/two-factor/enable",
                ["activation_id": activationA, "confirm": true],
                token: tokenB
            )
            #expect(enable.status == .notFound)
            let eventsB = try await client.get("/v1/company/security/events", token: tokenB)
            let emails = ((eventsB.json["events"] as? [[String: Any]]) ?? []).compactMap { $0["email"] as? String }
            #expect(!emails.isEmpty && emails.allSatisfy { $0.hasSuffix("@bravo.test") })
        }
    }

    @Test func theAPIRoleSeesOnlyTheCompanyOfItsTransaction() async throws {
        try await TestApp.with { app, client in
            let a = try await app.seed(name: "Acme", domain: "acme.test")
            let b = try await app.seed(name: "Bravo", domain: "bravo.test")
            let visible = try await app.api.withTenant(a.companyID) { tx in
                try tx.query("SELECT email FROM users ORDER BY email").map { try $0.decode("email", as: String.self) }
            }
            #expect(visible.allSatisfy { $0.hasSuffix("@acme.test") } && visible.count == 4)
            let changed = try await app.api.withTenant(a.companyID) { tx in
                try tx.query("UPDATE users SET name = 'x' WHERE company_id = \(b.companyID)").affectedRows
            }
            #expect(changed == 0)
            await #expect(throws: PQError.self) {
                try await app.api.withTenant(a.companyID) { tx in
                    try tx.query(
                        "INSERT INTO events (company_id, type) VALUES (\(b.companyID), 'test.forged')"
                    )
                }
            }
            let none = try await app.api.withTransaction { tx in try tx.query("SELECT count(*) AS n FROM users").first?.decode("n", as: Int.self) }
            #expect(none == 0)
            await #expect(throws: PQError.self) { try await app.api.query("SELECT * FROM login_directory") }
            let role = try await app.api.query("SELECT rolbypassrls, rolsuper FROM pg_roles WHERE rolname = current_user")
            #expect(try role.first?.decode("rolbypassrls", as: Bool.self) == false)
            #expect(try role.first?.decode("rolsuper", as: Bool.self) == false)
        }
    }

    @Test func theDatabaseKeepsAnOwnerPerCompany() async throws {
        try await TestApp.with { app, client in
            let a = try await app.seed()
            await #expect(throws: PQError.self) {
                try await app.api.withTenant(a.companyID) { tx in
                    try tx.query("UPDATE users SET role = 'admin' WHERE id = \(a.owner.id)")
                }
            }
            await #expect(throws: PQError.self) {
                try await app.api.withTenant(UUID()) { tx in
                    try tx.query("INSERT INTO companies (id, name) VALUES (app_company(), 'Ownerless')")
                }
            }
        }
    }
}
