public import Foundation
import PQ

/// A browser just remembered for its user (SPEC §14): the token is shown once, and stored only
/// as a keyed hash.
public struct RememberedBrowserGrant: Sendable {
    public let id: UUID
    public let token: String
    public let expiresAt: Date

    public init(id: UUID, token: String, expiresAt: Date) {
        self.id = id
        self.token = token
        self.expiresAt = expiresAt
    }
}

/// Browsers whose users chose not to be asked for a second factor there for a while (SPEC §14).
enum RememberedBrowsers {
    /// Queues the insert of a new remembered browser for `user`, for `days` days after
    /// `databaseNow`. The token names its company (so the tenant is set before any lookup).
    static func remember(
        user: User,
        days: Int,
        databaseNow: Date,
        clientInfo: ClientInfo,
        mac: SecretMAC,
        in tx: PQTransaction
    ) -> RememberedBrowserGrant {
        let token = BearerToken.make(companyID: user.companyID)
        let id = UUID()
        let expiresAt = databaseNow.addingDatabaseSeconds(days * 86_400)
        tx.queue(
            "remembered_browser.create",
            """
            INSERT INTO remembered_browsers (company_id, id, user_id, token_hash, ip, user_agent, expires_at)
            VALUES (\(user.companyID), \(id), \(user.id), \(mac.token(token)), \(clientInfo.ip), \(clientInfo.userAgent), \(expiresAt))
            """
        )
        return RememberedBrowserGrant(id: id, token: token, expiresAt: expiresAt)
    }

    /// Revokes every live remembered browser of the current company; returns how many.
    static func forgetAllInCompany(reason: String, in tx: PQTransaction) throws -> Int {
        try tx.query(
            "remembered_browser.forget_company",
            """
            UPDATE remembered_browsers SET revoked_at = now(), revoked_reason = \(reason)
            WHERE company_id = app_company() AND revoked_at IS NULL
            RETURNING id
            """
        ).count
    }
}
