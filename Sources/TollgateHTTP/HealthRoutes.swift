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
                throw APIError(.serviceUnavailable, "not_ready", "The database is not reachable.", retryAfter: 5)
            }
        }
    }
}
