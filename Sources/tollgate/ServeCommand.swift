import ArgumentParser
import Hummingbird
import Logging
import Metrics
import Prometheus
import PQ
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
        let pool = PQPool(
            configuration: PQPoolConfiguration(
                conninfo: configuration.databaseURL!, maxConnections: configuration.databasePoolSize,
                statementTimeoutMilliseconds: configuration.statementTimeout * 1000
            ),
            logger: logger
        )
        try await requireUnprivilegedRole(pool: pool, command: "serve", role: "api")
        let app = try buildApplication(configuration: configuration, pool: pool, logger: logger)
        try await runUntilSignalled([app], configuration: configuration, logger: logger)
    }
}
