public import Foundation
public import PQ

/// One email a worker has claimed: what it needs to send it, under a lease.
public struct ClaimedEmail: Sendable {
    public let companyID: UUID
    public let id: UUID
    public let recipient: String
    public let template: EmailTemplate
    public let subject: String
    public let text: String
    public let html: String
    /// Without angle brackets; the same on every attempt.
    public let messageID: String
    public let createdAt: Date
    /// Attempts recorded before this one.
    public let previousAttempts: Int
    /// Seconds the code has left by the database clock at claim time (nil: no code).
    public let codeSecondsLeft: Double?
    /// Seconds since the email was queued, by the database clock at claim time.
    public let ageSeconds: Double
}

/// How one delivery attempt ended.
public enum DeliveryOutcome: Sendable, Equatable {
    case sent
    /// A transient failure: try again after `delay`.
    case retry(after: Duration, smtpStatus: Int?, reason: String)
    /// A permanent failure, or the worker gave up.
    case failed(smtpStatus: Int?, reason: String)
    /// The code expired before the email could be delivered.
    case expired(reason: String)

    var attemptOutcome: String {
        switch self {
        case .sent: "sent"
        case .retry: "retry"
        case .failed: "failed"
        case .expired: "expired"
        }
    }
}

/// The worker's side of the outbound email queue: claim with `FOR UPDATE SKIP LOCKED` under
/// a lease, record each attempt, scrub codes, release what is left at shutdown.
///
/// Every write checks that this worker still holds the lease, so a worker that lost its lease
/// (it stalled past it and another took over) never overwrites the newer attempt's result.
public enum OutboxQueue {
    /// What a code email's bodies become once the email is final.
    public static let scrubbedBody = "(removed: this email carried a one-time code)"

    /// Claims up to `limit` due emails for `worker`: queued ones whose time has come, and
    /// sending ones whose lease ran out (their worker died; that attempt is recorded as
    /// `abandoned`, since the message may or may not have been accepted).
    public static func claim(worker: String, limit: Int, lease: Duration, in tx: PQTransaction) throws -> [ClaimedEmail] {
        let leaseSeconds = lease.seconds
        let rows = try tx.query(
            "outbox.claim",
            """
            WITH due AS (
                SELECT company_id, id, status AS previous_status, lease_owner AS previous_owner
                FROM email_outbox
                WHERE (status = 'queued' AND next_attempt_at <= now())
                   OR (status = 'sending' AND lease_expires_at <= now())
                ORDER BY next_attempt_at
                LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            )
            UPDATE email_outbox AS o
            SET status = 'sending', lease_owner = \(worker), lease_expires_at = now() + make_interval(secs => \(leaseSeconds)),
                attempts = o.attempts + CASE WHEN due.previous_status = 'sending' THEN 1 ELSE 0 END
            FROM due
            WHERE o.company_id = due.company_id AND o.id = due.id
            RETURNING o.company_id, o.id, o.recipient, o.template, o.subject, o.body_text, o.body_html, o.message_id,
                      o.created_at, o.attempts, due.previous_status, due.previous_owner,
                      extract(epoch FROM o.code_expires_at - now())::float8 AS code_seconds_left,
                      extract(epoch FROM now() - o.created_at)::float8 AS age_seconds
            """
        )
        var claimed: [ClaimedEmail] = []
        for row in rows {
            let email = ClaimedEmail(
                companyID: try row.decode("company_id"),
                id: try row.decode("id"),
                recipient: try row.decode("recipient"),
                template: EmailTemplate(rawValue: try row.decode("template", as: String.self)) ?? .loginCode,
                subject: try row.decode("subject"),
                text: try row.decode("body_text"),
                html: try row.decode("body_html"),
                messageID: try row.decode("message_id"),
                createdAt: try row.decode("created_at"),
                previousAttempts: try row.decode("attempts"),
                codeSecondsLeft: try row.decode("code_seconds_left"),
                ageSeconds: try row.decode("age_seconds")
            )
            if try row.decode("previous_status", as: String.self) == "sending" {
                let previousOwner = try row.decode("previous_owner", as: String?.self) ?? "unknown"
                try recordAttempt(
                    email: email,
                    attempt: email.previousAttempts,
                    worker: previousOwner,
                    outcome: "abandoned",
                    smtpStatus: nil,
                    error: "the worker stopped before recording a result; the message may have been delivered",
                    startedAt: nil,
                    in: tx
                )
            }
            claimed.append(email)
        }
        return claimed
    }

    /// Records how an attempt ended, if `worker` still holds the lease. Final outcomes scrub
    /// the bodies of code emails and write an `email.*` event. Returns false when the lease
    /// was lost (nothing is written then).
    @discardableResult
    public static func finish(
        _ email: ClaimedEmail,
        outcome: DeliveryOutcome,
        worker: String,
        startedAt: Date?,
        in tx: PQTransaction
    ) throws -> Bool {
        let status: String
        var retryDelay = 0.0
        var smtpStatus: Int?
        var reason: String?
        switch outcome {
        case .sent: status = "sent"
        case .retry(let after, let code, let text):
            status = "queued"
            retryDelay = after.seconds
            smtpStatus = code
            reason = text
        case .failed(let code, let text):
            status = "failed"
            smtpStatus = code
            reason = text
        case .expired(let text):
            status = "expired"
            reason = text
        }
        let final = status != "queued"
        // A code is worth nothing once its email is final; keep the envelope, drop the bodies.
        let scrub = final && email.template.carriesCode
        let rows = try tx.query(
            "outbox.finish",
            """
            UPDATE email_outbox
            SET status = \(status), attempts = attempts + 1, last_error = \(reason),
                lease_owner = NULL, lease_expires_at = NULL,
                next_attempt_at = CASE WHEN \(status) = 'queued' THEN now() + make_interval(secs => \(retryDelay)) ELSE next_attempt_at END,
                sent_at = CASE WHEN \(status) = 'sent' THEN now() ELSE sent_at END,
                body_text = CASE WHEN \(scrub) THEN \(scrubbedBody) ELSE body_text END,
                body_html = CASE WHEN \(scrub) THEN \(scrubbedBody) ELSE body_html END,
                scrubbed = scrubbed OR \(scrub)
            WHERE id = \(email.id) AND status = 'sending' AND lease_owner = \(worker)
            RETURNING attempts
            """
        )
        guard let attempt = try rows.first?.decode("attempts", as: Int.self) else { return false }
        try recordAttempt(
            email: email,
            attempt: attempt,
            worker: worker,
            outcome: outcome.attemptOutcome,
            smtpStatus: smtpStatus,
            error: reason,
            startedAt: startedAt,
            in: tx
        )
        if final {
            var detail: [String: EventValue] = [
                "email_id": .string(email.id.lowercasedString), "message_id": .string(email.messageID),
                "template": .string(email.template.rawValue), "attempts": .int(attempt),
            ]
            if let reason { detail["reason"] = .string(reason) }
            if let smtpStatus { detail["smtp_status"] = .int(smtpStatus) }
            // Final outcomes only: sent, failed or expired.
            let type: EventType = status == "sent" ? .emailSent : status == "expired" ? .emailExpired : .emailFailed
            Event(companyID: email.companyID, type: type, email: email.recipient, detail: detail).record(in: tx)
        }
        return true
    }

    /// Hands emails back to the queue untouched (graceful shutdown): no attempt is counted.
    public static func release(_ ids: [UUID], worker: String, in tx: PQTransaction) throws {
        guard !ids.isEmpty else { return }
        try tx.query(
            "outbox.release",
            """
            UPDATE email_outbox SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL
            WHERE id = ANY(\(PQUUIDArray(ids))) AND status = 'sending' AND lease_owner = \(worker)
            """
        )
    }

    /// Extends the lease on emails still held by `worker` (a long batch).
    public static func renewLease(_ ids: [UUID], worker: String, lease: Duration, in tx: PQTransaction) throws {
        guard !ids.isEmpty else { return }
        let seconds = lease.seconds
        try tx.query(
            "outbox.renew_lease",
            """
            UPDATE email_outbox SET lease_expires_at = now() + make_interval(secs => \(seconds))
            WHERE id = ANY(\(PQUUIDArray(ids))) AND status = 'sending' AND lease_owner = \(worker)
            """
        )
    }

    /// The queue as the worker's metrics and timer see it.
    public struct Depth: Sendable {
        /// Emails queued or being sent.
        public let count: Int
        /// Age of the oldest of them, in seconds.
        public let oldestAgeSeconds: Double
        /// Seconds until the next email falls due (a retry, or an expiring lease); nil when none waits.
        public let nextDueSeconds: Double?
    }

    public static func depth(in tx: PQTransaction) throws -> Depth {
        let rows = try tx.query(
            "outbox.depth",
            """
            SELECT count(*) AS depth,
                   coalesce(extract(epoch FROM now() - min(created_at))::float8, 0) AS oldest,
                   extract(epoch FROM least(min(next_attempt_at) FILTER (WHERE status = 'queued'),
                                            min(lease_expires_at) FILTER (WHERE status = 'sending')) - now())::float8 AS next_due
            FROM email_outbox WHERE status IN ('queued', 'sending')
            """
        )
        guard let row = rows.first else { return Depth(count: 0, oldestAgeSeconds: 0, nextDueSeconds: nil) }
        return Depth(count: try row.decode("depth"), oldestAgeSeconds: try row.decode("oldest"), nextDueSeconds: try row.decode("next_due"))
    }

    private static func recordAttempt(
        email: ClaimedEmail,
        attempt: Int,
        worker: String,
        outcome: String,
        smtpStatus: Int?,
        error: String?,
        startedAt: Date?,
        in tx: PQTransaction
    ) throws {
        // Queued: it goes with the event and the COMMIT, one round trip for the three.
        tx.queue(
            "outbox.record_attempt",
            """
            INSERT INTO email_attempts (company_id, email_id, attempt, worker, outcome, smtp_status, error, started_at)
            VALUES (\(email.companyID), \(email.id), \(max(1, attempt)), \(worker), \(outcome), \(smtpStatus), \(error), \(startedAt))
            """
        )
    }
}

extension Duration {
    /// The duration in seconds, fractions included.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
