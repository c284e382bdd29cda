import EmbeddedPostgres
import Foundation
import NIOConcurrencyHelpers
public import PQ
public import PostgresTestSupport
import TollgateCore

/// What Tollgate's tests add to the test server: the migrated template each test database is
/// cloned from and, with `TEST_THROUGH_PGBOUNCER=1`, pgbouncer in transaction mode in front of
/// the cluster, which every API-role pool then goes through (as in a scaled deployment).
enum TollgateServer {
    private static let prepared = NIOLockedValueBox<Task<Prepared, any Error>?>(nil)

    struct Prepared: Sendable {
        let template: String
        let pooledConninfo: String?
    }

    /// Prepares (once) the template and the pooler.
    static func prepare() async throws -> Prepared {
        let task = prepared.withLockedValue { task -> Task<Prepared, any Error> in
            if let task { return task }
            let new = Task { try await start() }
            task = new
            return new
        }
        return try await task.value
    }

    private static func start() async throws -> Prepared {
        let server = try await TestPostgres.server()
        let template = "tollgate_template_\(getpid())"
        try await offCooperativePool {
            let admin = try PQConnection.connect(server.conninfo)
            try admin.execute(unsafeSQL: "DROP DATABASE IF EXISTS \(template)")
            try admin.execute(unsafeSQL: "CREATE DATABASE \(template)")
        }
        let pool = PQPool(
            configuration: PQPoolConfiguration(conninfo: server.conninfo, overrides: [("dbname", template)], maxConnections: 1),
            logger: TestPostgres.logger
        )
        do {
            try await Migrator(migrations: try Migration.bundled(), logger: TestPostgres.logger).migrate(pool: pool)
        } catch {
            await pool.close()
            throw error
        }
        await pool.close()
        var pooled: String?
        if let cluster = server.cluster, ProcessInfo.processInfo.environment["TEST_THROUGH_PGBOUNCER"] == "1" {
            pooled = try await offCooperativePool { try cluster.startPgbouncer(in: cluster.dataDirectory + "-pgbouncer") }
        }
        return Prepared(template: template, pooledConninfo: pooled)
    }
}

/// A fresh database for one Tollgate test: a clone of the migrated template, whose pools
/// connect as `tollgate_api` unless told otherwise.
public struct TestDatabase: Sendable {
    let scratch: ScratchDatabase
    let pooledConninfo: String?

    public var server: TestPostgres.Server { scratch.server }
    public var name: String { scratch.name }

    /// A pool for this database; `role` picks the login role (nil: the owner).
    public func pool(role: String? = "tollgate_api", maxConnections: Int = 4, acquireTimeout: Duration = .seconds(5)) -> PQPool {
        scratch.pool(
            as: role.map { .role($0) } ?? .owner,
            maxConnections: maxConnections,
            acquireTimeout: acquireTimeout,
            through: role == "tollgate_api" ? pooledConninfo : nil
        )
    }

    /// A libpq connection string for this database (key/value form) for child processes.
    public func conninfo(role: String? = nil) -> String {
        scratch.conninfo(as: role.map { .role($0) } ?? .owner)
    }

    /// Runs `body` with a database of its own, dropped afterwards: a clone of the migrated
    /// template, or with `migrated: false` an empty one (for tests of the migrations).
    public static func with<T>(migrated: Bool = true, _ body: (TestDatabase) async throws -> T) async throws -> T {
        let tollgate = try await TollgateServer.prepare()
        return try await ScratchDatabase.with(cloning: migrated ? tollgate.template : nil) { scratch in
            try await body(TestDatabase(scratch: scratch, pooledConninfo: tollgate.pooledConninfo))
        }
    }
}
