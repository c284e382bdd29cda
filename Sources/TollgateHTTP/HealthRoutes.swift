import Hummingbird
import Logging
import PQ
import TollgateCore

/// `/health/live` (the process answers) and `/health/ready` (the database answers and its
/// migrations are current).
struct HealthRoutes {
    let pool: PQPool
    /// The migrations this build ships; ready once the database has them all.
    let migrator: Migrator

    func register(on router: Router<TollgateRequestContext>) {
        router.get("/health/live") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
        }
        router.get("/health/ready") { _, context in
            do {
                try await Self.requireWritable(pool)
                guard try await migrator.isCurrent(pool: pool) else {
                    throw APIError(.serviceUnavailable, "not_ready", "The database schema is not migrated.", retryAfter: 5)
                }
                return Response(
                    status: .ok,
                    headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ready"}"#))
                )
            } catch let error as APIError {
                throw error
            } catch {
                context.logger.warning("health.not_ready", metadata: ["error": "\(error)"])
                throw APIError(.serviceUnavailable, "not_ready", Self.why(error), retryAfter: 5)
            }
        }
    }

    /// Fails with 25006 when the connection reaches a read-only server (a standby, or a primary
    /// being demoted): such a server would answer this probe but refuse every login, and the
    /// pool drops a connection that failed so (SPEC §15).
    static func requireWritable(_ pool: PQPool) async throws {
        try await pool.withConnection { connection in
            let rows = try connection.query("SELECT current_setting('transaction_read_only') AS ro")
            if try rows.first?.decode("ro", as: String.self) == "on" {
                throw PQError(kind: .server, sqlState: "25006", message: "the database server is read-only")
            }
        }
    }

    /// What an operator reads in the 503 of `/health/ready`.
    static func why(_ error: any Error) -> String {
        guard let error = error as? PQError else { return "The database is not reachable." }
        if error.isReadOnly { return "The database is read-only: no primary accepts writes (a failover may be under way)." }
        if error.kind == .poolExhausted { return "No database connection came free in time." }
        if error.sqlState == "57014" { return "The database did not answer within the statement timeout." }
        return "The database is not reachable."
    }
}
