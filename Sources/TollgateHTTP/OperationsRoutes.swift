import Foundation
import Hummingbird
import Metrics
import PQ
import Prometheus

/// `/metrics` (Prometheus text) and `/openapi.yaml` (the API document shipped with the build).
struct OperationsRoutes {
    let pool: PQPool
    let openAPI: ByteBuffer

    /// Reads the OpenAPI document from the resource folder SwiftPM puts beside the executable.
    static func loadOpenAPI() throws -> ByteBuffer {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let path = URL(fileURLWithPath: executable).deletingLastPathComponent()
            .appendingPathComponent("tollgate_TollgateHTTP.resources").appendingPathComponent("openapi.yaml").path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw APIError(.internalServerError, "internal_error", "the OpenAPI document \(path) is missing")
        }
        return ByteBuffer(bytes: data)
    }

    func register(on router: Router<TollgateRequestContext>) {
        let pool = self.pool
        let inUse = Gauge(label: "tollgate_db_pool_in_use")
        let waiting = Gauge(label: "tollgate_db_pool_waiting")
        let open = Gauge(label: "tollgate_db_pool_open")
        router.get("/metrics") { _, _ in
            let usage = pool.usage
            inUse.record(usage.inUse)
            waiting.record(usage.waiting)
            open.record(usage.open)
            let text = PrometheusMetricsFactory.defaultRegistry.emitToBuffer()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: text))
            )
        }
        let document = openAPI
        router.get("/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: document))
        }
    }
}
