import Foundation
public import PQ

/// Fixed-window counters in PostgreSQL, so limits hold across every server process. Each
/// step is one SQL statement: the check and the increment cannot be split by a race.
public enum RateLimiter {
    /// Counts one event against `key` unless `limit` is already reached in the current
    /// window. Returns nil when counted, or the seconds until the window ends when refused.
    public static func hit(_ key: String, limit: Int, window: Int, in tx: PQTransaction) throws -> Int? {
        let rows = try tx.query(
            ("""
            INSERT INTO rate_limits AS r (key, window_started_at, count) VALUES (\(key), now(), 1)
            ON CONFLICT (key) DO UPDATE SET
                count = CASE WHEN r.window_started_at + make_interval(secs => \(window)) <= now() THEN 1 ELSE r.count + 1 END,
                window_started_at = CASE WHEN r.window_started_at + make_interval(secs => \(window)) <= now()
                    THEN now() ELSE r.window_started_at END
            WHERE r.window_started_at + make_interval(secs => \(window)) <= now() OR r.count < \(limit)
            RETURNING count
            """ as PQQuery).named("rate_limit.hit")
        )
        if !rows.isEmpty { return nil }
        return try retryAfter(key, window: window, in: tx)
    }

    /// Seconds until `key` is below its limit again, or nil when it is not limited.
    public static func check(_ key: String, limit: Int, window: Int, in tx: PQTransaction) throws -> Int? {
        let rows = try tx.query(
            ("""
            SELECT count FROM rate_limits
            WHERE key = \(key) AND window_started_at + make_interval(secs => \(window)) > now() AND count >= \(limit)
            """ as PQQuery).named("rate_limit.check")
        )
        return rows.isEmpty ? nil : try retryAfter(key, window: window, in: tx)
    }

    /// Takes back one count (a reserved attempt that turned out not to count).
    public static func undo(_ key: String, in tx: PQTransaction) throws {
        try tx.query(("UPDATE rate_limits SET count = greatest(count - 1, 0) WHERE key = \(key)" as PQQuery).named("rate_limit.undo"))
    }

    /// Deletes counters whose window started more than `seconds` ago (longer than any window):
    /// every new address and every unknown email adds a row, and nothing else removes them.
    /// Returns how many went.
    @discardableResult
    public static func purge(olderThan seconds: Int, pool: PQPool) async throws -> Int {
        try await pool.query(
            ("""
            WITH gone AS (DELETE FROM rate_limits WHERE window_started_at < now() - make_interval(secs => \(seconds)) RETURNING 1)
            SELECT count(*) AS n FROM gone
            """ as PQQuery).named("rate_limit.purge")
        ).first?.decode("n", as: Int.self) ?? 0
    }

    private static func retryAfter(_ key: String, window: Int, in tx: PQTransaction) throws -> Int {
        let rows = try tx.query(
            ("""
            SELECT ceil(extract(epoch FROM window_started_at + make_interval(secs => \(window)) - now()))::bigint AS seconds
            FROM rate_limits WHERE key = \(key)
            """ as PQQuery).named("rate_limit.retry_after")
        )
        return max(1, try rows.first?.decode("seconds", as: Int.self) ?? 1)
    }
}
