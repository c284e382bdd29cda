import Foundation
import PQ
import TestSupport
import Testing
import TollgateCore

/// What the worker and API roles can no longer do (issue 11, migration 0008), each shown by
/// connecting as the role itself.
@Suite struct RoleHardeningTests {
    /// The permissive tenant policy applies to every role; the worker's restriction must hold
    /// even when the worker sets a company itself.
    @Test(.postgres) func theWorkerCanAppendEmailEventsOnlyEvenInsideACompanysScope() async throws {
        let database = try TestDatabase.current
        let owner = database.pool(role: nil)
        let tenant = try await RowLevelSecurityTests.createTenant("Alpha", on: owner)
        let worker = database.pool(role: "tollgate_worker", maxConnections: 1)
        let scope = [("app.company_id", tenant.company.uuidString)]
        let forged = await databaseRefusal {
            try await worker.withTransaction(settings: scope) { tx in
                _ = try tx.query("INSERT INTO events (company_id, type) VALUES (\(tenant.company), 'two_factor.disabled')")
            }
        }
        #expect(forged?.sqlState == "42501")
        try await worker.withTransaction(settings: scope) { tx in
            _ = try tx.query("INSERT INTO events (company_id, type) VALUES (\(tenant.company), 'email.sent')")
        }
        let types = try await owner.query("SELECT type FROM events ORDER BY id").map { try $0.decode("type", as: String.self) }
        #expect(types == ["email.sent"])
        await worker.close()
        await owner.close()
    }

    /// A stolen worker credential cannot redirect or rewrite a queued email: only its delivery
    /// bookkeeping changes, and its bodies only to the scrub text.
    @Test(.postgres) func theWorkerCannotRedirectOrRewriteAnEmail() async throws {
        let database = try TestDatabase.current
        let owner = database.pool(role: nil)
        let tenant = try await RowLevelSecurityTests.createTenant("Alpha", on: owner)
        let id = UUID()
        try await owner.withTransaction(settings: [("app.company_id", tenant.company.uuidString)]) { tx in
            _ = try tx.query(
                """
                INSERT INTO email_outbox (company_id, id, recipient, template, subject, body_text, body_html, message_id)
                VALUES (\(tenant.company), \(id), 'a@alpha.example', 'login_code', 'Your code', 'Code 123456', '<p>123456</p>', 'm@t')
                """
            )
        }
        let worker = database.pool(role: "tollgate_worker", maxConnections: 1)
        for change in [
            "recipient = 'attacker@evil.example'", "subject = 'Call us'", "body_text = 'Call +1 555 0100'",
            "body_html = '<a href=x>x</a>'", "template = 'invitation'",
        ] {
            let refused = await databaseRefusal {
                _ = try await worker.withTransaction { tx in try tx.query(PQQuery(unsafeSQL: "UPDATE email_outbox SET \(change)")) }
            }
            #expect(refused?.sqlState == "42501", "\(change)")
        }
        try await worker.withTransaction { tx in
            _ = try tx.query(
                """
                UPDATE email_outbox SET status = 'sent', attempts = 1, sent_at = now(), scrubbed = true,
                    body_text = '(removed: this email carried a one-time code)', body_html = '(removed: this email carried a one-time code)'
                """
            )
        }
        let row = try #require(try await owner.query("SELECT recipient, status, body_text FROM email_outbox").first)
        #expect(try row.decode("recipient", as: String.self) == "a@alpha.example")
        #expect(try row.decode("status", as: String.self) == "sent")
        #expect(try row.decode("body_text", as: String.self) == "(removed: this email carried a one-time code)")
        await worker.close()
        await owner.close()
    }

    /// The API role writes code emails and reads their delivery state, never their text.
    @Test(.postgres) func theAPIRoleCannotReadEmailBodies() async throws {
        let database = try TestDatabase.current
        let owner = database.pool(role: nil)
        let tenant = try await RowLevelSecurityTests.createTenant("Alpha", on: owner)
        let api = database.pool(role: "tollgate_api", maxConnections: 1)
        let scope = [("app.company_id", tenant.company.uuidString)]
        let id = UUID()
        try await api.withTransaction(settings: scope) { tx in
            _ = try tx.query(
                """
                INSERT INTO email_outbox (company_id, id, recipient, template, subject, body_text, body_html, message_id)
                VALUES (\(tenant.company), \(id), 'a@alpha.example', 'login_code', 'Your code', 'Code 123456', '<p>123456</p>', 'm@t')
                """
            )
        }
        let status = try await api.withTransaction(settings: scope) { tx in
            try tx.query("SELECT status FROM email_outbox WHERE id = \(id)").first?.decode("status", as: String.self)
        }
        #expect(status == "queued")
        for column in ["body_text", "body_html", "subject", "recipient", "*"] {
            let refused = await databaseRefusal {
                _ = try await api.withTransaction(settings: scope) { tx in
                    try tx.query(PQQuery(unsafeSQL: "SELECT \(column) FROM email_outbox"))
                }
            }
            #expect(refused?.sqlState == "42501", "\(column)")
        }
        await api.close()
        await owner.close()
    }

    /// The rate-limit key is made at random by each database's own migration.
    @Test func eachDatabaseMigratesItsOwnRateLimitKey() async throws {
        var keys: [Data] = []
        for _ in 0..<2 {
            keys.append(
                try await TestDatabase.with(migrated: false) { database in
                    let owner = database.pool(role: nil, maxConnections: 1)
                    try await Migrator(migrations: try Migration.bundled(), logger: TestPostgres.logger).migrate(pool: owner)
                    await owner.close()
                    let api = database.pool(role: "tollgate_api", maxConnections: 1)
                    let key = try await api.query("SELECT key FROM instance_keys WHERE name = 'rate_limit'").first?.decode("key", as: Data.self)
                    await api.close()
                    return try #require(key)
                }
            )
        }
        #expect(keys[0].count == 32 && keys[1].count == 32)
        #expect(keys[0] != keys[1])
    }
}
