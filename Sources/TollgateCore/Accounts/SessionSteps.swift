import Foundation
import PQ

/// What a signed-in user does with the login's rules: prove the password again before a
/// sensitive change, and log out.
extension LoginService {
    /// Asks a signed-in user for the current password again before a sensitive change (SPEC
    /// §3.3, §10). A wrong or missing password counts as a failed password of the address
    /// (the same limit as logging in) and answers `reauthentication_required`.
    public func reauthenticate(_ user: User, password: String?) async throws {
        let limits = settings.limits
        let keys = self.keys
        let (hash, failedKey) = try await pool.withTenant(user.companyID) { tx -> (String, String) in
            let failedKey = Self.failedPasswordKey(email: user.email, key: try keys.rateLimitKey(in: tx))
            if let limited = try RateLimiter.hit(failedKey, limit: limits.failedPasswords, window: limits.failedPasswordsWindow, in: tx) {
                throw DomainError.rateLimited(retryAfter: limited.retryAfter)
            }
            return (try UserStore.passwordHash(of: user.id, in: tx), failedKey)
        }
        guard let password, try await verify(password, against: hash, reservedSlot: failedKey) else {
            throw DomainError.reauthenticationRequired
        }
        try await pool.withTransaction { tx in RateLimiter.undo(failedKey, in: tx) }
    }

    /// Logs out: revokes the session and records it.
    public func logout(_ principal: Principal, clientInfo: ClientInfo) async throws {
        try await pool.withTenant(principal.company.id) { tx in
            if try SessionStore.revoke(sessionID: principal.session.id, reason: "logout", in: tx) {
                Event(
                    companyID: principal.company.id,
                    type: .sessionRevoked,
                    userID: principal.user.id,
                    email: principal.user.email,
                    client: clientInfo,
                    detail: ["reason": .string("logout"), "session_id": .string(principal.session.id.lowercasedString)]
                ).record(in: tx)
            }
        }
    }
}
