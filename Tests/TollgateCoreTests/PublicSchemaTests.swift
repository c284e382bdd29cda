import Foundation
import PQ
import TestSupport
import Testing
import TollgateCore

/// A cluster upgraded from PostgreSQL 14 keeps `CREATE` on schema `public` for every role; the
/// migrations take it back (issue 22), so no login role of Tollgate can plant a table there.
@Suite struct PublicSchemaTests {
    @Test func noRoleOfTollgateCreatesATableInPublicEvenOnAnUpgradedCluster() async throws {
        try await TestDatabase.with(migrated: false) { database in
            let owner = database.pool(role: nil, maxConnections: 1)
            // What PostgreSQL 14 and earlier granted, and an upgrade keeps.
            _ = try await owner.query("GRANT CREATE ON SCHEMA public TO PUBLIC")
            try await Migrator(migrations: try Migration.bundled(), logger: TestPostgres.logger).migrate(pool: owner)
            await owner.close()
            for role in ["tollgate_api", "tollgate_worker", "tollgate_support"] {
                let pool = database.pool(role: role, maxConnections: 1)
                let refused = await databaseRefusal { _ = try await pool.query("CREATE TABLE public.planted (id integer)") }
                #expect(refused?.sqlState == "42501", "\(role) created a table in public")
                await pool.close()
            }
        }
    }
}
