public import Foundation

/// The kinds of email Tollgate sends; the raw value is `email_outbox.template`.
public enum EmailTemplate: String, Sendable, CaseIterable {
    case loginCode = "login_code"
    case activationCode = "activation_code"
    case twoFactorEnabled = "two_factor_enabled"
    case twoFactorDisabled = "two_factor_disabled"
    case passwordChanged = "password_changed"
    case passwordReset = "password_reset"
    case invitation
    case loginReported = "login_reported"
    case policyChanged = "policy_changed"
    case sessionsEnded = "sessions_ended"
    case methodAdded = "method_added"
    case methodRemoved = "method_removed"
    case methodsReset = "methods_reset"

    /// True for emails that carry a one-time secret (a code or a reset link): they expire with
    /// it and are scrubbed after delivery.
    public var carriesCode: Bool { self == .loginCode || self == .activationCode || self == .passwordReset || self == .invitation }
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
    public static func loginCode(
        code: String,
        expiresAt: Date,
        requestedAt: Date,
        client: ClientInfo,
        companyName: String,
        notMeLink: String? = nil
    ) -> RenderedEmail {
        codeEmail(
            purpose: "sign in to the \(oneLine(companyName)) dashboard",
            subject: "Your sign-in code for \(oneLine(companyName))",
            code: code,
            expiresAt: expiresAt,
            requestedAt: requestedAt,
            client: client,
            notMeLink: notMeLink
        )
    }

    /// A password was changed or reset: a notice to the account's own address.
    public static func passwordChanged(reset: Bool, at: Date, client: ClientInfo, companyName: String) -> RenderedEmail {
        let what = reset ? "reset with a link sent to this address" : "changed"
        let subject = "Your \(oneLine(companyName)) password was \(reset ? "reset" : "changed")"
        return notice(
            subject: subject,
            opening: "The password of your \(oneLine(companyName)) account was \(what).",
            facts: [("When", EmailDates.full(at)), ("IP address", oneLine(client.ip)), ("Browser", BrowserSummary.describe(client.userAgent))],
            closing: "Every other sign-in of your account was ended. If this was not you, ask for a new password with "
                + "\"Forgot password\" at once and tell your administrator."
        )
    }

    /// A reset (or, for a new account, invitation) link: single use, valid until `expiresAt`.
    public static func passwordReset(link: String, expiresAt: Date, client: ClientInfo, companyName: String, invitation: Bool) -> RenderedEmail {
        let company = oneLine(companyName)
        let subject = invitation ? "Your account for \(company): choose a password" : "Reset your \(company) password"
        let opening =
            invitation
            ? "An account was created for you at \(company). Choose its password with this link:"
            : "Someone (we hope you) asked to reset the password of your \(company) account. Choose a new one with this link:"
        let text = """
            \(opening)

                \(link)

            It works once, until \(EmailDates.full(expiresAt)).

            Requested from IP address \(oneLine(client.ip)), \(BrowserSummary.describe(client.userAgent)).
            If you did not ask for this, ignore this email: your password stays as it is.
            """
        let html = page(
            title: subject,
            body: """
                <p>\(escape(opening))</p>
                <p><a href="\(escape(link))">\(escape(link))</a></p>
                <p>It works once, until <strong>\(escape(EmailDates.full(expiresAt)))</strong>.</p>
                <p>Requested from IP address \(escape(oneLine(client.ip))), \(escape(BrowserSummary.describe(client.userAgent))).
                If you did not ask for this, ignore this email: your password stays as it is.</p>
                """
        )
        return RenderedEmail(subject: subject, text: text + "\n", html: html)
    }

    /// "This wasn't me": to the user and to every owner.
    /// `sessionEnded`: the code had been entered already, and the session it opened was ended.
    public static func loginReported(
        userEmail: String,
        at: Date,
        challengeClient: ClientInfo,
        companyName: String,
        toOwner: Bool,
        sessionEnded: Bool = false
    ) -> RenderedEmail {
        let company = oneLine(companyName)
        let subject = toOwner ? "A sign-in to \(company) was reported as not genuine" : "You reported a sign-in to \(company)"
        let stopped =
            sessionEnded
            ? "The code had been entered already; the session it opened has been ended."
            : "The sign-in was stopped."
        let opening =
            toOwner
            ? "\(oneLine(userEmail)) reported that a sign-in code sent to them was not asked for by them. \(stopped) Someone may know their password."
            : "You reported that you did not ask for a sign-in code. \(stopped) Someone may know your password."
        return notice(
            subject: subject,
            opening: opening,
            facts: [
                ("Reported", EmailDates.full(at)), ("Sign-in from IP address", oneLine(challengeClient.ip)),
                ("Browser", BrowserSummary.describe(challengeClient.userAgent)),
            ],
            closing: toOwner
                ? "Ask them to change their password, and look at the company's security events."
                : "Change your password now (\"Forgot password\" on the sign-in page) and tell your administrator."
        )
    }

    static func notice(subject: String, opening: String, facts: [(String, String)], closing: String) -> RenderedEmail {
        let text = """
            \(opening)

            \(facts.map { "\($0.0): \($0.1)" }.joined(separator: "\n"))

            \(closing)
            """
        let html = page(
            title: subject,
            body: """
                <p>\(escape(opening))</p>
                \(factTable(facts))
                <p>\(escape(closing))</p>
                """
        )
        return RenderedEmail(subject: subject, text: text + "\n", html: html)
    }

    public static func activationCode(
        code: String,
        expiresAt: Date,
        requestedAt: Date,
        client: ClientInfo,
        companyName: String
    ) -> RenderedEmail {
        codeEmail(
            purpose: "turn on two-factor authentication for \(oneLine(companyName))",
            subject: "Your code to turn on two-factor authentication for \(oneLine(companyName))",
            code: code,
            expiresAt: expiresAt,
            requestedAt: requestedAt,
            client: client
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

    /// An owner ended every session of the company (SPEC §14): a notice to every owner.
    public static func sessionsEnded(
        actorEmail: String,
        at: Date,
        client: ClientInfo,
        companyName: String,
        sessionsEnded: Int,
        browsersForgotten: Int
    ) -> RenderedEmail {
        let company = oneLine(companyName)
        return notice(
            subject: "Every session of \(company) was ended",
            opening: "\(oneLine(actorEmail)) ended every session of \(company) and forgot every remembered browser. "
                + "Everyone, including them, must sign in again, with a code where two-factor authentication is on.",
            facts: [
                ("By", oneLine(actorEmail)), ("When", EmailDates.full(at)), ("IP address", oneLine(client.ip)),
                ("Browser", BrowserSummary.describe(client.userAgent)), ("Sessions ended", String(sessionsEnded)),
                ("Remembered browsers forgotten", String(browsersForgotten)),
            ],
            closing: "If this was not expected, contact the other owners and your Tollgate support at once."
        )
    }

    private static func codeEmail(
        purpose: String,
        subject: String,
        code: String,
        expiresAt: Date,
        requestedAt: Date,
        client: ClientInfo,
        notMeLink: String? = nil
    ) -> RenderedEmail {
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
            """ + (notMeLink.map { "\n\nThis wasn't me: \($0)" } ?? "")
        let html = page(
            title: subject,
            body: """
                <p>Your code to \(escape(purpose)):</p>
                <p style="font-size:28px;font-weight:bold;letter-spacing:4px;font-family:monospace">\(escape(code))</p>
                <p>It works once, until <strong>\(escape(expiry))</strong>.</p>
                \(factTable(facts))
                <p>If you did not ask for this code, someone may know your password: change it and tell your administrator.
                Never share this code; nobody from support will ask for it.</p>
                """ + (notMeLink.map { #"<p><a href="\#(escape($0))">This wasn't me</a></p>"# } ?? "")
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
}
