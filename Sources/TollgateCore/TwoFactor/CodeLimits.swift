import Foundation
import PQ

/// The account-wide limits on codes (SPEC §5): challenges per hour, wrong codes per hour
/// across the account's challenges, and the lock after 100 wrong codes in a row. Every
/// refusal is recorded, at most once per limited key and window.
///
/// Each decision here is made on ``AccountCounters`` read under the user's row lock, so it
/// holds until COMMIT; the writes go with the COMMIT.
enum CodeLimits {
    /// The key of the account's hourly wrong-code counter (the user's id as Swift prints it;
    /// `challenge_locate` and ``AccountCounters/joins`` name it the same way).
    static func wrongCodesKey(_ user: User) -> String { "wrong_codes:\(user.id)" }

    /// The key of the account's hourly count of new challenges.
    static func challengesKey(_ user: User) -> String { "challenges:\(user.id)" }

    /// The refusal of a new challenge for `user` at `now` (the transaction's start), or nil,
    /// and then the challenge is counted: the account's lock, its wrong codes this hour, and
    /// challenges per hour. A refusal is recorded as an event.
    static func refuseNewChallenge(
        user: User,
        counters: AccountCounters,
        purpose: Challenge.Purpose,
        limits: AbuseLimits,
        clientInfo: ClientInfo,
        at now: Date,
        in tx: PQTransaction
    ) -> DomainError? {
        let rateLimited: EventType = purpose == .login ? .loginRateLimited : .twoFactorRateLimited
        func record(_ detail: [String: EventValue]) {
            Event(companyID: user.companyID, type: rateLimited, userID: user.id, email: user.email, client: clientInfo, detail: detail)
                .record(in: tx)
        }
        // Only the first refusal of a limit's window is written to the log (SPEC §5).
        func refuse(_ limit: String, _ key: String, _ refusal: LimitRefusal) -> DomainError {
            RateLimiter.queueRefusal(key, in: tx)
            if refusal.isFirstInWindow {
                record(["limit": .string(limit), "retry_after": .int(refusal.retryAfter), "later_refusals": .string("counted, not logged")])
            }
            return .rateLimited(retryAfter: refusal.retryAfter)
        }
        if let lockedUntil = counters.lockedUntil, lockedUntil > now {
            let retryAfter = max(1, Int(lockedUntil.timeIntervalSince(now).rounded(.up)))
            record(["limit": .string("account_locked"), "retry_after": .int(retryAfter)])
            return DomainError.accountLocked(retryAfter: retryAfter)
        }
        if let refusal = counters.wrongCodes.refusal(limit: limits.wrongCodesPerAccount, window: limits.wrongCodesPerAccountWindow, at: now) {
            return refuse("wrong_codes_per_account", wrongCodesKey(user), refusal)
        }
        if let refusal = counters.challenges.refusal(limit: limits.challengesPerAccount, window: limits.challengesPerAccountWindow, at: now) {
            return refuse("challenges_per_account", challengesKey(user), refusal)
        }
        RateLimiter.queueHit(challengesKey(user), limit: limits.challengesPerAccount, window: limits.challengesPerAccountWindow, in: tx)
        return nil
    }

    /// The refusal of any entry or new code at `now` once the account's wrong codes this hour
    /// reached the limit (counted as a refusal), or nil.
    static func wrongCodesRefusal(of user: User, counters: AccountCounters, limits: AbuseLimits, at now: Date, in tx: PQTransaction) -> LimitRefusal?
    {
        guard
            let refusal = counters.wrongCodes.refusal(limit: limits.wrongCodesPerAccount, window: limits.wrongCodesPerAccountWindow, at: now)
        else { return nil }
        RateLimiter.queueRefusal(wrongCodesKey(user), in: tx)
        return refusal
    }

    /// Counts a wrong code against the account: this hour's count, and the run of wrong codes,
    /// which locks its dashboard login at the limit. True when this one locks it.
    static func countWrongCode(of user: User, counters: AccountCounters, limits: AbuseLimits, in tx: PQTransaction) -> Bool {
        RateLimiter.queueHit(wrongCodesKey(user), limit: limits.wrongCodesPerAccount, window: limits.wrongCodesPerAccountWindow, in: tx)
        let lock = limits.consecutiveWrongCodesLock
        tx.queue(
            "code_limits.count_wrong_code",
            """
            UPDATE users SET consecutive_wrong_codes = consecutive_wrong_codes + 1,
                locked_until = CASE WHEN consecutive_wrong_codes + 1 >= \(lock)
                    THEN now() + make_interval(secs => \(limits.lockDuration)) ELSE locked_until END
            WHERE company_id = app_company() AND id = \(user.id)
            """
        )
        return counters.consecutiveWrongCodes + 1 >= lock
    }

    /// A right code ends the account's run of wrong codes.
    static func resetWrongCodes(of user: User, in tx: PQTransaction) {
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
    /// repeated refusals cannot flood the log. (A refusal, not the hot path: it reads how
    /// many closed.)
    static func closeAll(of user: User, clientInfo: ClientInfo, limit: String, firstRefusal: Bool, in tx: PQTransaction) throws {
        let closed = try ChallengeStore.closeAll(userID: user.id, reason: .accountLimit, in: tx)
        guard firstRefusal || closed > 0 else { return }
        Event(
            companyID: user.companyID,
            type: .loginRateLimited,
            userID: user.id,
            email: user.email,
            client: clientInfo,
            detail: ["limit": .string(limit), "challenges_closed": .int(closed)]
        ).record(in: tx)
    }
}
