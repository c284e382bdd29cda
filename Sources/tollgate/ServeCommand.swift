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
        let configuration = try loadConfiguration(host: host, port: port)
        MetricsSystem.bootstrap(PrometheusMetricsFactory())
        let logger = Logger(label: "tollgate.serve")
        let database = configuration.database
        let pool = makePool(database, size: database.poolSize, statementTimeout: database.statementTimeout, logger: logger)
        try await requireUnprivilegedRole(pool: pool, command: "serve", role: "api")
        let app = try buildApplication(http: configuration.http, domain: configuration.domain, pool: pool, logger: logger)
        try await runUntilSignalled(
            [app] + (try metricsListener(configuration.http, pool: pool, logger: logger)),
            shutdownTimeout: configuration.shutdownTimeout,
            logger: logger
        )
    }
}

/// The `METRICS_PORT` listener of `serve` and `dev`, when one is configured.
func metricsListener(_ http: HTTPSettings, pool: PQPool, logger: Logger) throws -> [any Service] {
    guard let port = http.metricsPort else { return [] }
    return [
        try buildMetricsApplication(
            host: http.host,
            port: port,
            pool: pool,
            countsChallenges: true,
            serverName: "tollgate-metrics",
            logger: logger,
            services: []
        )
    ]
}
