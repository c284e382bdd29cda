import Foundation
import PQ

/// The one email-code login that a company requiring passkeys (`phishing_resistant`, SPEC §13)
/// gives a user who has none: it leads to adding a passkey and to nothing else. An owner's or
/// admin's reset of the user's methods allows it again.
extension SessionStore {
    /// Makes the session just created by an emailed code enrollment-only when, at the COMMIT,
    /// the company requires passkeys and the user has none; the user's enrollment login is then
    /// used, and recorded (`login.passkey_enrollment`). Queued: it goes with the COMMIT, and is
    /// decided there on the policy and passkeys as they are then, so a policy changed during
    /// the login cannot leave a full session without a passkey.
    static func markEnrollmentOnly(_ sessionID: UUID, user: User, clientInfo: ClientInfo, in tx: PQTransaction) {
        tx.queue(
            "session.enrollment_only",
            """
            WITH enrolling AS (
                SELECT 1 FROM companies c
                WHERE c.id = app_company() AND c.methods_policy = 'phishing_resistant'
                  AND NOT EXISTS (SELECT 1 FROM user_methods m WHERE m.company_id = c.id AND m.user_id = \(user.id) AND m.kind = 'passkey')
            ), marked AS (
                UPDATE sessions SET enrollment_only = true
                WHERE company_id = app_company() AND id = \(sessionID) AND EXISTS (SELECT 1 FROM enrolling)
                RETURNING id
            ), spent AS (
                UPDATE users SET passkey_enrollment_used_at = now()
                WHERE company_id = app_company() AND id = \(user.id) AND EXISTS (SELECT 1 FROM marked)
            )
            INSERT INTO events (company_id, type, user_id, email, ip, user_agent, detail)
            SELECT app_company(), \(EventType.passkeyEnrollmentLogin.rawValue), \(user.id), \(user.email), \(clientInfo.ip),
                \(clientInfo.userAgent), jsonb_build_object('session_id', lower(marked.id::text))
            FROM marked
            """
        )
    }
}

extension SignInPolicy {
    /// What a dashboard login needs under this policy from a user with `kinds` of methods
    /// besides email, who has (`enrollmentUsed`) or has not used the enrollment login.
    enum LoginPath: Equatable {
        /// A challenge offering these methods, strongest first.
        case challenge([SecondFactor])
        /// Passkeys are required, the user has none and the enrollment login was used.
        case passkeyRequired
    }

    func loginPath(userHas kinds: Set<SecondFactor>, enrollmentUsed: Bool) -> LoginPath {
        if methods == .phishingResistant && !kinds.contains(.passkey) && enrollmentUsed { return .passkeyRequired }
        return .challenge(loginMethods(userHas: kinds))
    }
}

extension DomainError {
    public static let passkeyRequired = DomainError(
        .passkeyRequired,
        "Your company requires a passkey to log in, and this account has none: ask an owner or admin to reset your sign-in methods."
    )
    public static let passkeyEnrollmentRequired = DomainError(
        .passkeyEnrollmentRequired,
        "Your company requires a passkey: add one, then log in with it."
    )
}
