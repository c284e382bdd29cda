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

    /// ``hit(_:limit:window:in:)``; `predicting`: queued, expecting it to count
    /// (``ExpectedOutcome``), and answered nil.
    static func hit(_ key: String, limit: Int, window: Int, predicting: Bool, in tx: PQTransaction) throws -> LimitRefusal? {
        guard predicting else { return try hit(key, limit: limit, window: window, in: tx) }
        ExpectedOutcome.queue("rate_limit.hit", hitQuery(key, limit: limit, window: window), rows: 1, where: "NOT last_refused", in: tx)
        return nil
    }

    /// ``hit(_:limit:window:in:)``'s statement, for a caller that sends it with others;
    /// ``refusal(ofHit:)`` reads its answer.
    public static func hitQuery(_ key: String, limit: Int, window: Int) -> PQQuery {
        hitQuery(key, limit: limit, window: window, onlyIf: nil)
    }

    /// ``hitQuery(_:limit:window:)`` that counts only if `condition` (SQL of the statement
    /// that embeds it, such as another CTE's answer) holds; otherwise it returns no row.
    ///
    /// The upsert is `rate_limit_hit` (migration 0014), whose plan the connection keeps. A
    /// statement that embeds this in a CTE must read that CTE: a CTE that calls a function runs
    /// only when read (where one that is an INSERT always runs), and then exactly once.
    static func hitQuery(_ key: String, limit: Int, window: Int, onlyIf condition: String?) -> PQQuery {
        let hit: PQQuery = """
            SELECT last_refused, refused, seconds FROM rate_limit_hit(\(key), \(limit), \(window), \(unsafeSQL: condition ?? "true"))
            """
        return hit.named("rate_limit.hit")
    }

    public static func refusal(ofHit rows: PQRows) throws -> LimitRefusal? {
        guard let row = rows.first, try row.decode("last_refused", as: Bool.self) else { return nil }
        return try refusal(row)
    }

    /// The refusal when `key` is at its limit in the current window (counted as a refusal),
    /// or nil when it is not limited.
    public static func check(_ key: String, limit: Int, window: Int, in tx: PQTransaction) throws -> LimitRefusal? {
        try check(key, limit: limit, window: window, predicting: false, in: tx)
    }

    /// ``check(_:limit:window:in:)``; `predicting`: queued, expecting the key not to be
    /// limited (``ExpectedOutcome``), and answered nil.
    static func check(_ key: String, limit: Int, window: Int, predicting: Bool, in tx: PQTransaction) throws -> LimitRefusal? {
        let check: PQQuery = """
            UPDATE rate_limits SET refused = refused + 1
            WHERE key = \(key) AND window_started_at + make_interval(secs => \(window)) > now() AND count >= \(limit)
            RETURNING refused, ceil(extract(epoch FROM window_started_at + make_interval(secs => \(window)) - now()))::bigint AS seconds
            """
        if predicting {
            ExpectedOutcome.queue("rate_limit.check", changingNoRow: check, in: tx)
            return nil
        }
        return try tx.query("rate_limit.check", check).first.map { try refusal($0) }
    }

    /// Takes back one count (a reserved attempt that turned out not to count).
    public static func undo(_ key: String, in tx: PQTransaction) throws {
        tx.queue("rate_limit.undo", "UPDATE rate_limits SET count = greatest(count - 1, 0) WHERE key = \(key)")
    }

    /// Rewrites `key`'s row unchanged: one row written and committed, the same database work
    /// as recording an event, for a path that must not be told apart from one by its timing.
    public static func touch(_ key: String, in tx: PQTransaction) throws {
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
