import Hummingbird
import Logging
import PQ

/// `/health/live` (the process answers) and `/health/ready` (the database answers and its
/// migrations are current).
struct HealthRoutes {
    let pool: PQPool
    let expectedMigration: Int

    func register(on router: Router<TollgateRequestContext>) {
        router.get("/health/live") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
        }
        router.get("/health/ready") { _, context in
            do {
                let rows = try await pool.query("SELECT coalesce(max(version), 0) AS version FROM schema_migrations")
                let version = try rows.first?.decode("version", as: Int.self) ?? 0
                guard version >= expectedMigration else {
                    throw APIError(.serviceUnavailable, "not_ready", "The database schema is not migrated.", retryAfter: 5)
                }
                return Response(
                    status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ready"}"#))
                )
            } catch let error as APIError {
                throw error
            } catch {
                context.logger.warning("health.not_ready", metadata: ["error": "\(error)"])
                throw APIError(.serviceUnavailable, "not_ready", "The database is not reachable.", retryAfter: 5)
            }
        }
    }
}
