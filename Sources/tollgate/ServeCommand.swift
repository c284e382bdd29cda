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
        do {
            if let problem = try await RoleCheck.privilegeProblem(pool: pool) {
                await pool.close()
                throw fail("serve: \(problem); connect as the API role migrate creates (<prefix>_api, tollgate_api by default; see docs/operations.md)")
            }
        } catch let error as PQError {
            await pool.close()
            throw fail("serve: cannot reach the database: \(error)")
        }
        let app = try buildApplication(configuration: configuration, pool: pool, logger: logger)
        try await runUntilSignalled([app], configuration: configuration, logger: logger)
    }
}
