public import EmbeddedPostgres
import Foundation
public import Logging
import NIOConcurrencyHelpers
public import PQ
import TollgateCore

/// The PostgreSQL server the tests use: `TEST_DATABASE_URL` when set, otherwise a private
/// cluster started once per test process (and stopped when it exits).
public enum TestPostgres {
    private static let started = NIOLockedValueBox<Task<Server, any Error>?>(nil)

    /// Where to connect and the migrated template each test database is cloned from.
    public struct Server: Sendable {
        public let conninfo: String
        public let template: String
        public let cluster: EmbeddedPostgres?
        /// With `TEST_THROUGH_PGBOUNCER=1`: pgbouncer in transaction mode in front of the
        /// cluster, which every API-role pool then goes through (as in a scaled deployment).
        public let pooledConninfo: String?
    }

    public static let logger: Logger = {
        var logger = Logger(label: "tollgate.tests")
        logger.logLevel = .warning
        return logger
    }()

    /// Starts (once) the server and the migrated template database.
    public static func server() async throws -> Server {
        let task = started.withLockedValue { task -> Task<Server, any Error> in
            if let task { return task }
            let new = Task { try await start() }
            task = new
            return new
        }
        return try await task.value
    }

    private static func start() async throws -> Server {
        var conninfo = ProcessInfo.processInfo.environment["TEST_DATABASE_URL"] ?? ""
        var cluster: EmbeddedPostgres?
        if conninfo.isEmpty {
            let folder = NSTemporaryDirectory() + "tollgate-tests-\(getpid())"
            let embedded = EmbeddedPostgres(dataDirectory: folder, port: 5432, fast: true, logger: logger)
            try await offCooperativePool {
                try embedded.start()
                try embedded.stopWhenProcessExits(getpid())
            }
            conninfo = embedded.conninfo()
            cluster = embedded
        }
        let template = "tollgate_template_\(getpid())"
        try await offCooperativePool { [conninfo] in
            let admin = try PQConnection.connect(conninfo)
            try admin.execute(unsafeSQL: "DROP DATABASE IF EXISTS \(template)")
            try admin.execute(unsafeSQL: "CREATE DATABASE \(template)")
        }
        let pool = PQPool(
            configuration: PQPoolConfiguration(conninfo: conninfo, overrides: [("dbname", template)], maxConnections: 1),
            logger: logger
        )
        do {
            try await Migrator(migrations: try Migration.bundled(), logger: logger).migrate(pool: pool)
        } catch {
            await pool.close()
            throw error
        }
        await pool.close()
        var pooled: String?
        if let cluster, ProcessInfo.processInfo.environment["TEST_THROUGH_PGBOUNCER"] == "1" {
            pooled = try await offCooperativePool { try cluster.startPgbouncer(in: cluster.dataDirectory + "-pgbouncer") }
        }
        return Server(conninfo: conninfo, template: template, cluster: cluster, pooledConninfo: pooled)
    }
}

/// A fresh database for one test, cloned from the migrated template.
public struct TestDatabase: Sendable {
    public let server: TestPostgres.Server
    public let name: String
    /// Every pool handed out, closed when the test ends (each holds threads of its own).
    private let pools = NIOLockedValueBox<[PQPool]>([])

    init(server: TestPostgres.Server, name: String) {
        self.server = server
        self.name = name
    }

    /// Connection overrides for this database as the migrating owner.
    public var ownerOverrides: [(String, String)] { [("dbname", name)] }
    /// The same, connecting as the API role (row-level security applies).
    public var apiOverrides: [(String, String)] { [("dbname", name), ("user", "tollgate_api")] }
    public var workerOverrides: [(String, String)] { [("dbname", name), ("user", "tollgate_worker")] }

    /// A pool for this database; `role` picks the login role (nil: the owner).
    public func pool(role: String? = "tollgate_api", maxConnections: Int = 4, acquireTimeout: Duration = .seconds(5)) -> PQPool {
        var overrides = [("dbname", name)]
        if let role { overrides.append(("user", role)) }
        let throughPooler = role == "tollgate_api" ? server.pooledConninfo : nil
        let pool = PQPool(
            configuration: PQPoolConfiguration(
                conninfo: throughPooler ?? server.conninfo,
                overrides: overrides,
                maxConnections: maxConnections,
                acquireTimeout: acquireTimeout
            ),
            logger: TestPostgres.logger
        )
        pools.withLockedValue { $0.append(pool) }
        return pool
    }

    /// Closes the pools a test did not close itself (closing twice is harmless).
    func closePools() async {
        for pool in pools.withLockedValue({ $0 }) { await pool.close() }
    }

    /// A libpq connection string for this database (key/value form) for child processes.
    public func conninfo(role: String? = nil) -> String {
        var text = server.conninfo + " dbname=\(name)"
        if let role { text += " user=\(role)" }
        return text
    }

    /// Runs `body` with a database of its own, dropped afterwards: a clone of the migrated
    /// template, or with `migrated: false` an empty one (for tests of the migrations).
    public static func with<T>(migrated: Bool = true, _ body: (TestDatabase) async throws -> T) async throws -> T {
        let server = try await TestPostgres.server()
        let name = (migrated ? "t_" : "e_") + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = try await offCooperativePool {
            let admin = try PQConnection.connect(server.conninfo)
            try admin.execute(unsafeSQL: "CREATE DATABASE \(name)" + (migrated ? " TEMPLATE \(server.template)" : ""))
            return admin
        }
        let database = TestDatabase(server: server, name: name)
        let drop: @Sendable () async -> Void = {
            await database.closePools()
            _ = try? await offCooperativePool { try admin.execute(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
        }
        do {
            let value = try await body(database)
            await drop()
            return value
        } catch {
            await drop()
            throw error
        }
    }
}

/// Runs blocking work (initdb, CREATE DATABASE from a template) on a thread of its own: on
/// Swift's few cooperative threads it stalled every other test of the process, timers included.
/// (Not a dispatch queue: on Linux those are the threads Swift's executor runs on.)
public func offCooperativePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
