import Foundation
import Hummingbird
import Logging
import Metrics
import PQ
import Prometheus
import TollgateCore

/// `/openapi.yaml` (the API document shipped with the build). `/metrics` is not here: it
/// shows counts across companies and is served on its own listener (`buildMetricsApplication`).
struct OperationsRoutes {
    let pool: PQPool
    let openAPI: ByteBuffer

    /// The resource folder SwiftPM puts beside the executable (`scripts/stage` copies it).
    static func resourceFolder() -> URL {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("tollgate_TollgateHTTP.resources")
    }

    /// Reads the OpenAPI document from the resource folder.
    static func loadOpenAPI() throws -> ByteBuffer {
        let path = resourceFolder().appendingPathComponent("openapi.yaml").path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw APIError(.internalServerError, "internal_error", "the OpenAPI document \(path) is missing")
        }
        return ByteBuffer(bytes: data)
    }

    func register(on router: Router<TollgateRequestContext>) {
        let document = openAPI
        router.get("/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: document))
        }
    }
}

/// `/metrics` in Prometheus text: what this process recorded (requests, outcomes, the email
/// worker's queue), its pool, and for the API the challenges open in the whole database,
/// counted at each scrape.
struct MetricsRoute {
    let pool: PQPool
    /// Only the API role may call `open_challenges()`.
    let countsChallenges: Bool

    func register(on router: Router<TollgateRequestContext>) {
        let pool = self.pool
        let countsChallenges = self.countsChallenges
        let inUse = Gauge(label: "tollgate_db_pool_in_use")
        let waiting = Gauge(label: "tollgate_db_pool_waiting")
        let open = Gauge(label: "tollgate_db_pool_open")
        router.get("/metrics") { _, context in
            let usage = pool.usage
            inUse.record(usage.inUse)
            waiting.record(usage.waiting)
            open.record(usage.open)
            var text = PrometheusMetricsFactory.defaultRegistry.emitToBuffer()
            // A registry of this scrape's own: the counts belong to this request, not to
            // process state another scrape could overwrite before it is written out.
            let scrape = PrometheusCollectorRegistry()
            let failover = pool.failoverCounts
            scrape.makeCounter(
                name: "tollgate_db_connections_lost_total",
                help: "Pooled connections dropped because they broke or reached a read-only server (a failover is a step)"
            ).increment(by: Int64(failover.lost))
            scrape.makeCounter(
                name: "tollgate_db_reconnects_total",
                help: "Connections opened to replace lost ones (on the new primary after a failover)"
            ).increment(by: Int64(failover.reconnects))
            if countsChallenges {
                let counts = await Self.openChallenges(pool: pool, logger: context.logger)
                for purpose in ["activation", "login"] {
                    scrape.makeGauge(
                        name: "tollgate_challenges_open",
                        labels: [("purpose", purpose)],
                        help: "Challenges of every company waiting for a code that has not expired (NaN: the database did not answer)"
                    ).set(counts.map { Double($0[purpose] ?? 0) } ?? .nan)
                }
            }
            scrape.emit(into: &text)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: text))
            )
        }
    }

    /// Open challenges by purpose, or nil when the database cannot say.
    static func openChallenges(pool: PQPool, logger: Logger) async -> [String: Int]? {
        do {
            return try await OpenChallenges.byPurpose(pool: pool)
        } catch {
            logger.warning("metrics.open_challenges_failed", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
