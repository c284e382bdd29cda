public import EmbeddedPostgres
import Foundation
public import Logging
import NIOConcurrencyHelpers
import PQ

/// The PostgreSQL server the tests use: `TEST_DATABASE_URL` when set, otherwise a private
/// cluster started once per test process (and stopped when it exits). It knows no schema:
/// what a test database holds is the test's business (or a layer's above this one).
public enum TestPostgres {
    private static let started = NIOLockedValueBox<Task<Server, any Error>?>(nil)

    /// Where to connect, as a superuser, and the plain role made for the tests.
    public struct Server: Sendable {
        /// A superuser's connection to the server's maintenance database.
        public let conninfo: String
        /// The private cluster, or nil when `TEST_DATABASE_URL` named a server.
        public let cluster: EmbeddedPostgres?
        /// A login role with no attribute beyond LOGIN (no superuser, CREATEDB, CREATEROLE or
        /// BYPASSRLS) and no grant of its own: what PUBLIC may do, it may.
        public let plainRole: String
    }

    public static let logger: Logger = {
        var logger = Logger(label: "tests.postgres")
        logger.logLevel = .warning
        return logger
    }()

    /// Starts (once) the server and makes its plain role.
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
        // Roles are cluster-wide: on a server of TEST_DATABASE_URL an earlier run may have made it.
        let plainRole = "tests_plain"
        try await offCooperativePool { [conninfo] in
            let admin = try PQConnection.connect(conninfo)
            try admin.execute(
                unsafeSQL: """
                    DO $$ BEGIN
                        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '\(plainRole)') THEN
                            CREATE ROLE \(plainRole) LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
                        END IF;
                    END $$
                    """
            )
        }
        return Server(conninfo: conninfo, cluster: cluster, plainRole: plainRole)
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
