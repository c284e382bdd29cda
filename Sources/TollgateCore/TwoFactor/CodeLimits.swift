import Foundation
import PQ

/// The account-wide limits on codes (SPEC §5): challenges per hour, wrong codes per hour
/// across the account's challenges, and the lock after 100 wrong codes in a row. Every
/// refusal is recorded, at most once per limited key and window.
enum CodeLimits {
    /// The key of the account's hourly wrong-code counter.
    static func wrongCodesKey(_ user: User) -> String { "wrong_codes:\(user.id)" }

    /// The refusal of a new challenge for `user`, or nil: the account's lock, its wrong codes
    /// this hour, and challenges per hour. A refusal is recorded as an event.
    static func refuseNewChallenge(
        user: User,
        purpose: Challenge.Purpose,
        limits: AbuseLimits,
        clientInfo: ClientInfo,
        predicting: Bool = false,
        in tx: PQTransaction
    ) throws -> DomainError? {
        let rateLimited: EventType = purpose == .login ? .loginRateLimited : .twoFactorRateLimited
        func record(_ detail: [String: EventValue]) throws {
            try Event(companyID: user.companyID, type: rateLimited, userID: user.id, email: user.email, client: clientInfo, detail: detail)
                .record(in: tx)
        }
        // Only the first refusal of a limit's window is written to the log (SPEC §5).
        func refuse(_ limit: String, _ refusal: LimitRefusal) throws -> DomainError {
            if refusal.isFirstInWindow {
                try record(["limit": .string(limit), "retry_after": .int(refusal.retryAfter), "later_refusals": .string("counted, not logged")])
            }
            return .rateLimited(retryAfter: refusal.retryAfter)
        }
        if let lockedUntil = try lockedUntil(user, predicting: predicting, in: tx) {
            let retryAfter = max(1, Int(lockedUntil.timeIntervalSinceNow.rounded(.up)))
            try record(["limit": .string("account_locked"), "retry_after": .int(retryAfter)])
            return DomainError.accountLocked(retryAfter: retryAfter)
        }
        if let refusal = try RateLimiter.check(
            wrongCodesKey(user),
            limit: limits.wrongCodesPerAccount,
            window: limits.wrongCodesPerAccountWindow,
            predicting: predicting,
            in: tx
        ) {
            return try refuse("wrong_codes_per_account", refusal)
        }
        if let refusal = try RateLimiter.hit(
            "challenges:\(user.id)",
            limit: limits.challengesPerAccount,
            window: limits.challengesPerAccountWindow,
            predicting: predicting,
            in: tx
        ) {
            return try refuse("challenges_per_account", refusal)
        }
        return nil
    }

    /// When the account's lock ends, if it is locked; `predicting`: as the account was read
    /// (queued, expecting it still so, ``ExpectedOutcome``).
    private static func lockedUntil(_ user: User, predicting: Bool, in tx: PQTransaction) throws -> Date? {
        let locked: PQQuery = """
            SELECT locked_until FROM users WHERE company_id = app_company() AND id = \(user.id) AND locked_until > now()
            """
        guard predicting, user.lockedUntil.map({ $0 <= Date() }) ?? true else {
            return try tx.query("code_limits.locked_until", locked).first?.decode("locked_until", as: Date.self)
        }
        ExpectedOutcome.queue("code_limits.locked_until", locked, rows: 0, in: tx)
        return nil
    }

    /// Counts a wrong code against the account's run of wrong codes, locking its dashboard
    /// login at the limit. True when the account is locked now. `predicting`: queued,
    /// expecting this one not to reach the limit (``ExpectedOutcome``); only the last of a run
    /// of `consecutiveWrongCodesLock` then needs a second pass.
    static func countWrongCode(of user: User, limits: AbuseLimits, predicting: Bool = false, in tx: PQTransaction) throws -> Bool {
        let lock = limits.consecutiveWrongCodesLock
        if predicting {
            ExpectedOutcome.queue(
                "code_limits.count_wrong_code",
                changingOneRow: """
                    UPDATE users SET consecutive_wrong_codes = consecutive_wrong_codes + 1
                    WHERE company_id = app_company() AND id = \(user.id) AND consecutive_wrong_codes + 1 < \(lock)
                    RETURNING id
                    """,
                in: tx
            )
            return false
        }
        let locked = try tx.query(
            "code_limits.count_wrong_code",
            """
            UPDATE users SET consecutive_wrong_codes = consecutive_wrong_codes + 1,
                locked_until = CASE WHEN consecutive_wrong_codes + 1 >= \(lock)
                    THEN now() + make_interval(secs => \(limits.lockDuration)) ELSE locked_until END
            WHERE company_id = app_company() AND id = \(user.id)
            RETURNING consecutive_wrong_codes >= \(lock) AS locked
            """
        )
        return try locked.first?.decode("locked", as: Bool.self) == true
    }

    /// A right code ends the account's run of wrong codes.
    static func resetWrongCodes(of user: User, in tx: PQTransaction) throws {
        // Queued: it goes with the session's insert.
        tx.queue(
            "code_limits.reset_wrong_codes",
            "UPDATE users SET consecutive_wrong_codes = 0 WHERE company_id = app_company() AND id = \(user.id)"
        )
    }

    /// Past the account's hourly wrong-code limit its challenges close, in verify and resend alike.
    static func closeForWrongCodeLimit(of user: User, refusal: LimitRefusal, clientInfo: ClientInfo, in tx: PQTransaction) throws {
        try closeAll(of: user, clientInfo: clientInfo, limit: "wrong_codes_per_account", firstRefusal: refusal.isFirstInWindow, in: tx)
    }

    /// Closes every open challenge of the account (`account_limit`). The event is written
    /// when challenges closed or when this is the limit's first refusal in its window, so
    /// repeated refusals cannot flood the log.
    static func closeAll(of user: User, clientInfo: ClientInfo, limit: String, firstRefusal: Bool, in tx: PQTransaction) throws {
        let closed = try ChallengeStore.closeAll(userID: user.id, reason: .accountLimit, in: tx)
        guard firstRefusal || closed > 0 else { return }
        try Event(
            companyID: user.companyID,
            type: .loginRateLimited,
            userID: user.id,
            email: user.email,
            client: clientInfo,
            detail: ["limit": .string(limit), "challenges_closed": .int(closed)]
        ).record(in: tx)
    }
}
