import Foundation
import NIOConcurrencyHelpers
public import PQ

/// A database of one test's own on the test server, dropped when the test ends: empty, or a
/// clone of a template someone prepared.
public struct ScratchDatabase: Sendable {
    public let server: TestPostgres.Server
    public let name: String
    /// Every pool handed out, closed when the test ends (each holds threads of its own).
    private let pools = NIOLockedValueBox<[PQPool]>([])

    /// Who a connection logs in as.
    public enum Login: Sendable, Equatable {
        /// The server's superuser, which owns the database.
        case owner
        /// The server's plain role (``TestPostgres/Server/plainRole``).
        case plain
        /// A role made by someone else, such as a template's migrations.
        case role(String)
    }

    init(server: TestPostgres.Server, name: String) {
        self.server = server
        self.name = name
    }

    /// The libpq keywords that point a connection of `server` at this database as `login`.
    public func overrides(as login: Login) -> [(String, String)] {
        switch login {
        case .owner: [("dbname", name)]
        case .plain: [("dbname", name), ("user", server.plainRole)]
        case .role(let role): [("dbname", name), ("user", role)]
        }
    }

    /// A pool for this database, closed when the test ends if the test did not close it;
    /// `conninfo` replaces the server's (a pooler in front of it, say).
    public func pool(
        as login: Login = .plain,
        maxConnections: Int = 4,
        acquireTimeout: Duration = .seconds(5),
        through conninfo: String? = nil
    ) -> PQPool {
        let pool = PQPool(
            configuration: PQPoolConfiguration(
                conninfo: conninfo ?? server.conninfo,
                overrides: overrides(as: login),
                maxConnections: maxConnections,
                acquireTimeout: acquireTimeout
            ),
            logger: TestPostgres.logger
        )
        pools.withLockedValue { $0.append(pool) }
        return pool
    }

    /// A libpq connection string for this database (key/value form), for a connection or a
    /// child process of the test's own.
    public func conninfo(as login: Login) -> String {
        server.conninfo + overrides(as: login).map { " \($0)=\($1)" }.joined()
    }

    /// Runs `body` with a database of its own, dropped afterwards: an empty one, or a clone of
    /// `template`.
    public static func with<T>(cloning template: String? = nil, _ body: (ScratchDatabase) async throws -> T) async throws -> T {
        let server = try await TestPostgres.server()
        let name = (template == nil ? "e_" : "t_") + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = try await offCooperativePool {
            let admin = try PQConnection.connect(server.conninfo)
            try admin.execute(unsafeSQL: "CREATE DATABASE \(name)" + (template.map { " TEMPLATE \($0)" } ?? ""))
            return admin
        }
        let database = ScratchDatabase(server: server, name: name)
        let drop: @Sendable () async -> Void = {
            for pool in database.pools.withLockedValue({ $0 }) { await pool.close() }
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
