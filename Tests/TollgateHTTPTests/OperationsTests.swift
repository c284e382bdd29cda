import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Metrics
import Prometheus
import Testing

/// `/openapi.yaml` and `/metrics` (issue: operations).
@Suite struct OperationsTests {
    /// Bootstraps the Prometheus backend once for the whole test process.
    static let metricsReady: Bool = {
        MetricsSystem.bootstrap(PrometheusMetricsFactory())
        return true
    }()

    @Test func theServedOpenAPIDocumentIsTheOneInTheRepository() async throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let onDisk = try Data(contentsOf: repository.appendingPathComponent("openapi.yaml"))
        try await TestApp.with { app, client in
            let reply = try await client.get("/openapi.yaml")
            #expect(reply.status == .ok)
            #expect(reply.body == onDisk)
            #expect(String(decoding: reply.body, as: UTF8.self).hasPrefix("openapi: 3.1"))
        }
    }

    @Test func metricsExposeRequestsAndThePool() async throws {
        #expect(Self.metricsReady)
        try await TestApp.with { app, client in
            _ = try await client.get("/health/ready")
            _ = try await client.post("/v1/auth/login", ["email": "nobody@acme.test", "password": "wrong-password", "client": "dashboard"])
            let reply = try await client.get("/metrics")
            #expect(reply.status == .ok)
            let text = String(decoding: reply.body, as: UTF8.self)
            #expect(text.contains("tollgate_db_pool_open"))
            #expect(text.contains("hb_requests"))
            #expect(text.contains(#"tollgate_auth_outcomes_total{step="password",outcome="invalid_credentials"}"#) || text.contains(#"tollgate_auth_outcomes_total{outcome="invalid_credentials",step="password"}"#))
        }
    }
}
