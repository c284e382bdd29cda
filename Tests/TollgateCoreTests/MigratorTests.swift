import Foundation
import PQ
import TestSupport
import TollgateCore
import Testing

/// The migrator applies each file once, in its own transaction, refuses edited history and
/// is safe to run from several processes at once.
@Suite struct MigratorTests {
    /// An empty database of its own on the test server (not cloned from the migrated template).
    static func withEmptyDatabase<T>(_ body: (_ server: TestPostgres.Server, _ name: String) async throws -> T) async throws -> T {
        let server = try await TestPostgres.server()
        let name = "m_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await onThread {
            let admin = try PQConnection.connect(server.conninfo)
            try admin.execute(unsafeSQL: "CREATE DATABASE \(name)")
        }
        let drop: @Sendable () async -> Void = {
            _ = try? await onThread {
                let admin = try PQConnection.connect(server.conninfo)
                try admin.execute(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            }
        }
        do {
            let value = try await body(server, name)
            await drop()
            return value
        } catch {
            await drop()
            throw error
        }
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
                version: 2, name: "half_done",
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
}
