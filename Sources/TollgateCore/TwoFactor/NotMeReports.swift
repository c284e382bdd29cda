public import Foundation
import PQ

/// "This wasn't me" (SPEC §10): the link in every login code email, which ends the login
/// attempt it was sent for (and the session it produced, if its code was entered already)
/// and tells the user and the company's owners.
extension PasswordService {
    /// "This wasn't me" from a login code email: closes the challenge (`reported`), records
    /// `login.reported` with the challenge's IP and browser, and mails the user and every owner.
    public func report(token: String, clientInfo: ClientInfo) async throws {
        guard let companyID = BearerToken.companyID(of: token) else { throw DomainError.tokenInvalid }
        let candidates = mac.reportTokenCandidates(token)
        try await pool.withTenant(companyID) { tx in
            guard let reported = try ChallengeStore.report(tokenCandidates: candidates, in: tx) else { throw DomainError.tokenInvalid }
            let user = try UserStore.find(reported.userID, activeOnly: false, in: tx).orThrow()
            let challengeClient = reported.client
            // Reported after its code was entered: whoever entered it is logged in. End that.
            let ended = reported.used ? try SessionStore.revokeAll(fromChallenge: reported.id, reason: "reported", in: tx) : []
            // Whoever knows the password must not skip the code on a browser the user was
            // remembered on either (SPEC §14): every one of the user's is forgotten.
            let forgotten = try RememberedBrowsers.forgetAll(of: user.id, reason: "reported", in: tx)
            for sessionID in ended {
                Event(
                    companyID: companyID,
                    type: .sessionRevoked,
                    userID: user.id,
                    email: user.email,
                    client: clientInfo,
                    detail: ["reason": .string("reported"), "session_id": .string(sessionID.lowercasedString)]
                ).record(in: tx)
            }
            Event(
                companyID: companyID,
                type: .loginReported,
                userID: user.id,
                email: user.email,
                client: challengeClient,
                detail: [
                    "challenge_id": .string(reported.id.lowercasedString), "challenge_closed": .bool(reported.closed),
                    "reported_from_ip": .string(clientInfo.ip), "sessions_ended": .int(ended.count),
                    "browsers_forgotten": .int(forgotten),
                ]
            ).record(in: tx)
            let company = try Self.company(in: tx)
            let now = Date()
            var recipients = [(user.email, false)]
            recipients += try Company.ownerEmails(in: tx).filter { $0 != user.email }.map { ($0, true) }
            for (recipient, toOwner) in recipients {
                _ = Outbox.enqueue(
                    companyID: companyID,
                    challengeID: nil,
                    recipient: recipient,
                    template: .loginReported,
                    email: EmailTemplates.loginReported(
                        userEmail: user.email,
                        at: now,
                        challengeClient: challengeClient,
                        companyName: company.name,
                        toOwner: toOwner,
                        sessionEnded: !ended.isEmpty
                    ),
                    codeExpiresAt: nil,
                    in: tx
                )
            }
        }
    }
}
