import Foundation
import PQ
import TestSupport
import Testing
import TollgateCore

/// The migrator applies each file once, in its own transaction, refuses edited history and
/// is safe to run from several processes at once.
@Suite struct MigratorTests {
    /// An empty database of its own on the test server (not cloned from the migrated template).
    static func withEmptyDatabase<T>(_ body: (_ server: TestPostgres.Server, _ name: String) async throws -> T) async throws -> T {
        try await TestDatabase.with(migrated: false) { try await body($0.server, $0.name) }
    }

    /// Blocking libpq work, kept off Swift's cooperative threads.
    static func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await offCooperativePool(work)
    }

    static func pool(_ server: TestPostgres.Server, _ name: String, maxConnections: Int = 1) -> PQPool {
        PQPool(
            configuration: PQPoolConfiguration(conninfo: server.conninfo, overrides: [("dbname", name)], maxConnections: maxConnections),
            logger: TestPostgres.logger
        )
    }

    static func recorded(on pool: PQPool) async throws -> [Int] {
        try await pool.query("SELECT version FROM schema_migrations ORDER BY version").map { try $0.decode("version", as: Int.self) }
    }

    @Test func applyingTwiceAppliesNothingTheSecondTime() async throws {
        try await Self.withEmptyDatabase { server, name in
            let pool = Self.pool(server, name)
            let migrations = try Migration.bundled()
            let migrator = Migrator(migrations: migrations, logger: TestPostgres.logger)
            let first = try await migrator.migrate(pool: pool)
            #expect(first == migrations.map(\.version))
            #expect(!first.isEmpty)
            let second = try await migrator.migrate(pool: pool)
            #expect(second.isEmpty)
            #expect(try await Self.recorded(on: pool) == migrations.map(\.version))
            #expect(try await migrator.isCurrent(pool: pool))
            // The recorded checksums are the files' SHA-256.
            let checksums = try await pool.query("SELECT checksum FROM schema_migrations ORDER BY version").map {
                try $0.decode("checksum", as: String.self)
            }
            #expect(checksums == migrations.map(\.checksum))
            await pool.close()
        }
    }

    @Test func aChangedAppliedFileIsAnErrorNamingIt() async throws {
        try await Self.withEmptyDatabase { server, name in
            let pool = Self.pool(server, name)
            let original = [
                Migration(version: 1, name: "create_widgets", sql: "CREATE TABLE widgets (id int)"),
                Migration(version: 2, name: "add_colour", sql: "ALTER TABLE widgets ADD COLUMN colour text"),
            ]
            try await Migrator(migrations: original, logger: TestPostgres.logger).migrate(pool: pool)
            var edited = original
            edited[1] = Migration(version: 2, name: "add_colour", sql: "ALTER TABLE widgets ADD COLUMN colour text NOT NULL")
            edited.append(Migration(version: 3, name: "never_reached", sql: "CREATE TABLE later (id int)"))
            let error = try await #require(throws: MigrationError.self) {
                try await Migrator(migrations: edited, logger: TestPostgres.logger).migrate(pool: pool)
            }
            #expect(error.message.contains("0002_add_colour.sql"), "\(error.message)")
            #expect(error.message.contains("changed"))
            // Nothing after the edited file was applied.
            #expect(try await Self.recorded(on: pool) == [1, 2])
            // The lock was released: the unchanged list still runs (and finds nothing to do).
            #expect(try await Migrator(migrations: original, logger: TestPostgres.logger).migrate(pool: pool).isEmpty)
            await pool.close()
        }
    }

    @Test func fourConcurrentRunsApplyEachFileOnce() async throws {
        try await Self.withEmptyDatabase { server, name in
            let migrations = try Migration.bundled()
            let pools = (0..<4).map { _ in Self.pool(server, name) }
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for pool in pools {
                    group.addTask { try await Migrator(migrations: migrations, logger: TestPostgres.logger).migrate(pool: pool) }
                }
                return try await group.reduce(into: [Int]()) { $0 += $1 }
            }
            #expect(applied.sorted() == migrations.map(\.version))
            let counts = try await pools[0].query("SELECT version, count(*) AS n FROM schema_migrations GROUP BY version ORDER BY version")
            #expect(try counts.map { try $0.decode("version", as: Int.self) } == migrations.map(\.version))
            #expect(try counts.map { try $0.decode("n", as: Int.self) }.allSatisfy { $0 == 1 })
            for pool in pools { await pool.close() }
        }
    }

    @Test func aFailingMigrationRollsBackAndIsNotRecorded() async throws {
        try await Self.withEmptyDatabase { server, name in
            let pool = Self.pool(server, name)
            let good = Migration(version: 1, name: "create_widgets", sql: "CREATE TABLE widgets (id int)")
            let bad = Migration(
                version: 2,
                name: "half_done",
                sql: "CREATE TABLE gadgets (id int);\nINSERT INTO widgets VALUES (1);\nSELECT 1 / 0;"
            )
            let error = try await #require(throws: MigrationError.self) {
                try await Migrator(migrations: [good, bad], logger: TestPostgres.logger).migrate(pool: pool)
            }
            #expect(error.message.contains("0002_half_done.sql"), "\(error.message)")
            #expect(try await Self.recorded(on: pool) == [1])
            let state = try #require(
                try await pool.query("SELECT to_regclass('gadgets') IS NULL AS no_gadgets, (SELECT count(*) FROM widgets) AS widgets").first
            )
            #expect(try state.decode("no_gadgets", as: Bool.self))
            #expect(try state.decode("widgets", as: Int.self) == 0)
            // Fixed, it applies on the next run; and the connection was left usable.
            let fixed = Migration(version: 2, name: "half_done", sql: "CREATE TABLE gadgets (id int)")
            #expect(try await Migrator(migrations: [good, fixed], logger: TestPostgres.logger).migrate(pool: pool) == [2])
            await pool.close()
        }
    }

    /// A list built in code is applied in version order, whatever order it was written in.
    @Test func migrationsApplyInVersionOrderAndDuplicateVersionsAreRefused() async throws {
        try await Self.withEmptyDatabase { server, name in
            let pool = Self.pool(server, name)
            let create = Migration(version: 1, name: "create_widgets", sql: "CREATE TABLE widgets (id int)")
            let alter = Migration(version: 2, name: "add_colour", sql: "ALTER TABLE widgets ADD COLUMN colour text")
            let clash = Migration(version: 2, name: "other", sql: "CREATE TABLE other (id int)")
            let error = try await #require(throws: MigrationError.self) {
                try await Migrator(migrations: [create, alter, clash], logger: TestPostgres.logger).migrate(pool: pool)
            }
            #expect(error.message.contains("0002"), "\(error.message)")
            #expect(try await Migrator(migrations: [alter, create], logger: TestPostgres.logger).migrate(pool: pool) == [1, 2])
            #expect(try await Self.recorded(on: pool) == [1, 2])
            await pool.close()
        }
    }

    @Test func theBundledFilesAreNumberedInOrder() throws {
        let migrations = try Migration.bundled()
        #expect(!migrations.isEmpty)
        #expect(migrations.map(\.version) == Array(1...migrations.count))
    }

    @Test func rolePrefixesRenameEveryWholeRoleNameAndNothingElse() throws {
        let roles = try DatabaseRoles(prefix: "staging")
        let sql = """
            GRANT SELECT ON users TO tollgate_api, tollgate_worker;
            ALTER VIEW v OWNER TO tollgate_support_reader; GRANT USAGE ON SCHEMA support TO tollgate_support;
            SELECT FROM pg_roles WHERE rolname = 'tollgate_api';
            PERFORM pg_notify('tollgate_outbox', ''); SELECT current_setting('tollgate.support_reader_granted', true);
            SELECT my_tollgate_api, tollgate_apis, tollgate_api2;
            """
        #expect(
            roles.render(sql) == """
                GRANT SELECT ON users TO staging_api, staging_worker;
                ALTER VIEW v OWNER TO staging_support_reader; GRANT USAGE ON SCHEMA support TO staging_support;
                SELECT FROM pg_roles WHERE rolname = 'staging_api';
                PERFORM pg_notify('tollgate_outbox', ''); SELECT current_setting('tollgate.support_reader_granted', true);
                SELECT my_tollgate_api, tollgate_apis, tollgate_api2;
                """
        )
        #expect(DatabaseRoles.default.render(sql) == sql)
        for bad in ["", "Staging", "1st", "a-b", "a b", "x\"; DROP ROLE postgres; --", String(repeating: "a", count: 41)] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try DatabaseRoles(prefix: bad) }
        }
    }

    /// Roles are cluster-wide; a prefix keeps two deployments on one cluster apart. Every grant,
    /// policy and ownership of the bundled files goes to the prefixed roles, and a database
    /// keeps the prefix it was first migrated with.
    @Test func aRolePrefixNamesEveryRoleAndSticksToTheDatabase() async throws {
        try await Self.withEmptyDatabase { server, name in
            let prefix = "p" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(10)
            let roles = try DatabaseRoles(prefix: prefix)
            // Migrate as production does: the database's owner, with CREATEROLE, not a superuser.
            let migrator = "o" + prefix
            try await Self.onThread {
                let admin = try PQConnection.connect(server.conninfo)
                try admin.execute(unsafeSQL: "CREATE ROLE \(migrator) LOGIN CREATEROLE")
                try admin.execute(unsafeSQL: "ALTER DATABASE \(name) OWNER TO \(migrator)")
            }
            let pool = PQPool(
                configuration: PQPoolConfiguration(conninfo: server.conninfo, overrides: [("dbname", name), ("user", migrator)], maxConnections: 1),
                logger: TestPostgres.logger
            )
            let migrations = try Migration.bundled()
            #expect(
                try await Migrator(migrations: migrations, roles: roles, logger: TestPostgres.logger).migrate(pool: pool) == migrations.map(\.version)
            )

            let created = try await pool.query(
                "SELECT rolname, rolcanlogin, rolsuper OR rolbypassrls OR rolcreaterole OR rolcreatedb AS privileged FROM pg_roles WHERE starts_with(rolname, \(prefix + "_")) ORDER BY rolname"
            ).map {
                (try $0.decode("rolname", as: String.self), try $0.decode("rolcanlogin", as: Bool.self), try $0.decode("privileged", as: Bool.self))
            }
            #expect(created.map(\.0) == [roles.api, roles.support, roles.supportReader, roles.worker])
            #expect(created.map(\.1) == [true, true, false, true])
            #expect(created.allSatisfy { !$0.2 })

            // What each role may do here, against what the default roles may (nothing).
            let checks: [(String, Bool)] = [
                ("has_table_privilege('\(roles.api)', 'public.users', 'SELECT')", true),
                ("has_table_privilege('\(roles.api)', 'public.email_outbox', 'UPDATE')", false),
                ("has_function_privilege('\(roles.api)', 'public.open_challenges()', 'EXECUTE')", true),
                ("has_function_privilege('\(roles.api)', 'public.login_lookup(text)', 'EXECUTE')", true),
                ("has_function_privilege('\(roles.api)', 'public.rate_limit_hit(text, bigint, bigint, boolean)', 'EXECUTE')", true),
                ("has_function_privilege('\(roles.worker)', 'public.rate_limit_hit(text, bigint, bigint, boolean)', 'EXECUTE')", false),
                ("has_function_privilege('\(roles.support)', 'public.rate_limit_hit(text, bigint, bigint, boolean)', 'EXECUTE')", false),
                ("has_function_privilege('\(roles.api)', 'public.challenge_locate(text, bytea[], uuid, uuid)', 'EXECUTE')", true),
                ("has_function_privilege('\(roles.worker)', 'public.challenge_locate(text, bytea[], uuid, uuid)', 'EXECUTE')", false),
                ("has_function_privilege('\(roles.support)', 'public.challenge_locate(text, bytea[], uuid, uuid)', 'EXECUTE')", false),
                ("to_regprocedure('public.expect_outcome(boolean, text)') IS NULL", true),
                // The worker updates an email's delivery bookkeeping only, never its recipient.
                ("has_column_privilege('\(roles.worker)', 'public.email_outbox', 'status', 'UPDATE')", true),
                ("has_column_privilege('\(roles.worker)', 'public.email_outbox', 'recipient', 'UPDATE')", false),
                ("has_function_privilege('\(roles.worker)', 'public.purge_ended(integer)', 'EXECUTE')", true),
                ("has_function_privilege('\(roles.api)', 'public.purge_ended(integer)', 'EXECUTE')", false),
                ("has_table_privilege('\(roles.worker)', 'public.retention_settings', 'SELECT')", false),
                ("has_schema_privilege('\(roles.api)', 'public', 'CREATE')", false),
                ("has_schema_privilege('\(roles.worker)', 'public', 'CREATE')", false),
                ("has_table_privilege('\(roles.worker)', 'public.users', 'SELECT')", false),
                ("has_table_privilege('\(roles.worker)', 'public.email_attempts', 'INSERT')", true),
                ("has_table_privilege('\(roles.worker)', 'public.email_attempts', 'SELECT')", false),
                ("has_table_privilege('\(roles.api)', 'public.email_attempts', 'SELECT')", false),
                ("has_table_privilege('\(roles.support)', 'support.users', 'SELECT')", true),
                ("has_table_privilege('\(roles.support)', 'public.users', 'SELECT')", false),
                ("has_function_privilege('\(roles.support)', 'public.open_challenges()', 'EXECUTE')", false),
                ("has_database_privilege('\(roles.api)', current_database(), 'CONNECT')", true),
                ("has_table_privilege('tollgate_api', 'public.users', 'SELECT')", false),
                ("has_table_privilege('tollgate_worker', 'public.email_outbox', 'SELECT')", false),
                ("has_table_privilege('tollgate_support', 'support.users', 'SELECT')", false),
                ("(SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'support.users'::regclass) = '\(roles.supportReader)'", true),
                (
                    "(SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE oid = 'public.open_challenges()'::regprocedure) = '\(roles.supportReader)'",
                    true
                ),
                (
                    "EXISTS (SELECT 1 FROM pg_policies WHERE policyname = 'worker' AND tablename = 'email_outbox' AND '\(roles.worker)' = ANY (roles))",
                    true
                ),
                // The membership taken for the ownership changes was given back.
                ("pg_has_role(current_user, '\(roles.supportReader)', 'MEMBER')", false),
                ("(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)", false),
            ]
            for (check, expected) in checks {
                let row = try await pool.query(PQQuery(unsafeSQL: "SELECT (\(check)) AS ok"))
                #expect(try row.first?.decode("ok", as: Bool.self) == expected, "\(check)")
            }

            // Another prefix would grant new files to roles the old ones never heard of.
            let other = try await #require(throws: MigrationError.self) {
                try await Migrator(migrations: migrations, roles: try DatabaseRoles(prefix: "other"), logger: TestPostgres.logger).migrate(pool: pool)
            }
            #expect(other.message.contains("DATABASE_ROLE_PREFIX=\(prefix)"), "\(other.message)")
            // Without a prefix the database's own is used.
            let again = Migrator(
                migrations: migrations + [Migration(version: 99, name: "later", sql: "GRANT SELECT ON users TO tollgate_support_reader")],
                logger: TestPostgres.logger
            )
            #expect(try await again.migrate(pool: pool) == [99])
            let recorded = try await pool.query("SELECT DISTINCT role_prefix FROM schema_migrations").map {
                try $0.decode("role_prefix", as: String.self)
            }
            #expect(recorded == [prefix])
            await pool.close()
        }
    }

    /// Databases migrated before prefixes existed used the default names.
    @Test func aDatabaseMigratedBeforePrefixesKeepsTheDefaultNames() async throws {
        try await Self.withEmptyDatabase { server, name in
            let pool = Self.pool(server, name)
            let migrations = try Migration.bundled()
            try await Migrator(migrations: Array(migrations.prefix(5)), logger: TestPostgres.logger).migrate(pool: pool)
            try await pool.query("ALTER TABLE schema_migrations DROP COLUMN role_prefix")
            let error = try await #require(throws: MigrationError.self) {
                try await Migrator(migrations: migrations, roles: try DatabaseRoles(prefix: "fresh"), logger: TestPostgres.logger).migrate(pool: pool)
            }
            #expect(error.message.contains("DATABASE_ROLE_PREFIX=tollgate"), "\(error.message)")
            #expect(
                try await Migrator(migrations: migrations, logger: TestPostgres.logger).migrate(pool: pool)
                    == Array(migrations.map(\.version).dropFirst(5))
            )
            let owner = try await pool.query(
                "SELECT pg_get_userbyid(proowner) AS owner FROM pg_proc WHERE oid = 'public.open_challenges()'::regprocedure"
            )
            #expect(try owner.first?.decode("owner", as: String.self) == "tollgate_support_reader")
            await pool.close()
        }
    }
}
