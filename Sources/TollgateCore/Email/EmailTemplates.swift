public import Foundation

/// The kinds of email Tollgate sends; the raw value is `email_outbox.template`.
public enum EmailTemplate: String, Sendable, CaseIterable {
    case loginCode = "login_code"
    case activationCode = "activation_code"
    case twoFactorEnabled = "two_factor_enabled"
    case twoFactorDisabled = "two_factor_disabled"

    /// True for emails that carry a code: they expire with it and are scrubbed after delivery.
    public var carriesCode: Bool { self == .loginCode || self == .activationCode }
}

/// A rendered email: the subject (never the code) and its text and HTML bodies.
public struct RenderedEmail: Sendable {
    public let subject: String
    public let text: String
    public let html: String

    public init(subject: String, text: String, html: String) {
        self.subject = subject
        self.text = text
        self.html = html
    }
}

/// The texts of Tollgate's emails.
///
/// Everything interpolated into HTML is escaped (the user agent is whatever the client sent),
/// control characters are removed from every value, and subjects never hold a code.
public enum EmailTemplates {
    /// Code emails: state the code, its expiry as a time (UTC, e.g. "10:42 UTC"), and the request context (time, IP, browser).
    public static func loginCode(code: String, expiresAt: Date, requestedAt: Date, client: ClientInfo, companyName: String) -> RenderedEmail {
        codeEmail(
            purpose: "sign in to the \(oneLine(companyName)) dashboard",
            subject: "Your sign-in code for \(oneLine(companyName))",
            code: code, expiresAt: expiresAt, requestedAt: requestedAt, client: client
        )
    }

    public static func activationCode(
        code: String, expiresAt: Date, requestedAt: Date, client: ClientInfo, companyName: String
    ) -> RenderedEmail {
        codeEmail(
            purpose: "turn on two-factor authentication for \(oneLine(companyName))",
            subject: "Your code to turn on two-factor authentication for \(oneLine(companyName))",
            code: code, expiresAt: expiresAt, requestedAt: requestedAt, client: client
        )
    }

    /// Owner notices: who (name/email of the actor), when, from which IP.
    public static func twoFactorChanged(enabled: Bool, actorEmail: String, at: Date, client: ClientInfo, companyName: String) -> RenderedEmail {
        let company = oneLine(companyName)
        let state = enabled ? "turned on" : "turned off"
        let subject = "Two-factor authentication was \(state) for \(company)"
        let consequence =
            enabled
            ? "Everyone with dashboard access now enters a code sent by email after their password."
            : "Dashboard users now sign in with their password only."
        let facts: [(String, String)] = [
            ("By", oneLine(actorEmail)), ("When", EmailDates.full(at)), ("IP address", oneLine(client.ip)),
            ("Browser", BrowserSummary.describe(client.userAgent)),
        ]
        let text = """
            Two-factor authentication was \(state) for \(company).

            \(facts.map { "\($0.0): \($0.1)" }.joined(separator: "\n"))

            \(consequence)
            If this was not expected, contact the other owners and your Tollgate support at once.
            """
        let html = page(
            title: subject,
            body: """
                <p>Two-factor authentication was <strong>\(state)</strong> for \(escape(company)).</p>
                \(factTable(facts))
                <p>\(escape(consequence))</p>
                <p>If this was not expected, contact the other owners and your Tollgate support at once.</p>
                """
        )
        return RenderedEmail(subject: subject, text: text + "\n", html: html)
    }

    private static func codeEmail(purpose: String, subject: String, code: String, expiresAt: Date, requestedAt: Date, client: ClientInfo)
        -> RenderedEmail
    {
        let code = oneLine(code)
        let expiry = EmailDates.clock(expiresAt)
        let facts: [(String, String)] = [
            ("Requested", EmailDates.full(requestedAt)), ("IP address", oneLine(client.ip)),
            ("Browser", BrowserSummary.describe(client.userAgent)),
        ]
        let text = """
            Your code to \(purpose):

                \(code)

            It works once, until \(expiry).

            \(facts.map { "\($0.0): \($0.1)" }.joined(separator: "\n"))

            If you did not ask for this code, someone may know your password: change it and tell your administrator.
            Never share this code; nobody from support will ask for it.
            """
        let html = page(
            title: subject,
            body: """
                <p>Your code to \(escape(purpose)):</p>
                <p style="font-size:28px;font-weight:bold;letter-spacing:4px;font-family:monospace">\(escape(code))</p>
                <p>It works once, until <strong>\(escape(expiry))</strong>.</p>
                \(factTable(facts))
                <p>If you did not ask for this code, someone may know your password: change it and tell your administrator.
                Never share this code; nobody from support will ask for it.</p>
                """
        )
        return RenderedEmail(subject: subject, text: text + "\n", html: html)
    }

    private static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>\(escape(title))</title></head>
        <body style="font-family:sans-serif">
        \(body)
        </body></html>

        """
    }

    private static func factTable(_ facts: [(String, String)]) -> String {
        "<table>"
            + facts.map { "<tr><td>\(escape($0.0))</td><td>\(escape($0.1))</td></tr>" }.joined()
            + "</table>"
    }

    /// HTML-escapes text for element content and quoted attributes.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// One line of text: control characters (newlines included) become spaces, so a value
    /// cannot add lines to a text body or headers to a subject.
    public static func oneLine(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
    }
}

/// Dates as emails show them, always in UTC, independent of the machine's locale.
enum EmailDates {
    private static func parts(_ date: Date) -> DateComponents {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
    }

    private static func two(_ value: Int?) -> String {
        let value = value ?? 0
        return value < 10 ? "0\(value)" : "\(value)"
    }

    /// `10:42 UTC`
    static func clock(_ date: Date) -> String {
        let p = parts(date)
        return "\(two(p.hour)):\(two(p.minute)) UTC"
    }

    /// `2026-11-20 10:32:05 UTC`
    static func full(_ date: Date) -> String {
        let p = parts(date)
        return "\(p.year ?? 0)-\(two(p.month))-\(two(p.day)) \(two(p.hour)):\(two(p.minute)):\(two(p.second)) UTC"
    }
}
