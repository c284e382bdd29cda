import Foundation
import PQ

/// A fixed-window counter of `rate_limits` as read (SPEC §5), and what it says at a time.
struct WindowCount: Sendable, Equatable {
    var count = 0
    /// Refusals counted in the window.
    var refused = 0
    var windowStartedAt: Date?

    /// The refusal of one more event at `now` (the transaction's `now()`, the clock
    /// `rate_limit_hit` counts by), or nil when the window has room or has ended.
    func refusal(limit: Int, window: Int, at now: Date) -> LimitRefusal? {
        guard let start = windowStartedAt else { return nil }
        let secondsLeft = start.addingTimeInterval(Double(window)).timeIntervalSince(now)
        guard secondsLeft > 0, count >= limit else { return nil }
        return LimitRefusal(retryAfter: max(1, Int(secondsLeft.rounded(.up))), refusals: refused + 1)
    }
}

/// The account's counters a challenge decision needs, read in the request's first round trip
/// under the user's row lock (`FOR NO KEY UPDATE`), so nothing else changes them before the
/// request's COMMIT: every writer of these counters holds that lock.
struct AccountCounters: Sendable, Equatable {
    var lockedUntil: Date?
    /// Wrong codes in a row, across challenges; a right code ends the run.
    var consecutiveWrongCodes = 0
    /// `wrong_codes:<user>`: wrong codes this hour.
    var wrongCodes = WindowCount()
    /// `challenges:<user>`: challenges started this hour (read only where one is started).
    var challenges = WindowCount()

    /// The columns a query over `users u` with ``joins`` answers (the login's and the
    /// activation's first reads); `challenge_locate` answers the same names but `challenges_*`.
    static let columns = """
        u.locked_until, u.consecutive_wrong_codes,
        coalesce(w.count, 0) AS wrong_codes, coalesce(w.refused, 0) AS wrong_codes_refused,
        w.window_started_at AS wrong_codes_window_started_at,
        coalesce(s.count, 0) AS challenges, coalesce(s.refused, 0) AS challenges_refused,
        s.window_started_at AS challenges_window_started_at
        """

    /// The two counters' rows, keyed by the user's id as Swift prints it (``CodeLimits``).
    static let joins = """
        LEFT JOIN rate_limits w ON w.key = 'wrong_codes:' || upper(u.id::text)
        LEFT JOIN rate_limits s ON s.key = 'challenges:' || upper(u.id::text)
        """

    init() {}

    /// Reads the counters of a row; `withChallenges` when it has the `challenges_*` columns.
    init(row: PQRow, withChallenges: Bool) throws {
        lockedUntil = try row.decode("locked_until")
        consecutiveWrongCodes = try row.decode("consecutive_wrong_codes")
        wrongCodes = WindowCount(
            count: try row.decode("wrong_codes"),
            refused: try row.decode("wrong_codes_refused"),
            windowStartedAt: try row.decode("wrong_codes_window_started_at")
        )
        if withChallenges {
            challenges = WindowCount(
                count: try row.decode("challenges"),
                refused: try row.decode("challenges_refused"),
                windowStartedAt: try row.decode("challenges_window_started_at")
            )
        }
    }

    /// The counters of `userID` in the current tenant, its row locked until COMMIT.
    static func lock(_ userID: UUID, in tx: PQTransaction) throws -> AccountCounters {
        let rows = try tx.query(
            "account.counters",
            """
            SELECT \(unsafeSQL: columns) FROM users u \(unsafeSQL: joins)
            WHERE u.company_id = app_company() AND u.id = \(userID) FOR NO KEY UPDATE OF u
            """
        )
        return try AccountCounters(row: try rows.first.orThrow(), withChallenges: true)
    }
}
