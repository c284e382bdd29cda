import ArgumentParser
import Hummingbird
import Logging
import Mailer
import Metrics
import PQ
import Prometheus
import ServiceLifecycle
import TollgateCore
import TollgateHTTP
import UnixSignals

/// `tollgate worker`: drains the outbound email queue and sends it by SMTP.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Send queued emails by SMTP.",
        discussion: """
            Reads DATABASE_URL (as the worker role, tollgate_worker by default), SMTP_URL, MAIL_FROM, and optionally \
            WORKER_LISTEN_DATABASE_URL (a direct connection for LISTEN when DATABASE_URL goes through a pooler), \
            WORKER_BATCH_SIZE, WORKER_LEASE, WORKER_POLL_INTERVAL, WORKER_MAX_ATTEMPTS, WORKER_RETRY_BASE, WORKER_RETRY_MAX, \
            and WORKER_METRICS_PORT (serve /metrics, /health/live and /health/ready there, on HOST).
            """
    )

    func run() async throws {
        let configuration = try loadConfiguration(requireSecret: false)
        let logger = Logger(label: "tollgate.worker")
        // Before anything makes a metric: one made earlier would record into the no-op backend.
        if configuration.mail.workerMetricsPort != nil { MetricsSystem.bootstrap(PrometheusMetricsFactory()) }
        let pool = makePool(
            configuration.database,
            size: 2,
            statementTimeout: configuration.database.statementTimeout,
            applicationName: "tollgate-worker",
            logger: logger
        )
        try await requireUnprivilegedRole(pool: pool, command: "worker", role: "worker")
        let worker: OutboxWorker
        do {
            worker = try makeOutboxWorker(settings: configuration.mail, listenURL: configuration.database.listenURL, pool: pool, logger: logger)
        } catch let error as ConfigurationError {
            await pool.close()
            throw fail("configuration error: \(error)", code: 78)
        }
        let purger = Purger.worker(pool: pool, retention: configuration.retention, logger: logger)
        if let port = configuration.mail.workerMetricsPort {
            // Application stops its HTTP server first, then the services in reverse order.
            let app = try buildWorkerApplication(
                host: configuration.http.host,
                port: port,
                pool: pool,
                logger: logger,
                services: [worker, purger]
            )
            try await runUntilSignalled([app], shutdownTimeout: configuration.shutdownTimeout, logger: logger)
            return
        }
        // The worker stops first (finishing the message in hand and releasing the rest of its
        // batch), then the pool it needed.
        try await runUntilSignalled([pool, worker, purger], shutdownTimeout: configuration.shutdownTimeout, logger: logger)
    }
}
