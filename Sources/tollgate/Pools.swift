import Logging
import PQ
import TollgateCore

/// The one way a command makes its pool: on `DATABASE_URL` (in `dev`, its private cluster),
/// as another login `role` or on another `database` when given.
///
/// `statementTimeout` (seconds) is `DATABASE_STATEMENT_TIMEOUT` for the long-running
/// processes; the one-shot operator commands leave it nil and keep the pool's default.
func makePool(
    _ settings: DatabaseSettings,
    role: String? = nil,
    database: String? = nil,
    size: Int,
    statementTimeout: Int? = nil,
    applicationName: String = "tollgate",
    logger: Logger
) -> PQPool {
    var pool = PQPoolConfiguration(
        conninfo: settings.url!,
        overrides: [("dbname", database), ("user", role)].compactMap { keyword, value in value.map { (keyword, $0) } },
        maxConnections: size,
        applicationName: applicationName
    )
    if let statementTimeout {
        pool.statementTimeoutMilliseconds = statementTimeout * 1000
        // A server that answers ends a statement at the timeout; a call still waiting 3 s
        // later is on a server that stopped answering (frozen, or cut off): give it up.
        pool.abandonCallsAfter = .seconds(statementTimeout + 3)
    }
    return PQPool(configuration: pool, logger: logger)
}
