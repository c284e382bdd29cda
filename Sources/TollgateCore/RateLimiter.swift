import Foundation
public import PQ

/// A request refused by a limit: when to try again, and whether it is the first refusal of
/// the key's window (the only one written to the event log, SPEC §5).
public struct LimitRefusal: Sendable, Equatable {
    public let retryAfter: Int
    /// Refusals of this key in its current window, this one included.
    public let refusals: Int
    public var isFirstInWindow: Bool { refusals == 1 }
}

/// Fixed-window counters in PostgreSQL, so limits hold across every server process. Each
/// step is one SQL statement: the check and the increment cannot be split by a race, and a
/// refusal is counted (`refused`) in the same statement that finds it.
public enum RateLimiter {
    /// Counts one event against `key` unless `limit` is already reached in the current
    /// window. Returns nil when counted, or the refusal.
    public static func hit(_ key: String, limit: Int, window: Int, in tx: PQTransaction) throws -> LimitRefusal? {
        try refusal(ofHit: tx.query(hitQuery(key, limit: limit, window: window)))
    }

    /// Counts one event against `key`, sent with the transaction's next statement or COMMIT:
    /// for a caller that read the key's count under a lock that all its writers take, and so
    /// knows it has room (``AccountCounters``).
    static func queueHit(_ key: String, limit: Int, window: Int, in tx: PQTransaction) {
        tx.queue("rate_limit.hit", "SELECT count(*) FROM (\(statement: hitQuery(key, limit: limit, window: window))) hit")
    }

    /// Counts a refusal of `key` (its `refused`, which says whether a refusal is its window's
    /// first), sent with the transaction's next statement or COMMIT: for a caller that read the
    /// key at its limit under a lock that all its writers take.
    static func queueRefusal(_ key: String, in tx: PQTransaction) {
        tx.queue("rate_limit.refused", "UPDATE rate_limits SET refused = refused + 1 WHERE key = \(key)")
    }

    /// ``hit(_:limit:window:in:)``'s statement, for a caller that sends it with others;
    /// ``refusal(ofHit:)`` reads its answer.
    public static func hitQuery(_ key: String, limit: Int, window: Int) -> PQQuery {
        hitQuery(key, limit: limit, window: window, onlyIf: "true")
    }

    /// ``hitQuery(_:limit:window:)`` that counts only if `condition` (SQL of the statement
    /// that embeds it, such as another CTE's answer) holds; otherwise it returns no row.
    ///
    /// The upsert is `rate_limit_hit` (migration 0014), whose plan the connection keeps. A
    /// statement that embeds this in a CTE must read that CTE: a CTE that calls a function runs
    /// only when read (where one that is an INSERT always runs), and then exactly once.
    static func hitQuery(_ key: String, limit: Int, window: Int, onlyIf condition: PQQuery) -> PQQuery {
        let hit: PQQuery = """
            SELECT last_refused, refused, seconds FROM rate_limit_hit(\(key), \(limit), \(window), \(statement: condition))
            """
        return hit.named("rate_limit.hit")
    }

    public static func refusal(ofHit rows: PQRows) throws -> LimitRefusal? {
        guard let row = rows.first, try row.decode("last_refused", as: Bool.self) else { return nil }
        return try refusal(row)
    }

    /// Takes back one count (a reserved attempt that turned out not to count).
    public static func undo(_ key: String, in tx: PQTransaction) {
        tx.queue("rate_limit.undo", "UPDATE rate_limits SET count = greatest(count - 1, 0) WHERE key = \(key)")
    }

    /// Rewrites `key`'s row unchanged: one row written and committed, the same database work
    /// as recording an event, for a path that must not be told apart from one by its timing.
    public static func touch(_ key: String, in tx: PQTransaction) {
        tx.queue("rate_limit.touch", "UPDATE rate_limits SET count = count WHERE key = \(key)")
    }

    /// Deletes counters whose window started more than `seconds` ago (longer than any window):
    /// every new address and every unknown email adds a row, and nothing else removes them.
    /// Returns how many went.
    @discardableResult
    public static func purge(olderThan seconds: Int, pool: PQPool) async throws -> Int {
        try await pool.query(
            "rate_limit.purge",
            """
            WITH gone AS (DELETE FROM rate_limits WHERE window_started_at < now() - make_interval(secs => \(seconds)) RETURNING 1)
            SELECT count(*) AS n FROM gone
            """
        ).first?.decode("n", as: Int.self) ?? 0
    }

    /// The refusal one answer row of a hit says, or nil when it counted.
    static func refusal(ofHit row: PQRow) throws -> LimitRefusal? {
        try row.decode("last_refused", as: Bool.self) ? try refusal(row) : nil
    }

    private static func refusal(_ row: PQRow) throws -> LimitRefusal {
        LimitRefusal(retryAfter: max(1, try row.decode("seconds", as: Int.self)), refusals: try row.decode("refused", as: Int.self))
    }
}
