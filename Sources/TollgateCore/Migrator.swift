import Crypto
public import Foundation
public import Logging
public import PQ

/// A migration file of `sql/`: `NNNN_name.sql`.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String
    /// `NNNN_name.sql`, as errors and logs name it.
    public var fileName: String {
        let digits = String(version)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits + "_" + name + ".sql"
    }
    /// SHA-256 of the file, hex; a landed file must never change.
    public var checksum: String { lowercaseHex(SHA256.hash(data: Data(sql.utf8))) }

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// The migrations shipped with this build, in order: `TOLLGATE_MIGRATIONS_DIR` when set,
    /// otherwise the resource folder SwiftPM puts beside the executable. (Not `Bundle.module`,
    /// which crashes the process when the folder is missing instead of saying so.)
    public static func bundled() throws -> [Migration] {
        if let folder = ProcessInfo.processInfo.environment["TOLLGATE_MIGRATIONS_DIR"], !folder.isEmpty {
            return try load(from: URL(fileURLWithPath: folder))
        }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let folder = URL(fileURLWithPath: executable).deletingLastPathComponent()
            .appendingPathComponent("tollgate_TollgateCore.resources").appendingPathComponent("Migrations")
        guard FileManager.default.fileExists(atPath: folder.path) else {
            throw MigrationError(
                message: "the migrations folder \(folder.path) is missing: ship it beside the executable or set TOLLGATE_MIGRATIONS_DIR"
            )
        }
        return try load(from: folder)
    }

    /// Reads `NNNN_name.sql` files from a folder; anything else there is an error.
    public static func load(from directory: URL) throws -> [Migration] {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }.sorted()
        var migrations: [Migration] = []
        for file in files {
            let stem = file.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]), version > 0 else {
                throw MigrationError(message: "migration file \(file) is not named NNNN_name.sql")
            }
            if migrations.last?.version == version {
                throw MigrationError(message: "two migration files have version \(version)")
            }
            let sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            migrations.append(Migration(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql))
        }
        return migrations
    }
}

/// A migration problem, naming the file when there is one.
public struct MigrationError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// Applies migrations in order, each in its own transaction, recorded with its checksum,
/// under an advisory lock so that concurrent runs apply each file exactly once.
public struct Migrator: Sendable {
    public let migrations: [Migration]
    /// The role names to grant to; nil takes what the database was first migrated with
    /// (or the default names on a new database).
    public let roles: DatabaseRoles?
    let logger: Logger
    /// The advisory lock key: "tollgate" as a number, so other users of locks don't collide.
    static let lockKey: Int = 0x746F_6C6C_6761_7465

    public init(migrations: [Migration], roles: DatabaseRoles? = nil, logger: Logger) {
        self.migrations = migrations
        self.roles = roles
        self.logger = logger
    }

    /// Applies what is missing and returns the versions applied by this call.
    @discardableResult
    public func migrate(pool: PQPool) async throws -> [Int] {
        let migrations = try Self.ordered(self.migrations)
        let logger = self.logger
        let requestedRoles = self.roles
        return try await pool.withConnection { connection in
            // A session-level lock: held across the per-file transactions, released below
            // (or by the server when the connection dies).
            try connection.query("migrate.lock", "SELECT pg_advisory_lock(\(Self.lockKey))")
            defer { _ = try? connection.query("migrate.unlock", "SELECT pg_advisory_unlock(\(Self.lockKey))") }
            try connection.execute(
                unsafeSQL: """
                    CREATE TABLE IF NOT EXISTS schema_migrations (
                        version integer PRIMARY KEY,
                        name text NOT NULL,
                        checksum text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now(),
                        role_prefix text
                    )
                    """,
                statement: "migrate.bookkeeping"
            )
            // Databases migrated before role names were configurable lack the column; they
            // used the default names, which is what a missing prefix means below.
            let hasPrefixColumn: PQQuery = """
                SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'schema_migrations'::regclass
                               AND attname = 'role_prefix' AND NOT attisdropped) AS present
                """
            if try connection.query(hasPrefixColumn.named("migrate.prefix_column")).first?.decode("present", as: Bool.self) != true {
                try connection.execute(
                    unsafeSQL: "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS role_prefix text",
                    statement: "migrate.bookkeeping"
                )
            }
            var applied: [Int: String] = [:]
            var recordedPrefixes: Set<String> = []
            let appliedRows: PQQuery =
                "SELECT version, checksum, coalesce(role_prefix, \(DatabaseRoles.defaultPrefix)) AS role_prefix FROM schema_migrations"
            for row in try connection.query(appliedRows.named("migrate.applied")) {
                applied[try row.decode("version", as: Int.self)] = try row.decode("checksum", as: String.self)
                recordedPrefixes.insert(try row.decode("role_prefix", as: String.self))
            }
            let roles = try Self.roles(requested: requestedRoles, recorded: recordedPrefixes)
            var done: [Int] = []
            for migration in migrations {
                let fileName = migration.fileName
                if let checksum = applied[migration.version] {
                    guard checksum == migration.checksum else {
                        throw MigrationError(message: "migration \(fileName) was changed after it was applied (checksum differs)")
                    }
                    continue
                }
                do {
                    try connection.execute(unsafeSQL: "BEGIN", statement: "begin")
                    try connection.execute(unsafeSQL: roles.render(migration.sql), statement: fileName)
                    let record: PQQuery = """
                        INSERT INTO schema_migrations (version, name, checksum, role_prefix)
                        VALUES (\(migration.version), \(migration.name), \(migration.checksum), \(roles.prefix))
                        """
                    try connection.query(record.named("migrate.record"))
                    try connection.execute(unsafeSQL: "COMMIT", statement: "commit")
                } catch {
                    _ = try? connection.execute(unsafeSQL: "ROLLBACK")
                    throw MigrationError(message: "migration \(fileName) failed: \(error)")
                }
                logger.info("migrate.applied", metadata: ["migration": "\(fileName)", "role_prefix": "\(roles.prefix)"])
                done.append(migration.version)
            }
            // Migrations applied by a newer build are unknown to this one.
            if let newest = applied.keys.max(), newest > (migrations.last?.version ?? 0) {
                logger.warning("migrate.database_is_newer", metadata: ["version": "\(newest)"])
            }
            return done
        }
    }

    /// The role names to migrate with. The grants of applied files name the roles they were
    /// applied with, so a database keeps its first prefix: asking for another is an error.
    static func roles(requested: DatabaseRoles?, recorded: Set<String>) throws -> DatabaseRoles {
        guard let first = recorded.first else { return requested ?? .default }
        guard recorded.count == 1 else {
            throw MigrationError(
                message: "schema_migrations records several role prefixes (\(recorded.sorted().joined(separator: ", "))); fix it by hand"
            )
        }
        if let requested, requested.prefix != first {
            throw MigrationError(
                message: "this database was migrated with DATABASE_ROLE_PREFIX=\(first) and its grants name those roles; "
                    + "migrate it with that prefix (or unset DATABASE_ROLE_PREFIX), not \(requested.prefix)"
            )
        }
        return try DatabaseRoles(prefix: first)
    }

    /// The migrations in version order; two with one version are an error, found before
    /// anything is applied (a list built in code need not come sorted, as `load` makes it).
    static func ordered(_ migrations: [Migration]) throws -> [Migration] {
        let sorted = migrations.sorted { $0.version < $1.version }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where previous.version == next.version {
            throw MigrationError(message: "migrations \(previous.fileName) and \(next.fileName) have the same version")
        }
        return sorted
    }

    /// True when every bundled migration is applied (for readiness checks).
    public func isCurrent(pool: PQPool) async throws -> Bool {
        let expected = migrations.map(\.version).max() ?? 0
        let rows = try await pool.query(
            "migrate.current",
            "SELECT coalesce(max(version), 0) AS version FROM schema_migrations"
        )
        return try rows.first?.decode("version", as: Int.self) ?? 0 >= expected
    }
}
