import Foundation
import PQ

/// Every statement on the `challenges` table (`challenge.*`), in the caller's transaction.
/// The security counters are single conditional statements (`attempts < max_attempts`,
/// `state = 'pending'`), so no interleaving can count past a limit or consume a code twice.
enum ChallengeStore {
    /// Finds the challenge a request names, with its user and the user's counters, both locked
    /// until COMMIT while the challenge may still change (`challenge_locate`, migrations 0018
    /// and 0019); `withDelivery` joins its latest code email's state too (for the views and the
    /// activation's answer), `withCompany` its company (for a new code's email, or a browser to
    /// remember). The joins are left out where nobody needs them: the delivery's cost the verify
    /// lookup about a fifth of its database time (pgbench, bench/RESULTS.md).
    static func locate(
        _ locator: ChallengeLocator,
        withDelivery: Bool = false,
        withCompany: Bool = false,
        in tx: PQTransaction
    ) throws -> LocatedChallenge? {
        var columns: PQQuery = withDelivery ? ", o.status AS email_status" : ""
        var joins: PQQuery = withDelivery ? "LEFT JOIN email_outbox o ON o.id = ch.email_id" : ""
        if withCompany {
            columns = "\(statement: columns), \(unsafeSQL: Company.columns)"
            joins = "\(statement: joins) JOIN companies c ON c.id = ch.company_id"
        }
        guard let row = try locating(locator, columns: columns, joins: joins, in: tx) else { return nil }
        var record = try ChallengeRecord(row: row)
        if withDelivery { record.emailStatus = try row.decode("email_status", as: String?.self) }
        var located = LocatedChallenge(
            record: record,
            user: try User(row: row),
            counters: try AccountCounters(row: row, withChallenges: false),
            company: withCompany ? try Company(row: row) : nil
        )
        located.appSecrets = try row.decode("totp_secrets", as: [Data]?.self) ?? []
        located.lastAppStep = try row.decode("totp_last_step")
        return located
    }

    /// ``locate(_:withDelivery:withCompany:in:)`` with the challenge's company, for a new code's email.
    static func locateWithCompany(_ locator: ChallengeLocator, in tx: PQTransaction) throws -> LocatedChallenge? {
        try locate(locator, withCompany: true, in: tx)
    }

    /// The challenge, its user and counters, and whatever `columns` the `joins` add to `ch`
    /// (the function's row), in one round trip. An ended challenge (used or closed, which is
    /// final) is read without any lock, so replays of a used token neither wait for nor hold
    /// up anyone.
    private static func locating(_ locator: ChallengeLocator, columns: PQQuery, joins: PQQuery, in tx: PQTransaction) throws -> PQRow? {
        let located: PQQuery
        switch locator {
        case .loginToken(let candidates):
            located = "challenge_locate('login', \(PQByteaArray(candidates)), NULL, NULL)"
        case .activation(let id, let userID):
            located = "challenge_locate('activation', NULL, \(id), \(userID))"
        }
        // The function returns the challenge's and the user's columns but the clocks, read here
        // after it (so after any wait for the locks).
        let query: PQQuery = """
            SELECT ch.*, clock_timestamp() AS database_now, now() AS transaction_start\(statement: columns)
            FROM \(statement: located) ch \(statement: joins)
            """
        return try tx.query("challenge.locate", query).first
    }

    /// Closes the user's open challenge of this purpose: one open challenge per user and purpose.
    static func replace(userID: UUID, purpose: Challenge.Purpose, in tx: PQTransaction) {
        // Queued: it goes with the new challenge's insert.
        tx.queue(
            "challenge.replace",
            """
            UPDATE challenges SET state = 'closed', close_reason = \(Challenge.CloseReason.replaced.rawValue), closed_at = now()
            WHERE company_id = app_company() AND user_id = \(userID) AND purpose = \(purpose.rawValue) AND state IN ('pending', 'verified')
            """
        )
    }

    /// Inserts `record`'s challenge (``ChallengeRecord/init(inserting:companyID:userID:purpose:codeMAC:policy:clock:)``
    /// decided its values) with its first code, sent with the COMMIT. `reportMAC` (login only)
    /// arms its "this wasn't me" link for 24 hours (SPEC §10).
    static func create(_ record: ChallengeRecord, tokenMAC: Data?, reportMAC: Data?, clientInfo: ClientInfo, in tx: PQTransaction) {
        let challenge = record.challenge
        let methods = challenge.methods.map(\.rawValue).joined(separator: ",")
        tx.queue(
            "challenge.create",
            """
            INSERT INTO challenges (company_id, id, user_id, purpose, token_hash, code_hash, code_expires_at, max_attempts, max_resends,
                                    ip, user_agent, report_token_hash, report_expires_at, lifetime_ends_at, last_sent_at, methods, remember_days)
            VALUES (\(challenge.companyID), \(challenge.id), \(challenge.userID), \(challenge.purpose.rawValue), \(tokenMAC),
                    \(challenge.codeHash), \(challenge.codeExpiresAt), \(challenge.maxAttempts), \(challenge.maxResends), \(clientInfo.ip),
                    \(clientInfo.userAgent), \(reportMAC), CASE WHEN \(reportMAC) IS NULL THEN NULL ELSE now() + interval '24 hours' END,
                    \(challenge.lifetimeEndsAt), \(challenge.lastSentAt), string_to_array(\(methods), ','), \(challenge.rememberDays))
            """
        )
    }

    /// Points the challenge at its latest code email.
    static func setEmail(_ emailID: UUID, challengeID: UUID, in tx: PQTransaction) {
        tx.queue(
            "challenge.email",
            "UPDATE challenges SET email_id = \(emailID) WHERE company_id = app_company() AND id = \(challengeID)"
        )
    }

    /// Counts an entry against the current code before it is compared. The conditions hold
    /// the limits whatever else runs, should anything ever slip past the row lock.
    static func countAttempt(_ challenge: Challenge, in tx: PQTransaction) {
        tx.queue(
            "challenge.count_attempt",
            """
            UPDATE challenges SET attempts = attempts + 1
            WHERE company_id = app_company() AND id = \(challenge.id) AND state = 'pending'
              AND attempts < max_attempts AND code_expires_at > now() AND lifetime_ends_at > now()
            """
        )
    }

    /// Consumes the right code once: the challenge becomes `state` (used or verified).
    static func consume(_ challenge: Challenge, becoming state: Challenge.State, in tx: PQTransaction) {
        tx.queue(
            "challenge.consume",
            """
            UPDATE challenges SET state = \(state.rawValue), verified_at = now(), usable_until = \(challenge.usableUntil),
                used_at = CASE WHEN \(state.rawValue) = 'used' THEN now() END
            WHERE company_id = app_company() AND id = \(challenge.id) AND state = 'pending' AND code_hash = \(challenge.codeHash)
              AND lifetime_ends_at > now()
            """
        )
    }

    /// Adds a wrong entry to the challenge's total, kept for support.
    static func countWrong(challengeID: UUID, in tx: PQTransaction) {
        tx.queue(
            "challenge.count_wrong",
            "UPDATE challenges SET wrong_total = wrong_total + 1 WHERE company_id = app_company() AND id = \(challengeID)"
        )
    }

    /// Stores the new code ``Challenge/codeReissued(codeHash:expiresAt:at:)`` gave `challenge`.
    /// The conditions (a resend left, the cooldown over, within its lifetime) are the rules'
    /// own, kept as a guard.
    static func resend(_ challenge: Challenge, cooldown: Int, in tx: PQTransaction) {
        tx.queue(
            "challenge.resend",
            """
            UPDATE challenges SET code_hash = \(challenge.codeHash), code_issued_at = now(), code_expires_at = \(challenge.codeExpiresAt),
                attempts = 0, resends_used = resends_used + 1, last_sent_at = \(challenge.lastSentAt)
            WHERE company_id = app_company() AND id = \(challenge.id) AND state = 'pending' AND resends_used < max_resends
              AND lifetime_ends_at > now() AND last_sent_at + make_interval(secs => \(cooldown)) <= clock_timestamp()
            """
        )
    }

    /// Stores the first emailed code ``Challenge/firstCodeIssued(codeHash:expiresAt:at:)`` gave
    /// a login that mailed none yet, with its count of tries and resends as the rule left them
    /// (decided under the row's lock); the guard is the rule's own.
    static func sendFirst(_ challenge: Challenge, in tx: PQTransaction) {
        tx.queue(
            "challenge.first_email",
            """
            UPDATE challenges SET code_hash = \(challenge.codeHash), code_issued_at = now(), code_expires_at = \(challenge.codeExpiresAt),
                last_sent_at = \(challenge.lastSentAt), attempts = \(challenge.attempts), resends_used = \(challenge.resendsUsed)
            WHERE company_id = app_company() AND id = \(challenge.id) AND state = 'pending' AND email_id IS NULL AND lifetime_ends_at > now()
              AND \(challenge.resendsUsed) <= max_resends
            """
        )
    }

    /// Records an accepted authenticator-app code: its step is spent for the user (SPEC §13),
    /// the app was last used now, and its secret is stored `renewed` (sealed under the newest
    /// key) when an older key had opened it.
    static func spendAppStep(_ step: Int64, userID: UUID, app sealed: Data, renewed: Data?, in tx: PQTransaction) {
        tx.queue(
            "user.totp_step",
            """
            UPDATE users SET totp_last_step = \(step)
            WHERE company_id = app_company() AND id = \(userID) AND (totp_last_step IS NULL OR totp_last_step < \(step))
            """
        )
        tx.queue(
            "method.used",
            """
            UPDATE user_methods SET last_used_at = now(), totp_sealed = coalesce(\(renewed), totp_sealed)
            WHERE company_id = app_company() AND user_id = \(userID) AND kind = 'totp' AND totp_sealed = \(sealed)
            """
        )
    }

    /// Closes one open challenge.
    static func close(challengeID: UUID, reason: Challenge.CloseReason, in tx: PQTransaction) {
        tx.queue(
            "challenge.close",
            """
            UPDATE challenges SET state = 'closed', close_reason = \(reason.rawValue), closed_at = now()
            WHERE company_id = app_company() AND id = \(challengeID) AND state IN ('pending', 'verified')
            """
        )
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

    /// Uses a verified activation (``Challenge/use(at:)`` allowed it) to enable 2FA, once;
    /// the conditions are the rule's own, kept as a guard.
    static func use(_ challenge: Challenge, in tx: PQTransaction) {
        tx.queue(
            "challenge.use_activation",
            """
            UPDATE challenges SET state = 'used', used_at = now()
            WHERE company_id = app_company() AND id = \(challenge.id) AND state = 'verified' AND usable_until > now()
            """
        )
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
