public import Foundation
import PQ

/// One of a user's live sessions as "where you're logged in" lists it (SPEC §14.1).
public struct ListedSession: Sendable, Equatable {
    public let id: UUID
    public let client: SessionClient
    /// ``BrowserSummary`` of the user agent it logged in with, never the header itself.
    public let browser: String
    public let ip: String?
    public let createdAt: Date
    /// The last authenticated request, to the minute (``SessionStore/authenticate(token:pool:)``);
    /// the login itself until then.
    public let lastUsedAt: Date
    public let twoFactorVerified: Bool
    /// The session of the request that asked.
    public let current: Bool
}

/// "Where you're logged in" (SPEC §14): a user's live sessions and remembered browsers, ending
/// any one or all but the current; an owner ending every session of the company.
///
/// Sessions are ended by locking the live rows concerned in id order (`ORDER BY id FOR
/// UPDATE`), the caller's own among them, then revoking: concurrent requests on one user's
/// sessions take turns instead of deadlocking, each session is ended (and counted, and
/// recorded) once, and a request whose own session a concurrent one ended changes nothing
/// and answers `unauthenticated`, as it would a moment later. A user's own requests lock its
/// user row first, as a password change or a deactivation does before revoking the same rows.
public struct SessionList: DomainService, Sendable {
    let dependencies: DomainDependencies

    public init(_ dependencies: DomainDependencies) {
        self.dependencies = dependencies
    }

    /// At most this many sessions and this many remembered browsers are listed (the current
    /// session always among them); ending all others needs no list.
    static let listLimit = 100

    /// The caller's live sessions (the current one first, then the most recently used) and live
    /// remembered browsers, read in one round trip.
    public func list(_ principal: Principal) async throws -> (sessions: [ListedSession], rememberedBrowsers: [RememberedBrowser]) {
        let userID = principal.user.id
        let current = principal.session.id
        let results = try await pool.transaction(
            settings: [("app.company_id", principal.company.id.lowercasedString)],
            [
                ("""
                SELECT id, client, user_agent, ip, created_at, coalesce(last_used_at, created_at) AS last_used_at, two_factor_verified
                FROM sessions
                WHERE company_id = app_company() AND user_id = \(userID) AND revoked_at IS NULL AND expires_at > now()
                ORDER BY id = \(current) DESC, coalesce(last_used_at, created_at) DESC, id LIMIT \(Self.listLimit)
                """ as PQQuery).named("session.list"),
                RememberedBrowsers.listQuery(of: userID, limit: Self.listLimit),
            ],
            writes: false
        )
        let sessions = try results[0].map { row in
            let id: UUID = try row.decode("id")
            guard let client = SessionClient(rawValue: try row.decode("client")) else {
                throw PQError(kind: .decoding, message: "column client has an unknown value")
            }
            return ListedSession(
                id: id,
                client: client,
                browser: BrowserSummary.describe(try row.decode("user_agent")),
                ip: try row.decode("ip"),
                createdAt: try row.decode("created_at"),
                lastUsedAt: try row.decode("last_used_at"),
                twoFactorVerified: try row.decode("two_factor_verified"),
                current: id == current
            )
        }
        return (sessions, try RememberedBrowsers.list(from: results[1]))
    }

    /// Ends one of the caller's live sessions (the current one too: that is a logout). Any
    /// other id — another user's or company's, ended, expired or unknown — is `not_found`.
    public func end(_ principal: Principal, sessionID: UUID, clientInfo: ClientInfo) async throws {
        let user = principal.user
        let current = principal.session.id
        try await withTenantRetryingDeadlocks(user.companyID) { tx in
            let live = try Self.lockLiveSessions(of: user.id, among: [current, sessionID], in: tx)
            guard live.contains(current) else { throw DomainError.unauthenticated }
            guard live.contains(sessionID) else { throw DomainError.noSuchSession }
            Self.revoke([sessionID], of: user, reason: "ended_by_user", clientInfo: clientInfo, in: tx)
        }
    }

    /// Ends every live session of the caller but the current one; returns how many.
    public func endOthers(_ principal: Principal, clientInfo: ClientInfo) async throws -> Int {
        let user = principal.user
        let current = principal.session.id
        return try await withTenantRetryingDeadlocks(user.companyID) { tx in
            let live = try Self.lockLiveSessions(of: user.id, among: nil, in: tx)
            guard live.contains(current) else { throw DomainError.unauthenticated }
            let others = live.filter { $0 != current }
            Self.revoke(others, of: user, reason: "ended_by_user", clientInfo: clientInfo, in: tx)
            return others.count
        }
    }

    /// Forgets one of the caller's live remembered browsers; any other id is `not_found`.
    public func forgetBrowser(_ principal: Principal, id: UUID, clientInfo: ClientInfo) async throws {
        let user = principal.user
        try await pool.withTenant(user.companyID) { tx in
            guard try RememberedBrowsers.forget(id, of: user.id, reason: "forgotten", in: tx) else { throw DomainError.noSuchRememberedBrowser }
            Event(
                companyID: user.companyID,
                type: .rememberedBrowserForgotten,
                userID: user.id,
                email: user.email,
                client: clientInfo,
                detail: ["reason": .string("forgotten"), "remembered_browser_id": .string(id.lowercasedString)]
            ).record(in: tx)
        }
    }

    /// An owner ends every live session of the company, its own included, and forgets every
    /// remembered browser, after proving the password again (a wrong or missing one counts as
    /// a failed password, as for disabling 2FA). Records `company.sessions_ended` and mails
    /// every owner.
    public func endAllInCompany(
        _ principal: Principal,
        password: String?,
        login: LoginService,
        clientInfo: ClientInfo
    ) async throws -> (sessionsEnded: Int, browsersForgotten: Int) {
        let user = principal.user
        guard user.role == .owner else { throw DomainError.forbidden }
        try await login.reauthenticate(user, password: password)
        return try await withTenantRetryingDeadlocks(user.companyID) { tx in
            let sessions = try tx.query(
                "session.end_company",
                """
                WITH locked AS (
                    SELECT id FROM sessions
                    WHERE company_id = app_company() AND revoked_at IS NULL AND expires_at > now()
                    ORDER BY id FOR UPDATE
                )
                UPDATE sessions s SET revoked_at = now(), revoked_reason = 'ended_by_owner'
                FROM locked WHERE s.company_id = app_company() AND s.id = locked.id
                RETURNING s.id
                """
            ).count
            let browsers = try RememberedBrowsers.forgetAllInCompany(reason: "ended_by_owner", in: tx)
            Event(
                companyID: user.companyID,
                type: .companySessionsEnded,
                userID: user.id,
                email: user.email,
                client: clientInfo,
                detail: ["sessions_ended": .int(sessions), "browsers_forgotten": .int(browsers)]
            ).record(in: tx)
            let company = try Company.current(in: tx, lock: false)
            let notice = EmailTemplates.sessionsEnded(
                actorEmail: user.email,
                at: Date(),
                client: clientInfo,
                companyName: company.name,
                sessionsEnded: sessions,
                browsersForgotten: browsers
            )
            for owner in try Company.ownerEmails(in: tx) {
                _ = Outbox.enqueue(
                    companyID: company.id,
                    challengeID: nil,
                    recipient: owner,
                    template: .sessionsEnded,
                    email: notice,
                    codeExpiresAt: nil,
                    in: tx
                )
            }
            return (sessions, browsers)
        }
    }

    // MARK: Shared steps

    /// Locks the user's row, then its live sessions (those in `among`, or all) in id order;
    /// returns their ids. One round trip: the user's lock goes with the sessions' statement.
    private static func lockLiveSessions(of userID: UUID, among ids: [UUID]?, in tx: PQTransaction) throws -> [UUID] {
        tx.queue("session.lock_user", "SELECT 1 FROM users WHERE company_id = app_company() AND id = \(userID) FOR NO KEY UPDATE")
        let rows = try tx.query(
            "session.lock_live",
            """
            SELECT id FROM sessions
            WHERE company_id = app_company() AND user_id = \(userID) AND revoked_at IS NULL AND expires_at > now()
              AND (\(ids.map(PQUUIDArray.init))::uuid[] IS NULL OR id = ANY(\(ids.map(PQUUIDArray.init))))
            ORDER BY id FOR UPDATE
            """
        )
        return try rows.map { try $0.decode("id", as: UUID.self) }
    }

    /// Queues the revocation of sessions the caller has locked, with one `session.revoked`
    /// event each (the shape logout records: `reason`, `session_id`), in one statement that
    /// goes with the COMMIT.
    private static func revoke(_ ids: [UUID], of user: User, reason: String, clientInfo: ClientInfo, in tx: PQTransaction) {
        guard !ids.isEmpty else { return }
        tx.queue(
            "session.revoke_listed",
            """
            WITH ended AS (
                UPDATE sessions SET revoked_at = now(), revoked_reason = \(reason)
                WHERE company_id = app_company() AND id = ANY(\(PQUUIDArray(ids))) AND revoked_at IS NULL
                RETURNING id
            )
            INSERT INTO events (company_id, type, user_id, email, ip, user_agent, detail)
            SELECT app_company(), \(EventType.sessionRevoked.rawValue), \(user.id), \(user.email), \(clientInfo.ip), \(clientInfo.userAgent),
                   jsonb_build_object('reason', \(reason)::text, 'session_id', ended.id)
            FROM ended
            """
        )
    }

    /// A tenant transaction that runs again (up to three times) when PostgreSQL breaks a
    /// deadlock by failing it: the paths that revoke sessions without this file's ordering (a
    /// password change, a deactivation) lock the same rows in another order.
    private func withTenantRetryingDeadlocks<T: Sendable>(
        _ companyID: UUID,
        _ body: @escaping @Sendable (PQTransaction) throws -> T
    ) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await pool.withTenant(companyID, body)
            } catch let error as PQError where error.sqlState == "40P01" && attempt < 3 {
                attempt += 1
            }
        }
    }
}

extension DomainError {
    /// No live session of the caller has this id (another user's or company's alike: SPEC §4).
    public static let noSuchSession = DomainError(.notFound, "There is no such session.")
    /// No live remembered browser of the caller has this id.
    public static let noSuchRememberedBrowser = DomainError(.notFound, "There is no such remembered browser.")
}
