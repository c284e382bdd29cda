public import Foundation

/// The notice of a change to the company's sign-in policy (SPEC §13, §14), to every owner.
extension EmailTemplates {
    /// The company's sign-in policy changed (SPEC §13, §14): a notice to every owner.
    public static func policyChanged(
        _ policy: SignInPolicy,
        actorEmail: String,
        at: Date,
        client: ClientInfo,
        companyName: String
    ) -> RenderedEmail {
        let company = oneLine(companyName)
        let methods =
            switch policy.methods {
            case .email: "codes by email only"
            case .any: "any of a user's methods (authenticator apps, email)"
            case .phishingResistant: "passkeys only"
            }
        let ask = policy.ask == .everyLogin ? "at every login" : "once per browser every \(policy.rememberDays) days"
        return notice(
            subject: "The sign-in policy of \(company) changed",
            opening: "The second-factor policy of \(company) was changed.",
            facts: [
                ("Second factors", methods), ("Asked", ask), ("By", oneLine(actorEmail)), ("When", EmailDates.full(at)),
                ("IP address", oneLine(client.ip)), ("Browser", BrowserSummary.describe(client.userAgent)),
            ],
            closing: "Every remembered browser was forgotten. If this was not expected, contact the other owners at once."
        )
    }
}
