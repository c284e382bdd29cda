import Foundation
import PQ

/// Every statement on the `challenges` table (`challenge.*`), in the caller's transaction.
/// The security counters are single conditional statements (`attempts < max_attempts`,
/// `state = 'pending'`), so no interleaving can count past a limit or consume a code twice.
enum ChallengeStore {
    /// Finds the challenge a request names, with its user, locked while it may still change;
    /// `withDelivery` joins its latest code email's state too (for the views: the poll then
    /// needs no second read). The join is left out where nobody shows it: it cost the verify
    /// lookup about a fifth of its database time (pgbench, bench/RESULTS.md).
    static func locate(_ locator: ChallengeLocator, withDelivery: Bool = false, in tx: PQTransaction) throws -> (ChallengeRecord, User)? {
        let delivery = withDelivery ? ", o.status AS email_status" : ""
        let join = withDelivery ? "LEFT JOIN email_outbox o ON o.id = ch.email_id" : ""
        guard let row = try locating(locator, columns: delivery, joins: join, in: tx) else { return nil }
        var record = try ChallengeRecord(row: row)
        if withDelivery { record.emailStatus = try row.decode("email_status", as: String?.self) }
        return (record, try User(row: row))
    }

    /// ``locate(_:withDelivery:in:)`` with the challenge's company, for a new code's email.
    static func locateWithCompany(_ locator: ChallengeLocator, in tx: PQTransaction) throws -> (ChallengeRecord, User, Company)? {
        let joins = "JOIN companies c ON c.id = ch.company_id"
        guard let row = try locating(locator, columns: ", \(Company.columns)", joins: joins, in: tx) else { return nil }
        return (try ChallengeRecord(row: row), try User(row: row), try Company(row: row))
    }

    /// The challenge and its user, and whatever `columns` the `joins` add to `ch` (the
    /// function's row), in one round trip.
    /// Only the challenge's row is locked, and only while it may still change: an ended one
    /// (used or closed, which is final) is read without its lock, so replays of a used token
    /// neither wait for nor hold up anyone (`challenge_locate`, migration 0015).
    private static func locating(_ locator: ChallengeLocator, columns: String, joins: String, in tx: PQTransaction) throws -> PQRow? {
        let located: PQQuery
        switch locator {
        case .loginToken(let candidates):
            located = "challenge_locate('login', \(PQByteaArray(candidates)), NULL, NULL)"
        case .activation(let id, let userID):
            located = "challenge_locate('activation', NULL, \(id), \(userID))"
        }
        // The function returns the challenge's and the user's columns but the clocks, read here
        // after it (so after any wait for the lock).
        let query: PQQuery = """
            SELECT ch.*, clock_timestamp() AS database_now, now() AS transaction_start\(unsafeSQL: columns)
            FROM \(statement: located) ch \(unsafeSQL: joins)
            """
        return try tx.query("challenge.locate", query).first
    }

    /// Closes the user's open challenge of this purpose: one open challenge per user and purpose.
    static func replace(userID: UUID, purpose: Challenge.Purpose, in tx: PQTransaction) throws {
        // Queued: it goes with the new challenge's insert.
        tx.queue(
            "challenge.replace",
            """
            UPDATE challenges SET state = 'closed', close_reason = \(Challenge.CloseReason.replaced.rawValue), closed_at = now()
            WHERE company_id = app_company() AND user_id = \(userID) AND purpose = \(purpose.rawValue) AND state IN ('pending', 'verified')
            """
        )
    }

    /// Inserts a challenge with its first code. `reportMAC` (login only) arms its "this
    /// wasn't me" link for 24 hours (SPEC §10). With `clock` (the transaction's, read under
    /// its locks), the insert is queued and the record is the one it makes.
    static func create(
        id: UUID,
        companyID: UUID,
        userID: UUID,
        purpose: Challenge.Purpose,
        tokenMAC: Data?,
        codeMAC: Data,
        reportMAC: Data?,
        policy: CodePolicy,
        clientInfo: ClientInfo,
        clock: TransactionClock?,
        in tx: PQTransaction
    ) throws -> ChallengeRecord {
        let insert: PQQuery = """
            INSERT INTO challenges (company_id, id, user_id, purpose, token_hash, code_hash, code_expires_at, max_attempts, max_resends,
                                    ip, user_agent, report_token_hash, report_expires_at, lifetime_ends_at)
            VALUES (\(companyID), \(id), \(userID), \(purpose.rawValue), \(tokenMAC), \(codeMAC),
                    now() + make_interval(secs => \(policy.ttl)), \(policy.maxAttempts), \(policy.maxResends), \(clientInfo.ip),
                    \(clientInfo.userAgent), \(reportMAC), CASE WHEN \(reportMAC) IS NULL THEN NULL ELSE now() + interval '24 hours' END,
                    now() + make_interval(secs => \(policy.lifetime)))
            """
        guard let clock else {
            let rows = try tx.query("challenge.create", "\(statement: insert) RETURNING \(unsafeSQL: ChallengeRecord.columns)")
            return try ChallengeRecord(row: try rows.first.orThrow())
        }
        // An insert either inserts or fails the transaction: nothing to predict but the columns'
        // values, which are those of the statement (`now()` is the transaction's start).
        tx.queue("challenge.create", insert)
        return ChallengeRecord(inserting: id, companyID: companyID, userID: userID, purpose: purpose, codeMAC: codeMAC, policy: policy, clock: clock)
    }

    /// Points the challenge at its latest code email.
    static func setEmail(_ emailID: UUID, challengeID: UUID, in tx: PQTransaction) throws {
        tx.queue(
            "challenge.email",
            "UPDATE challenges SET email_id = \(emailID) WHERE company_id = app_company() AND id = \(challengeID)"
        )
    }

    /// Counts an entry before the code is compared, in one statement with `reservation`, the
    /// account's wrong-code count (``RateLimiter/hitQuery(_:limit:window:)``): the entry is
    /// counted only when the account's count took it. The conditions make both limits hold
    /// whatever else runs at the same time. `attempts` is nil when the entry may not be
    /// counted (the challenge ended, or the account refused it).
    ///
    /// `predicting`: the challenge is locked and open, so only the account's count can refuse;
    /// the statement is queued, expecting it not to (``ExpectedOutcome``), and the count the
    /// locked row implies is answered.
    static func countAttempt(
        _ challenge: Challenge,
        reserving reservation: PQQuery,
        predicting: Bool,
        in tx: PQTransaction
    ) throws -> (refusal: LimitRefusal?, attempts: Int?) {
        let counting: PQQuery = """
            WITH hit AS (\(statement: reservation)),
            counted AS (
                UPDATE challenges SET attempts = attempts + 1
                WHERE company_id = app_company() AND id = \(challenge.id) AND state = 'pending'
                  AND attempts < max_attempts AND code_expires_at > now() AND lifetime_ends_at > now()
                  AND NOT (SELECT last_refused FROM hit)
                RETURNING attempts
            )
            """
        if predicting {
            let attempts = challenge.attempts + 1
            tx.queue(
                "challenge.count_attempt",
                """
                \(statement: counting)
                SELECT expect_outcome(
                    coalesce((SELECT NOT last_refused FROM hit), false) AND (SELECT attempts FROM counted) = \(attempts), 'challenge.count_attempt'
                )
                """
            )
            return (nil, attempts)
        }
        let rows = try tx.query(
            "challenge.count_attempt",
            """
            \(statement: counting)
            SELECT hit.last_refused, hit.refused, hit.seconds, (SELECT attempts FROM counted) AS attempts FROM hit
            """
        )
        return (try RateLimiter.refusal(ofHit: rows), try rows.first?.decode("attempts", as: Int?.self))
    }

    /// Consumes the right code once: the challenge becomes `state` (used or verified).
    static func consume(_ challenge: Challenge, becoming state: Challenge.State, in tx: PQTransaction) throws -> ChallengeRecord? {
        let consumed = try tx.query("challenge.consume", consuming(challenge, becoming: state, returning: ChallengeRecord.columns))
        return try consumed.first.map { try ChallengeRecord(row: $0) }
    }

    /// ``consume(_:becoming:in:)`` of a challenge this transaction holds locked and open,
    /// queued, expecting it to change the row (``ExpectedOutcome``).
    static func queueConsume(_ challenge: Challenge, becoming state: Challenge.State, in tx: PQTransaction) {
        ExpectedOutcome.queue("challenge.consume", changingOneRow: consuming(challenge, becoming: state, returning: "id"), in: tx)
    }

    private static func consuming(_ challenge: Challenge, becoming state: Challenge.State, returning columns: String) -> PQQuery {
        """
        UPDATE challenges SET state = \(state.rawValue), verified_at = now(),
            used_at = CASE WHEN \(state.rawValue) = 'used' THEN now() END
        WHERE company_id = app_company() AND id = \(challenge.id) AND state = 'pending' AND code_hash = \(challenge.codeHash)
          AND lifetime_ends_at > now()
        RETURNING \(unsafeSQL: columns)
        """
    }

    /// Adds a wrong entry to the challenge's total, kept for support.
    static func countWrong(challengeID: UUID, in tx: PQTransaction) throws {
        // Queued: it goes with the account's count, which is read.
        tx.queue(
            "challenge.count_wrong",
            "UPDATE challenges SET wrong_total = wrong_total + 1 WHERE company_id = app_company() AND id = \(challengeID)"
        )
    }

    /// Replaces the code, if a resend is left and the cooldown is over (judged again here, by
    /// the database clock). Nil: no new code was issued.
    static func resend(challengeID: UUID, codeMAC: Data, policy: CodePolicy, in tx: PQTransaction) throws -> ChallengeRecord? {
        let renewed = try tx.query("challenge.resend", resending(challengeID, codeMAC: codeMAC, policy: policy, returning: ChallengeRecord.columns))
        return try renewed.first.map { try ChallengeRecord(row: $0) }
    }

    /// ``resend(challengeID:codeMAC:policy:in:)`` of a challenge this transaction holds locked,
    /// that ``Challenge/requestResend(at:cooldown:)`` allowed: queued, expecting it to issue
    /// the code (``ExpectedOutcome``). The record is the one the statement makes.
    static func queueResend(_ record: ChallengeRecord, codeMAC: Data, policy: CodePolicy, in tx: PQTransaction) -> ChallengeRecord {
        let resending = resending(record.challenge.id, codeMAC: codeMAC, policy: policy, returning: "id")
        ExpectedOutcome.queue("challenge.resend", changingOneRow: resending, in: tx)
        return record.reissued(codeMAC: codeMAC, policy: policy)
    }

    private static func resending(_ challengeID: UUID, codeMAC: Data, policy: CodePolicy, returning columns: String) -> PQQuery {
        """
        UPDATE challenges SET code_hash = \(codeMAC), code_issued_at = now(),
            code_expires_at = now() + make_interval(secs => \(policy.ttl)), attempts = 0,
            resends_used = resends_used + 1, last_sent_at = clock_timestamp()
        WHERE company_id = app_company() AND id = \(challengeID) AND state = 'pending' AND resends_used < max_resends
          AND lifetime_ends_at > clock_timestamp() AND last_sent_at + make_interval(secs => \(policy.resendCooldown)) <= clock_timestamp()
        RETURNING \(unsafeSQL: columns)
        """
    }

    /// Closes one open challenge; false when it was not open any more. `predicting`: the
    /// transaction holds it locked and open, so the statement is queued, expecting it to close.
    static func close(challengeID: UUID, reason: Challenge.CloseReason, predicting: Bool = false, in tx: PQTransaction) throws -> Bool {
        let closing: PQQuery = """
            UPDATE challenges SET state = 'closed', close_reason = \(reason.rawValue), closed_at = now()
            WHERE company_id = app_company() AND id = \(challengeID) AND state IN ('pending', 'verified')
            RETURNING id
            """
        if predicting {
            ExpectedOutcome.queue("challenge.close", changingOneRow: closing, in: tx)
            return true
        }
        return !(try tx.query("challenge.close", closing)).isEmpty
    }

    /// Closes every open challenge of the user; answers how many closed.
    static func closeAll(userID: UUID, reason: Challenge.CloseReason, in tx: PQTransaction) throws -> Int {
        try closingAll(userID: userID, reason: reason, in: tx).count
    }

    /// Closes every open challenge of the user; answers each one closed, with its purpose.
    static func closingAll(userID: UUID, reason: Challenge.CloseReason, in tx: PQTransaction) throws -> [(id: UUID, purpose: Challenge.Purpose)] {
        try tx.query(
            "challenge.close_all",
            """
            UPDATE challenges SET state = 'closed', close_reason = \(reason.rawValue), closed_at = now()
            WHERE company_id = app_company() AND user_id = \(userID) AND state IN ('pending', 'verified')
            RETURNING id, purpose
            """
        ).map { row in
            (id: try row.decode("id"), purpose: Challenge.Purpose(rawValue: try row.decode("purpose")) ?? .login)
        }
    }

    /// Uses a verified activation to enable 2FA: once, and within `window` seconds of its
    /// verification. False when it is not (or no longer) usable.
    static func useActivation(id: UUID, window: Int, in tx: PQTransaction) throws -> Bool {
        let consumed = try tx.query(
            "challenge.use_activation",
            """
            UPDATE challenges SET state = 'used', used_at = now()
            WHERE company_id = app_company() AND id = \(id) AND state = 'verified'
              AND verified_at + make_interval(secs => \(window)) > now()
            RETURNING id
            """
        )
        return !consumed.isEmpty
    }

    /// Marks a login challenge reported by its "this wasn't me" token (single use, within its
    /// 24 hours), closing it (`reported`) if it was still open.
    static func report(tokenCandidates: [Data], in tx: PQTransaction) throws -> ReportedChallenge? {
        // Every right-hand `state` below is the row's state before this statement.
        let rows = try tx.query(
            "challenge.report",
            """
            UPDATE challenges SET reported_at = now(),
                state = CASE WHEN state IN ('pending', 'verified') THEN 'closed' ELSE state END,
                close_reason = CASE WHEN state IN ('pending', 'verified') THEN 'reported' ELSE close_reason END,
                closed_at = CASE WHEN state IN ('pending', 'verified') THEN now() ELSE closed_at END
            WHERE company_id = app_company() AND purpose = 'login' AND report_token_hash = ANY(\(PQByteaArray(tokenCandidates)))
              AND reported_at IS NULL AND report_expires_at > now()
            RETURNING id, user_id, ip, user_agent, coalesce(close_reason = 'reported', false) AS closed, state = 'used' AS used
            """
        )
        guard let row = rows.first else { return nil }
        return ReportedChallenge(
            id: try row.decode("id"),
            userID: try row.decode("user_id"),
            client: ClientInfo(ip: try row.decode("ip", as: String?.self) ?? "unknown", userAgent: try row.decode("user_agent")),
            closed: try row.decode("closed"),
            used: try row.decode("used")
        )
    }
}
