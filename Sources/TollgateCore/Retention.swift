public import PQ

/// How long ended rows are kept (issue 13; `RETENTION_*`, seconds). Events are kept longest:
/// they are the audit log support reads. The periods are read by `tollgate migrate` and
/// stored (``store(pool:)``) where only the owner writes them; the worker's purge reads them
/// there, so a worker credential cannot shorten them (issue 22).
public struct RetentionSettings: Sendable, Equatable {
    /// Expired or revoked sessions (`RETENTION_SESSIONS`).
    public var sessions = 30 * 86_400
    /// Used or closed challenges and expired reset links (`RETENTION_CHALLENGES`).
    public var challenges = 30 * 86_400
    /// Sent, failed or expired email rows, with their attempts (`RETENTION_EMAILS`).
    public var emails = 7 * 86_400
    /// Events (`RETENTION_EVENTS`; at least 30 days whatever is set).
    public var events = 400 * 86_400
    /// Seconds between two purges (`RETENTION_INTERVAL`).
    public var interval = 600
    /// Rows deleted per statement: each batch is its own short transaction.
    public var batchSize = 1000

    public init() {}

    /// Reads `RETENTION_*`; unset ones keep the defaults above.
    public init(environment reader: EnvironmentReader) throws {
        sessions = try reader.integer("RETENTION_SESSIONS", default: sessions, range: 3600...315_360_000)
        challenges = try reader.integer("RETENTION_CHALLENGES", default: challenges, range: 86_400...315_360_000)
        emails = try reader.integer("RETENTION_EMAILS", default: emails, range: 3600...315_360_000)
        events = try reader.integer("RETENTION_EVENTS", default: events, range: 2_592_000...3_153_600_000)
        interval = try reader.integer("RETENTION_INTERVAL", default: interval, range: 10...86_400)
    }
}

extension RetentionSettings {
    /// Stores the periods in `retention_settings`, as the database owner (`tollgate migrate`).
    public func store(pool: PQPool) async throws {
        try await pool.query(
            "retention.store",
            """
            UPDATE retention_settings SET sessions = \(sessions), challenges = \(challenges), emails = \(emails), events = \(events),
                updated_at = now()
            """
        )
    }
}
