import Foundation
import PQ
import TestSupport
import Testing

/// The schema's tenant isolation, as the API role sees it (Migrations/0001 and 0002).
@Suite struct RowLevelSecurityTests {
    struct Tenant {
        let company: UUID
        let owner: UUID
        let email: String
    }

    /// Creates a company and its owner in one transaction, as the owner role (the company
    /// needs an owner by commit).
    static func createTenant(_ name: String, on owner: PQPool) async throws -> Tenant {
        let company = UUID()
        let user = UUID()
        let email = "owner@\(name.lowercased()).example"
        try await owner.withTransaction { tx in
            try tx.query("INSERT INTO companies (id, name) VALUES (\(company), \(name))")
            try tx.query(
                "INSERT INTO users (company_id, id, email, role, password_hash) VALUES (\(company), \(user), \(email), 'owner', 'x')"
            )
        }
        return Tenant(company: company, owner: user, email: email)
    }

    static func ids(_ sql: PQQuery, company: UUID?, on pool: PQPool) async throws -> [UUID] {
        let settings = company.map { [("app.company_id", $0.uuidString)] } ?? []
        return try await pool.withTransaction(settings: settings) { tx in
            try tx.query(sql).map { try $0.decode("id", as: UUID.self) }
        }
    }

    @Test(.postgres) func theAPIRoleSeesAndChangesOnlyItsOwnCompany() async throws {
        let database = try TestDatabase.current
        let owner = database.pool(role: nil)
        let a = try await Self.createTenant("Alpha", on: owner)
        let b = try await Self.createTenant("Beta", on: owner)
        // One connection, so the unscoped transactions below reuse a session that had a company set.
        let api = database.pool(role: "tollgate_api", maxConnections: 1)

        #expect(try await Self.ids("SELECT id FROM companies", company: a.company, on: api) == [a.company])
        #expect(try await Self.ids("SELECT id FROM users", company: a.company, on: api) == [a.owner])
        #expect(try await Self.ids("SELECT id FROM companies", company: b.company, on: api) == [b.company])

        // An UPDATE aimed at B's rows from A's scope touches nothing.
        let updated = try await api.withTransaction(settings: [("app.company_id", a.company.uuidString)]) { tx in
            [
                try tx.query("UPDATE users SET name = 'hijacked' WHERE company_id = \(b.company)").affectedRows,
                try tx.query("UPDATE companies SET name = 'hijacked' WHERE id = \(b.company)").affectedRows,
                // Moving an own row into B is refused by the WITH CHECK clause (tested below); here a no-op match.
                try tx.query("UPDATE users SET name = 'renamed' WHERE id = \(b.owner)").affectedRows,
            ]
        }
        #expect(updated == [0, 0, 0])
        let untouched = try #require(
            try await owner.query("SELECT count(*) AS n FROM users WHERE name IN ('hijacked', 'renamed')").first
        ).decode("n", as: Int.self)
        #expect(untouched == 0)

        // An INSERT of a row for B, and an UPDATE that would move A's row into B, are refused.
        let insertError = try await #require(throws: PQError.self) {
            try await api.withTransaction(settings: [("app.company_id", a.company.uuidString)]) { tx in
                try tx.query(
                    "INSERT INTO users (company_id, email, role, password_hash) VALUES (\(b.company), 'intruder@beta.example', 'admin', 'x')"
                )
            }
        }
        #expect(insertError.sqlState == "42501")
        let moveError = try await #require(throws: PQError.self) {
            try await api.withTransaction(settings: [("app.company_id", a.company.uuidString)]) { tx in
                try tx.query("UPDATE companies SET id = \(b.company) WHERE id = \(a.company)")
            }
        }
        #expect(moveError.sqlState == "42501")

        // With no company set, nothing is visible (on the same session as before).
        #expect(try await Self.ids("SELECT id FROM companies", company: nil, on: api).isEmpty)
        #expect(try await Self.ids("SELECT id FROM users", company: nil, on: api).isEmpty)
        let outside = try #require(try await api.query("SELECT count(*) AS n FROM users").first).decode("n", as: Int.self)
        #expect(outside == 0)

        await api.close()
        await owner.close()
    }

    @Test(.postgres) func loginLookupFindsTheCompanyButTheDirectoryStaysClosed() async throws {
        let database = try TestDatabase.current
        let owner = database.pool(role: nil)
        let a = try await Self.createTenant("Alpha", on: owner)
        _ = try await Self.createTenant("Beta", on: owner)
        let api = database.pool(role: "tollgate_api")

        let found = try await api.query("SELECT company_id, user_id FROM login_lookup(\(a.email))")
        let row = try #require(found.first)
        #expect(try row.decode("company_id", as: UUID.self) == a.company)
        #expect(try row.decode("user_id", as: UUID.self) == a.owner)
        // Exact addresses only: no pattern, no other case.
        for probe in ["%", "owner@%", a.email.uppercased(), ""] {
            let none = try #require(try await api.query("SELECT company_id FROM login_lookup(\(probe))").first)
            #expect(try none.decode("company_id", as: UUID?.self) == nil, "probe \(probe)")
        }

        let error = try await #require(throws: PQError.self) { try await api.query("SELECT * FROM login_directory") }
        #expect(error.sqlState == "42501")
        await api.close()
        await owner.close()
    }

    /// The worker reaches every company's email events, and no other kind of event.
    @Test(.postgres) func theWorkerMayAppendEmailEventsOnly() async throws {
        let database = try TestDatabase.current
        let owner = database.pool(role: nil)
        let a = try await Self.createTenant("Alpha", on: owner)
        let worker = database.pool(role: "tollgate_worker")
        try await worker.query("INSERT INTO events (company_id, type, detail) VALUES (\(a.company), 'email.sent', '{}')")
        for forged in ["two_factor.enabled", "login.succeeded"] {
            let refused = try await #require(throws: PQError.self) {
                try await worker.query("INSERT INTO events (company_id, type, detail) VALUES (\(a.company), \(forged), '{}')")
            }
            #expect(refused.sqlState == "42501", "\(forged)")
        }
        let types = try await owner.query("SELECT type FROM events").map { try $0.decode("type", as: String.self) }
        #expect(types == ["email.sent"])
        await worker.close()
        await owner.close()
    }

    @Test(.postgres) func theEventLogRejectsUpdateAndDeleteEvenForTheOwner() async throws {
        let database = try TestDatabase.current
        let owner = database.pool(role: nil)
        let a = try await Self.createTenant("Alpha", on: owner)
        try await owner.query("INSERT INTO events (company_id, type, detail) VALUES (\(a.company), 'test.event', '{}')")
        let update = try await #require(throws: PQError.self) {
            try await owner.query("UPDATE events SET type = 'test.changed' WHERE company_id = \(a.company)")
        }
        #expect(update.sqlState == "42501")
        let delete = try await #require(throws: PQError.self) {
            try await owner.query("DELETE FROM events WHERE company_id = \(a.company)")
        }
        #expect(delete.sqlState == "42501")
        let left = try #require(try await owner.query("SELECT type FROM events").first).decode("type", as: String.self)
        #expect(left == "test.event")

        // The API role may append to its own company's log but not change it either.
        let api = database.pool(role: "tollgate_api")
        let apiError = try await #require(throws: PQError.self) {
            try await api.withTransaction(settings: [("app.company_id", a.company.uuidString)]) { tx in
                try tx.query("DELETE FROM events")
            }
        }
        #expect(apiError.sqlState == "42501")
        await api.close()
        await owner.close()
    }
}
