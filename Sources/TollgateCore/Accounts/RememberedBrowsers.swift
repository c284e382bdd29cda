public import Foundation
import PQ

/// A browser just remembered, with its token: shown once, to the dashboard that asked.
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

/// A live remembered browser as its user sees it ("where you're logged in", SPEC §14).
public struct RememberedBrowser: Sendable, Equatable {
    public let id: UUID
    /// ``BrowserSummary`` of the user agent it was remembered with, never the header itself.
    public let browser: String
    public let createdAt: Date
    /// When it last let a login skip the second step; nil until it has.
    public let lastUsedAt: Date?
    public let expiresAt: Date
}

/// Browsers a user chose to be remembered on (SPEC §14): a login of that user with the
/// browser's token skips the second step until `expires_at`, unless revoked first.
///
/// The token is a ``BearerToken`` (it names its company, so the tenant is set before the
/// lookup) kept only as ``SecretMAC/token(_:)``, like challenge tokens: a database dump gives
/// nobody a usable token, and rotating `TOLLGATE_SECRET` keeps them valid (look them up with
/// ``SecretMAC/tokenCandidates(_:)``). Revocation is an UPDATE of `revoked_at`, so support
/// sees why and when each one ended until retention purges it.
///
/// Reasons stored in `revoked_reason`: `forgotten` (its user), `password_changed`,
/// `password_reset`, `reported` ("this wasn't me"), `deactivated`, `ended_by_owner` (an owner
/// ended every session of the company) and `policy_changed`.
enum RememberedBrowsers {
    /// Queues the insert of a new remembered browser for `user`, expiring `days` days after
    /// `databaseNow` (the database's clock as the caller read it in this transaction). Nothing
    /// comes back from the insert, so it goes with the transaction's next statement or COMMIT.
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

    /// Revokes every live remembered browser of the user; returns how many.
    @discardableResult
    static func forgetAll(of userID: UUID, reason: String, in tx: PQTransaction) throws -> Int {
        try tx.query(
            "remembered_browser.forget_user",
            """
            UPDATE remembered_browsers SET revoked_at = now(), revoked_reason = \(reason)
            WHERE company_id = app_company() AND user_id = \(userID) AND revoked_at IS NULL AND expires_at > now()
            RETURNING id
            """
        ).count
    }

    /// Revokes every live remembered browser of the current company; returns how many. The
    /// rows are locked in id order, as ``SessionList`` locks sessions, so two company-wide
    /// revocations (or one and a user's own) wait for each other instead of deadlocking.
    @discardableResult
    static func forgetAllInCompany(reason: String, in tx: PQTransaction) throws -> Int {
        try tx.query(
            "remembered_browser.forget_company",
            """
            WITH locked AS (
                SELECT id FROM remembered_browsers
                WHERE company_id = app_company() AND revoked_at IS NULL AND expires_at > now()
                ORDER BY id FOR UPDATE
            )
            UPDATE remembered_browsers b SET revoked_at = now(), revoked_reason = \(reason)
            FROM locked WHERE b.company_id = app_company() AND b.id = locked.id
            RETURNING b.id
            """
        ).count
    }

    /// Revokes one live remembered browser of the user; false when there is none by that id
    /// (another user's, another company's, ended or unknown alike).
    static func forget(_ id: UUID, of userID: UUID, reason: String, in tx: PQTransaction) throws -> Bool {
        try !tx.query(
            "remembered_browser.forget",
            """
            UPDATE remembered_browsers SET revoked_at = now(), revoked_reason = \(reason)
            WHERE company_id = app_company() AND id = \(id) AND user_id = \(userID) AND revoked_at IS NULL AND expires_at > now()
            RETURNING id
            """
        ).isEmpty
    }

    /// The statement that lists the user's live remembered browsers, most recently used first
    /// (at most `limit`); ``list(from:)`` reads its rows.
    static func listQuery(of userID: UUID, limit: Int) -> PQQuery {
        ("""
        SELECT id, user_agent, created_at, last_used_at, expires_at FROM remembered_browsers
        WHERE company_id = app_company() AND user_id = \(userID) AND revoked_at IS NULL AND expires_at > now()
        ORDER BY coalesce(last_used_at, created_at) DESC, id LIMIT \(limit)
        """ as PQQuery).named("remembered_browser.list")
    }

    static func list(from rows: PQRows) throws -> [RememberedBrowser] {
        try rows.map { row in
            RememberedBrowser(
                id: try row.decode("id"),
                browser: BrowserSummary.describe(try row.decode("user_agent")),
                createdAt: try row.decode("created_at"),
                lastUsedAt: try row.decode("last_used_at"),
                expiresAt: try row.decode("expires_at")
            )
        }
    }
}
