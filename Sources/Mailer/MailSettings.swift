public import TollgateCore

/// What the email worker reads from its environment: the transport, the sender, how it drains
/// the queue and where it serves its metrics.
public struct MailSettings: Sendable {
    /// `SMTP_URL` (`smtp://` or `smtps://`); nil: `.eml` files in `mailDirectory`.
    public var smtpURL: String?
    /// The sender (`MAIL_FROM`), checked when the worker is built.
    public var mailFrom: String = "Tollgate <no-reply@tollgate.invalid>"
    /// Folder for `.eml` files in development mode (`MAIL_DIRECTORY`).
    public var mailDirectory: String?
    /// How the worker drains the queue.
    public var worker = WorkerSettings()
    /// Where `tollgate worker` serves `/metrics` and health checks (`WORKER_METRICS_PORT`), on
    /// `HOST`; nil: nowhere.
    public var workerMetricsPort: Int?

    public init() {}

    public init(environment reader: EnvironmentReader) throws {
        smtpURL = reader.string("SMTP_URL")
        if let smtp = smtpURL, !(smtp.hasPrefix("smtp://") || smtp.hasPrefix("smtps://")) {
            throw ConfigurationError(variable: "SMTP_URL", problem: "must start with smtp:// or smtps://")
        }
        mailFrom = reader.string("MAIL_FROM") ?? mailFrom
        mailDirectory = reader.string("MAIL_DIRECTORY")
        worker = try WorkerSettings(environment: reader)
        workerMetricsPort = try reader.integer("WORKER_METRICS_PORT", range: 1...65535)
    }
}

/// How the email worker drains the queue (environment variables `WORKER_*`).
public struct WorkerSettings: Sendable, Equatable {
    /// Emails claimed per round trip (`WORKER_BATCH_SIZE`).
    public var batchSize: Int = 10
    /// How long a claim lasts before another worker may take the email over (`WORKER_LEASE`,
    /// seconds). Must be longer than the SMTP timeout.
    public var leaseSeconds: Int = 60
    /// The fallback poll when no notification arrives (`WORKER_POLL_INTERVAL`, seconds).
    public var pollIntervalSeconds: Int = 1
    /// Attempts after which a transiently failing email is given up as failed (`WORKER_MAX_ATTEMPTS`).
    public var maxAttempts: Int = 15
    /// The first retry delay, doubled per attempt with jitter (`WORKER_RETRY_BASE`, seconds).
    public var retryBaseSeconds: Int = 2
    /// The longest retry delay (`WORKER_RETRY_MAX`, seconds).
    public var retryMaxSeconds: Int = 600

    public init() {}

    public init(environment reader: EnvironmentReader) throws {
        batchSize = try reader.integer("WORKER_BATCH_SIZE", default: batchSize, range: 1...1000)
        leaseSeconds = try reader.integer("WORKER_LEASE", default: leaseSeconds, range: 2...3600)
        pollIntervalSeconds = try reader.integer("WORKER_POLL_INTERVAL", default: pollIntervalSeconds, range: 1...3600)
        maxAttempts = try reader.integer("WORKER_MAX_ATTEMPTS", default: maxAttempts, range: 1...1000)
        retryBaseSeconds = try reader.integer("WORKER_RETRY_BASE", default: retryBaseSeconds, range: 1...3600)
        retryMaxSeconds = try reader.integer("WORKER_RETRY_MAX", default: retryMaxSeconds, range: retryBaseSeconds...86_400)
    }
}
