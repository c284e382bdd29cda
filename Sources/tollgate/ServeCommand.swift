import ArgumentParser
import Hummingbird
import Logging
import Metrics
import PQ
import Prometheus
import ServiceLifecycle
import TollgateCore
import TollgateHTTP

/// `tollgate serve`: the HTTP API.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Serve the HTTP API.")

    @Option(help: "Address to listen on (overrides HOST).") var host: String?
    @Option(help: "Port to listen on (overrides PORT).") var port: Int?

    func run() async throws {
        var configuration = try loadConfiguration()
        if let host { configuration.host = host }
        if let port { configuration.port = port }
        MetricsSystem.bootstrap(PrometheusMetricsFactory())
        let logger = Logger(label: "tollgate.serve")
        let pool = makePool(configuration, size: configuration.databasePoolSize, statementTimeout: configuration.statementTimeout, logger: logger)
        try await requireUnprivilegedRole(pool: pool, command: "serve", role: "api")
        let app = try buildApplication(configuration: configuration, pool: pool, logger: logger)
        try await runUntilSignalled(
            [app] + (try metricsListener(configuration, pool: pool, logger: logger)),
            configuration: configuration,
            logger: logger
        )
    }
}

/// The `METRICS_PORT` listener of `serve` and `dev`, when one is configured.
func metricsListener(_ configuration: TollgateConfiguration, pool: PQPool, logger: Logger) throws -> [any Service] {
    guard let port = configuration.metricsPort else { return [] }
    return [
        try buildMetricsApplication(
            configuration: configuration,
            port: port,
            pool: pool,
            countsChallenges: true,
            serverName: "tollgate-metrics",
            logger: logger,
            services: []
        )
    ]
}
