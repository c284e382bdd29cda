public import Foundation
public import Logging

/// A configuration value that is missing or malformed, naming its variable.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let variable: String
    public let problem: String
    public var description: String { "\(variable): \(problem)" }

    public init(variable: String, problem: String) {
        self.variable = variable
        self.problem = problem
    }
}

/// Everything Tollgate reads from its environment (SPEC §7).
public struct TollgateConfiguration: Sendable {
    public var databaseURL: String?
    /// A direct (not pooled) connection for the worker's LISTEN; defaults to `databaseURL`.
    public var listenDatabaseURL: String?
    public var databasePoolSize: Int = 4
    /// Seconds any one statement of `serve` or `worker` may run (`DATABASE_STATEMENT_TIMEOUT`).
    public var statementTimeout: Int = 10
    /// The role names `migrate` grants to (`DATABASE_ROLE_PREFIX`); nil: as first migrated.
    public var databaseRoles: DatabaseRoles?
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    public var corsAllowedOrigins: [String] = []
    /// HMAC keys, newest first: the first signs, all verify (rotation).
    public var secrets: [[UInt8]] = []
    public var smtpURL: String?
    public var mailFrom: String = "Tollgate <no-reply@tollgate.invalid>"
    public var codes = CodePolicy()
    public var sessionTTLDashboard: Int = 43_200
    public var sessionTTLPhoneApp: Int = 2_592_000
    public var trustedProxies: [IPNetwork] = []
    public var limits = AbuseLimits()
    public var logLevel: Logger.Level = .info
    /// Password hashes computed at once; more wait briefly, then get 503.
    public var maxConcurrentHashes: Int = 4
    /// Seconds a client has to send a complete request head (`HTTP_HEADER_TIMEOUT`).
    public var headerTimeout: Int = 10
    /// Seconds `serve` and `worker` have, after SIGTERM, to finish what is in flight before it
    /// is cancelled (`SHUTDOWN_TIMEOUT`).
    public var shutdownTimeout: Int = 25
    /// Folder for `.eml` files in development mode.
    public var mailDirectory: String?
    /// How the email worker drains the queue.
    public var worker = WorkerSettings()
    /// Where `tollgate worker` serves `/metrics` and health checks (`WORKER_METRICS_PORT`), on
    /// `host`; nil: nowhere.
    public var workerMetricsPort: Int?
    /// Where `serve` (and `dev`) serve `/metrics` and health checks (`METRICS_PORT`), on `host`;
    /// nil: nowhere. Never the API's port: the page shows counts across companies.
    public var metricsPort: Int?
    /// Where the reference dashboard's files are read from at each request instead of the
    /// shipped copy (`DASHBOARD_DIRECTORY`, for working on the pages).
    public var dashboardDirectory: String?
    /// The API's origin when the dashboard is served from another one (`DASHBOARD_API_URL`).
    public var dashboardAPIURL: String?
    /// Where users reach the dashboard, for the links in emails (`PUBLIC_URL`); nil: this
    /// server's own address (`http://HOST:PORT`), right for `dev` only.
    public var publicURL: String?
    /// How long a reset link works (`PASSWORD_RESET_TTL`, SPEC §10), and an invitation's.
    public var passwordResetTTL: Int = 1800
    public var invitationTTL: Int = 604_800
    /// How long ended rows are kept before the worker deletes them.
    public var retention = RetentionSettings()

    public init() {}

    /// Reads the environment. `requireSecret` is false only for `tollgate dev`, which makes
    /// its own. Any bad value throws an error naming its variable.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment,
        requireDatabase: Bool = true,
        requireSecret: Bool = true
    ) throws -> TollgateConfiguration {
        let reader = EnvironmentReader(environment: environment)
        var config = TollgateConfiguration()
        config.databaseURL = reader.string("DATABASE_URL")
        if requireDatabase && config.databaseURL == nil {
            throw ConfigurationError(variable: "DATABASE_URL", problem: "is required (a libpq connection string or URI)")
        }
        config.listenDatabaseURL = reader.string("WORKER_LISTEN_DATABASE_URL")
        config.databaseRoles = try reader.string("DATABASE_ROLE_PREFIX").map { try DatabaseRoles(prefix: $0) }
        config.statementTimeout = try reader.integer("DATABASE_STATEMENT_TIMEOUT", default: 10, range: 1...3600)
        config.databasePoolSize = try reader.integer("DATABASE_POOL_SIZE", default: 4, range: 1...100)
        config.host = reader.string("HOST") ?? config.host
        config.port = try reader.integer("PORT", default: 8080, range: 0...65535)
        config.tlsCertificatePath = reader.string("TLS_CERT_PATH")
        config.tlsKeyPath = reader.string("TLS_KEY_PATH")
        if (config.tlsCertificatePath == nil) != (config.tlsKeyPath == nil) {
            throw ConfigurationError(
                variable: config.tlsCertificatePath == nil ? "TLS_CERT_PATH" : "TLS_KEY_PATH",
                problem: "TLS_CERT_PATH and TLS_KEY_PATH go together"
            )
        }
        config.corsAllowedOrigins = try reader.list("CORS_ALLOWED_ORIGINS").map { origin in
            // Exact origins only: `*` would let any site drive the API with a stolen token.
            guard origin.hasPrefix("http://") || origin.hasPrefix("https://"), !origin.hasSuffix("/") else {
                throw ConfigurationError(
                    variable: "CORS_ALLOWED_ORIGINS",
                    problem: "each origin is scheme://host[:port], without a path (no wildcard)"
                )
            }
            return origin
        }
        if let secretList = reader.string("TOLLGATE_SECRET") {
            config.secrets = try secretList.split(separator: ",").map { part in
                let secret = part.trimmingCharacters(in: .whitespaces)
                guard secret.utf8.count >= 32 else {
                    throw ConfigurationError(variable: "TOLLGATE_SECRET", problem: "each secret must be at least 32 characters")
                }
                return Array(secret.utf8)
            }
        } else if requireSecret {
            throw ConfigurationError(variable: "TOLLGATE_SECRET", problem: "is required (at least 32 random characters)")
        }
        config.smtpURL = reader.string("SMTP_URL")
        if let smtp = config.smtpURL, !(smtp.hasPrefix("smtp://") || smtp.hasPrefix("smtps://")) {
            throw ConfigurationError(variable: "SMTP_URL", problem: "must start with smtp:// or smtps://")
        }
        config.mailFrom = reader.string("MAIL_FROM") ?? config.mailFrom
        config.codes.ttl = try reader.integer("CODE_TTL", default: 600, range: 10...86_400)
        config.codes.maxResends = try reader.integer("CODE_MAX_RESENDS", default: 3, range: 0...100)
        config.codes.maxAttempts = try reader.integer("CODE_MAX_ATTEMPTS", default: 5, range: 1...100)
        config.codes.resendCooldown = try reader.integer("RESEND_COOLDOWN", default: 30, range: 0...3600)
        config.sessionTTLDashboard = try reader.integer("SESSION_TTL_DASHBOARD", default: 43_200, range: 60...31_536_000)
        config.sessionTTLPhoneApp = try reader.integer("SESSION_TTL_PHONE_APP", default: 2_592_000, range: 60...31_536_000)
        config.trustedProxies = try reader.list("TRUSTED_PROXIES").map { text in
            guard let network = IPNetwork(text) else {
                throw ConfigurationError(variable: "TRUSTED_PROXIES", problem: "each entry is an IP address or CIDR block")
            }
            return network
        }
        config.limits.failedPasswords = try reader.integer("LIMIT_FAILED_PASSWORDS", default: 10, range: 1...100_000)
        config.limits.loginsPerIP = try reader.integer("LIMIT_LOGINS_PER_IP", default: 60, range: 1...1_000_000)
        config.limits.challengesPerAccount = try reader.integer("LIMIT_CHALLENGES_PER_ACCOUNT", default: 10, range: 1...100_000)
        config.limits.wrongCodesPerAccount = try reader.integer("LIMIT_WRONG_CODES_PER_ACCOUNT", default: 20, range: 1...100_000)
        config.limits.adminRequestsPerKey = try reader.integer("LIMIT_ADMIN_REQUESTS_PER_KEY", default: 600, range: 1...1_000_000)
        if let level = reader.string("LOG_LEVEL") {
            guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
                throw ConfigurationError(variable: "LOG_LEVEL", problem: "is one of trace, debug, info, notice, warning, error, critical")
            }
            config.logLevel = parsed
        }
        config.maxConcurrentHashes = try reader.integer("PASSWORD_HASH_CONCURRENCY", default: 4, range: 1...64)
        config.mailDirectory = reader.string("MAIL_DIRECTORY")
        config.headerTimeout = try reader.integer("HTTP_HEADER_TIMEOUT", default: 10, range: 1...300)
        config.shutdownTimeout = try reader.integer("SHUTDOWN_TIMEOUT", default: 25, range: 1...3600)
        config.worker = try WorkerSettings(reader: reader)
        if reader.string("WORKER_METRICS_PORT") != nil {
            config.workerMetricsPort = try reader.integer("WORKER_METRICS_PORT", default: 0, range: 1...65535)
        }
        config.dashboardDirectory = reader.string("DASHBOARD_DIRECTORY")
        if let url = reader.string("PUBLIC_URL") {
            guard url.hasPrefix("http://") || url.hasPrefix("https://"), !url.hasSuffix("/"), URL(string: url)?.host != nil,
                url.allSatisfy({ !$0.isWhitespace && $0 != "\"" && $0 != "<" && $0 != ">" })
            else {
                throw ConfigurationError(
                    variable: "PUBLIC_URL",
                    problem: "is where users reach the dashboard, scheme://host[:port][/path], without a trailing /"
                )
            }
            config.publicURL = url
        }
        config.passwordResetTTL = try reader.integer("PASSWORD_RESET_TTL", default: 1800, range: 60...86_400)
        config.retention.sessions = try reader.integer("RETENTION_SESSIONS", default: config.retention.sessions, range: 3600...315_360_000)
        config.retention.challenges = try reader.integer("RETENTION_CHALLENGES", default: config.retention.challenges, range: 86_400...315_360_000)
        config.retention.emails = try reader.integer("RETENTION_EMAILS", default: config.retention.emails, range: 3600...315_360_000)
        config.retention.events = try reader.integer("RETENTION_EVENTS", default: config.retention.events, range: 2_592_000...3_153_600_000)
        config.retention.interval = try reader.integer("RETENTION_INTERVAL", default: config.retention.interval, range: 10...86_400)
        if let url = reader.string("DASHBOARD_API_URL") {
            guard url.hasPrefix("http://") || url.hasPrefix("https://"), !url.hasSuffix("/"), URL(string: url)?.host != nil,
                url.allSatisfy({ !$0.isWhitespace && $0 != "\"" && $0 != "'" && $0 != ";" })
            else {
                throw ConfigurationError(variable: "DASHBOARD_API_URL", problem: "is the API's origin, scheme://host[:port], without a path")
            }
            config.dashboardAPIURL = url
        }
        if reader.string("METRICS_PORT") != nil {
            config.metricsPort = try reader.integer("METRICS_PORT", default: 0, range: 1...65535)
            if config.metricsPort == config.port {
                throw ConfigurationError(variable: "METRICS_PORT", problem: "must differ from PORT (metrics never share the API's port)")
            }
        }
        return config
    }
}

/// Reads typed values from the environment; an empty value counts as unset.
struct EnvironmentReader {
    let environment: [String: String]

    func string(_ name: String) -> String? {
        guard let value = environment[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    /// Whole numbers only (durations are whole seconds), within `range`.
    func integer(_ name: String, default fallback: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = string(name) else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            throw ConfigurationError(variable: name, problem: "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    func list(_ name: String) throws -> [String] {
        guard let text = string(name) else { return [] }
        return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
