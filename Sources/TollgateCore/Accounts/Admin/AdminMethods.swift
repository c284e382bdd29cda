public import Foundation
import PQ

/// The provisioning API's side of sign-in methods (SPEC §11, §13): it reads a user's method
/// kinds (``AdminUser/methods``) and may reset them, never add one.
extension AdminService {
    /// Removes every authenticator app and passkey of a user of the company, confirmed or
    /// pending (``MethodReset``): the way back for someone who lost their phone or passkey. The
    /// user signs in with email codes again (under `phishing_resistant`, once, to add a
    /// passkey); the event `methods.reset` names the key and the user gets a notice.
    public func resetMethods(_ key: APIKey, companyID: UUID, userID: UUID, clientInfo: ClientInfo) async throws -> AdminUser {
        try Self.scope(key, companyID)
        return try await pool.withTenant(companyID) { tx in
            // The user's row lock, as every change of its methods takes (``MethodService``).
            let found = try tx.query(
                "admin_methods.lock_user",
                "SELECT 1 FROM users WHERE company_id = app_company() AND id = \(userID) FOR NO KEY UPDATE"
            )
            guard !found.isEmpty else { throw DomainError.notFoundObject }
            let (removed, resetAt) = try MethodReset.reset(userID: userID, in: tx)
            let user = try Self.user(userID, in: tx)
            let company = try Self.company(in: tx)
            try Self.record(
                .methodsReset,
                key: key,
                user: user,
                clientInfo: clientInfo,
                extra: ["removed": .int(removed)],
                in: tx
            )
            _ = Outbox.enqueue(
                companyID: companyID,
                challengeID: nil,
                recipient: user.email,
                template: .methodsReset,
                email: EmailTemplates.methodsReset(at: resetAt, companyName: company.name),
                codeExpiresAt: nil,
                in: tx
            )
            return user
        }
    }
}
