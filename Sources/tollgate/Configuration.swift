import Foundation
import Logging
import Mailer
import TollgateCore
import TollgateHTTP

/// Everything a command reads from its environment (SPEC §7): each module's part read by its
/// own settings type, and the two settings of the process itself. Every command reads every
/// part, so a bad value stops any of them at start.
struct TollgateConfiguration {
    var database: DatabaseSettings
    var http: HTTPSettings
    var domain: DomainSettings
    var mail: MailSettings
    /// How long ended rows are kept before the worker deletes them.
    var retention: RetentionSettings
    var logLevel: Logger.Level = .info
    /// Seconds `serve` and `worker` have, after SIGTERM, to finish what is in flight before it
    /// is cancelled (`SHUTDOWN_TIMEOUT`).
    var shutdownTimeout: Int = 25

    /// `requireDatabase` and `requireSecret` are false only for `tollgate dev`, which makes its
    /// own; `host` and `port` are `serve`'s flags, which override `HOST` and `PORT` (and so
    /// the address links point at without `PUBLIC_URL`). Any bad value throws an error naming
    /// its variable.
    init(
        environment reader: EnvironmentReader = EnvironmentReader(),
        requireDatabase: Bool = true,
        requireSecret: Bool = true,
        host: String? = nil,
        port: Int? = nil
    ) throws {
        database = try DatabaseSettings(environment: reader, requireURL: requireDatabase)
        http = try HTTPSettings(environment: reader)
        if let host { http.host = host }
        if let port { http.port = port }
        domain = try DomainSettings(environment: reader, requireSecret: requireSecret, serverURL: http.serverURL)
        mail = try MailSettings(environment: reader)
        retention = try RetentionSettings(environment: reader)
        if let level = reader.string("LOG_LEVEL") {
            guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
                throw ConfigurationError(variable: "LOG_LEVEL", problem: "is one of trace, debug, info, notice, warning, error, critical")
            }
            logLevel = parsed
        }
        shutdownTimeout = try reader.integer("SHUTDOWN_TIMEOUT", default: shutdownTimeout, range: 1...3600)
    }
}
