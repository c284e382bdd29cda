public import Foundation

/// The notices of sign-in methods (SPEC §13: adding or removing one mails the user; so does an
/// administrator's reset, SPEC §11), to the account's own address.
extension EmailTemplates {
    /// An authenticator app (or passkey) was added to or removed from the account.
    public static func methodChanged(added: Bool, kind: String, name: String, at: Date, client: ClientInfo, companyName: String) -> RenderedEmail {
        let company = oneLine(companyName)
        let article = kind.first.map { "aeiou".contains($0) } == true ? "An" : "A"
        let subject = "\(article) \(kind) was " + (added ? "added to" : "removed from") + " your \(company) account"
        let opening =
            added
            ? "The \(kind) \"\(oneLine(name))\" can now be used to sign in to your \(company) account."
            : "The \(kind) \"\(oneLine(name))\" can no longer be used to sign in to your \(company) account."
        return notice(
            subject: subject,
            opening: opening,
            facts: [("When", EmailDates.full(at)), ("IP address", oneLine(client.ip)), ("Browser", BrowserSummary.describe(client.userAgent))],
            closing: "If this was not you, someone else is signed in as you: change your password at once "
                + "(\"Forgot password\" on the sign-in page) and tell your administrator."
        )
    }

    /// An administrator removed every authenticator app (and passkey) of the account.
    public static func methodsReset(at: Date, companyName: String) -> RenderedEmail {
        let company = oneLine(companyName)
        return notice(
            subject: "Your sign-in methods for \(company) were reset",
            opening: "An administrator removed the authenticator apps of your \(company) account. Until you add one again, "
                + "you sign in with a code sent to this address.",
            facts: [("When", EmailDates.full(at))],
            closing: "If you did not ask for this, tell your administrator."
        )
    }
}
