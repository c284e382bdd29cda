public import Foundation
public import PQ

/// The emails Tollgate sends.
public enum EmailTemplate: String, Sendable {
    case loginCode = "login_code"
    case activationCode = "activation_code"
    case twoFactorEnabled = "two_factor_enabled"
    case twoFactorDisabled = "two_factor_disabled"
}

/// A rendered email: subject, plain text and HTML.
public struct RenderedEmail: Sendable {
    public let subject: String
    public let text: String
    public let html: String
}

/// Plain templates (the mail issue replaces these with the full MIME-ready set).
public enum EmailTemplates {
    public static func loginCode(code: String, expiresAt: Date, requestedAt: Date, client: ClientInfo, companyName: String) -> RenderedEmail {
        codeEmail(purpose: "sign in to \(companyName)", code: code, expiresAt: expiresAt, requestedAt: requestedAt, client: client)
    }

    public static func activationCode(code: String, expiresAt: Date, requestedAt: Date, client: ClientInfo, companyName: String) -> RenderedEmail {
        codeEmail(purpose: "turn on two-factor authentication for \(companyName)", code: code, expiresAt: expiresAt, requestedAt: requestedAt, client: client)
    }

    public static func twoFactorChanged(enabled: Bool, actorEmail: String, at: Date, client: ClientInfo, companyName: String) -> RenderedEmail {
        let state = enabled ? "turned on" : "turned off"
        let text = "Two-factor authentication was \(state) for \(companyName) by \(actorEmail) at \(utc(at)) from \(client.ip)."
        return RenderedEmail(subject: "Two-factor authentication \(state)", text: text, html: "<p>\(escape(text))</p>")
    }

    static func codeEmail(purpose: String, code: String, expiresAt: Date, requestedAt: Date, client: ClientInfo) -> RenderedEmail {
        let text = """
            Your code to \(purpose) is \(code).
            It expires at \(utc(expiresAt)).
            Requested at \(utc(requestedAt)) from \(client.ip) (\(client.userAgent ?? "unknown browser")).
            """
        return RenderedEmail(subject: "Your verification code", text: text, html: "<pre>\(escape(text))</pre>")
    }

    static func utc(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
        return formatter.string(from: date)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

/// The outbound email queue, written inside the transaction that decides to send.
public enum Outbox {
    public static func enqueue(
        companyID: UUID, challengeID: UUID?, recipient: String, template: EmailTemplate, email: RenderedEmail, codeExpiresAt: Date?,
        in tx: PQTransaction
    ) throws -> UUID {
        let id = UUID()
        try tx.query(
            ("""
            INSERT INTO email_outbox (company_id, id, challenge_id, recipient, template, subject, body_text, body_html, code_expires_at, message_id)
            VALUES (\(companyID), \(id), \(challengeID), \(recipient), \(template.rawValue), \(email.subject), \(email.text), \(email.html),
                    \(codeExpiresAt), \("<\(id.uuidString.lowercased())@tollgate>"))
            """ as PQQuery).named("outbox.enqueue")
        )
        return id
    }

    public static func deliveryState(emailID: UUID, in tx: PQTransaction) throws -> String {
        let rows = try tx.query(("SELECT status FROM email_outbox WHERE id = \(emailID)" as PQQuery).named("outbox.state"))
        switch try rows.first?.decode("status", as: String.self) {
        case "sent": return "sent"
        case "failed", "expired": return "failed"
        default: return "queued"
        }
    }
}
