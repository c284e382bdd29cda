public import Foundation
public import PQ

/// The outbound email queue as the API sees it: emails are written in the caller's
/// transaction (so nothing is sent for a transaction that rolls back) and read back as a
/// delivery state. The worker's side is ``OutboxQueue``.
public enum Outbox {
    /// Inserts one email into email_outbox inside the caller's transaction (tenant = companyID is already set
    /// via app.company_id), with a stable Message-ID, and returns its id. The insert trigger notifies the workers at commit.
    public static func enqueue(
        companyID: UUID,
        challengeID: UUID?,
        recipient: String,
        template: EmailTemplate,
        email: RenderedEmail,
        codeExpiresAt: Date?,
        in tx: PQTransaction
    ) -> UUID {
        let id = UUID()
        // Fixed once here, so every retry of this email carries the same Message-ID and a
        // receiving system can drop the duplicates an at-least-once queue may produce.
        let messageID = messageID(for: id)
        // Queued: its id is made here, so nothing waits for its answer.
        tx.queue(
            "outbox.enqueue",
            """
            INSERT INTO email_outbox (company_id, id, challenge_id, recipient, template, subject, body_text, body_html,
                                      code_expires_at, message_id)
            VALUES (\(companyID), \(id), \(challengeID), \(recipient), \(template.rawValue), \(email.subject), \(email.text),
                    \(email.html), \(codeExpiresAt), \(messageID))
            """
        )
        return id
    }

    /// "queued" | "sent" | "failed" | "expired" for the API's `delivery` field (sending→queued;
    /// expired: the code expired before the email could be sent).
    public static func deliveryState(emailID: UUID, in tx: PQTransaction) throws -> Delivery {
        let rows = try tx.query("outbox.delivery_state", "SELECT status FROM email_outbox WHERE id = \(emailID)")
        guard let status = try rows.first?.decode("status", as: String.self) else {
            throw DomainError(.notFound, "No such email.")
        }
        return publicState(status)
    }

    /// The state of a code's email as the API shows it (`delivery`).
    public enum Delivery: String, Sendable, CaseIterable {
        /// Waiting for the worker, or being sent.
        case queued
        case sent
        case failed
        /// Its code expired before it could be sent.
        case expired
        /// No code was mailed: the login offered other methods and email was not picked (SPEC §13).
        case notSent = "not_sent"
    }

    /// Maps a stored status to the four states the API shows (`sending` is still queued).
    public static func publicState(_ status: String) -> Delivery {
        Delivery(rawValue: status) ?? .queued
    }

    /// The Message-ID (without angle brackets) of the email with this id.
    public static func messageID(for id: UUID) -> String {
        "\(id.lowercasedString)@tollgate"
    }
}
