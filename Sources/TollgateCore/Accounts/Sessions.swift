import Crypto
public import Foundation
public import PQ

/// A session as the API shows it.
public struct Session: Sendable, Equatable {
    public let id: UUID
    public let client: SessionClient
    public let twoFactorVerified: Bool
    public let expiresAt: Date
    /// Made by the one email login of a user who must add a passkey (SPEC §13): it may do
    /// nothing else.
    public var enrollmentOnly = false
}

/// A newly created session and its bearer token (shown once, stored only as a hash).
public struct SessionGrant: Sendable {
    public let token: String
    public let session: Session
}

/// Who is calling: a live session with its user and company, guaranteed together.
public struct Principal: Sendable {
    public let session: Session
    public let user: User
    public let company: Company
}

/// Opaque bearer tokens that name their company, so the tenant can be set before the lookup:
/// base64url(16-byte company id ‖ 32 random bytes). Only SHA-256 of the whole token is stored.
public enum BearerToken {
    public static func make(companyID: UUID) -> String {
        var bytes = withUnsafeBytes(of: companyID.uuid) { Array($0) }
        bytes += SecureRandom.bytes(32)
        return Base64URL.encode(bytes)
    }

    /// The company a token names, or nil for anything malformed.
    public static func companyID(of token: String) -> UUID? {
        guard token.utf8.count == 64, let bytes = Base64URL.decode(token), bytes.count == 48 else { return nil }
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            )
        )
    }

    public static func hash(_ token: String) -> Data {
        Data(SHA256.hash(data: Data(token.utf8)))
    }
}

/// Sessions: creation, authentication and revocation.
public enum SessionStore {
    /// Creates a session inside the caller's transaction. Its id is made here and it expires
    /// `ttl` seconds after `databaseNow` (the database's clock as the caller read it in this
    /// transaction), so the answer needs nothing back from the insert: it is queued, and goes
    /// with the transaction's next statement or its COMMIT. `challengeID` is the login
    /// challenge it came from ("this wasn't me" on that challenge ends it).
    public static func create(
        companyID: UUID,
        userID: UUID,
        client: SessionClient,
        twoFactorVerified: Bool,
        ttl: Int,
        databaseNow: Date,
        clientInfo: ClientInfo,
        challengeID: UUID? = nil,
        in tx: PQTransaction
    ) -> SessionGrant {
        let token = BearerToken.make(companyID: companyID)
        let id = UUID()
        // Whole microseconds, as PostgreSQL stores them, so the answer shows what is stored.
        let expiresAt = databaseNow.addingDatabaseSeconds(ttl)
        tx.queue(
            "session.create",
            """
            INSERT INTO sessions (company_id, id, user_id, token_hash, client, two_factor_verified, ip, user_agent, expires_at, challenge_id)
            VALUES (\(companyID), \(id), \(userID), \(BearerToken.hash(token)), \(client.rawValue), \(twoFactorVerified),
                    \(clientInfo.ip), \(clientInfo.userAgent), \(expiresAt), \(challengeID))
            """
        )
        return SessionGrant(token: token, session: Session(id: id, client: client, twoFactorVerified: twoFactorVerified, expiresAt: expiresAt))
    }

    /// The live session a bearer token belongs to, with its user and company; otherwise
    /// `unauthenticated` (unknown, malformed, expired or revoked alike).
    ///
    /// The same statement keeps `last_used_at` (SPEC §14) to the minute, so "where you're
    /// logged in" costs no round trip and, within a minute of the last touch, no write: the
    /// statement stays a plain SELECT whose last column calls `touch_session()` (migration
    /// 0020) only for a row whose touch is due. (A writable CTE did the same in one statement,
    /// but planning and opening the UPDATE on every request cost about a third of this
    /// statement's throughput in pgbench; the function's UPDATE runs once a minute a session.)
    /// The touch never waits: a row another transaction holds is skipped (`SKIP LOCKED`) and
    /// touched by a later request. Its commit does not wait for the WAL flush
    /// (`synchronous_commit` off for this transaction only): a crash may lose the last
    /// minute's touch, never anything a client was told.
    public static func authenticate(token: String, pool: PQPool) async throws -> Principal {
        guard let companyID = BearerToken.companyID(of: token) else { throw DomainError.unauthenticated }
        let hash = BearerToken.hash(token)
        let rows = try await pool.read(
            settings: [("app.company_id", companyID.lowercasedString), ("synchronous_commit", "off")],
            ("""
            SELECT s.id AS session_id, s.client, s.two_factor_verified, s.expires_at, s.enrollment_only, \(unsafeSQL: User.columns), \(unsafeSQL: Company.columns),
                   CASE WHEN s.last_used_at IS NULL OR s.last_used_at < now() - interval '1 minute' THEN touch_session(s.id) END AS touched
            FROM sessions s
            JOIN users u ON u.company_id = s.company_id AND u.id = s.user_id
            JOIN companies c ON c.id = s.company_id
            WHERE s.token_hash = \(hash) AND s.revoked_at IS NULL AND s.expires_at > now() AND u.active
            """ as PQQuery).named("session.authenticate")
        )
        guard let row = rows.first, let client = SessionClient(rawValue: try row.decode("client")) else {
            throw DomainError.unauthenticated
        }
        return Principal(
            session: Session(
                id: try row.decode("session_id"),
                client: client,
                twoFactorVerified: try row.decode("two_factor_verified"),
                expiresAt: try row.decode("expires_at"),
                enrollmentOnly: try row.decode("enrollment_only")
            ),
            user: try User(row: row),
            company: try Company(row: row)
        )
    }

    /// Revokes every live session of a user but `keeping` (a password change keeps the session
    /// it was made in); returns how many.
    @discardableResult
    public static func revokeAll(of userID: UUID, keeping: UUID? = nil, reason: String, in tx: PQTransaction) throws -> Int {
        try tx.query(
            "session.revoke_user",
            """
            UPDATE sessions SET revoked_at = now(), revoked_reason = \(reason)
            WHERE company_id = app_company() AND user_id = \(userID) AND revoked_at IS NULL
              AND (\(keeping)::uuid IS NULL OR id <> \(keeping))
            RETURNING id
            """
        ).count
    }

    /// Revokes the live sessions that a login challenge produced; returns their ids.
    public static func revokeAll(fromChallenge challengeID: UUID, reason: String, in tx: PQTransaction) throws -> [UUID] {
        try tx.query(
            "session.revoke_challenge",
            """
            UPDATE sessions SET revoked_at = now(), revoked_reason = \(reason)
            WHERE company_id = app_company() AND challenge_id = \(challengeID) AND revoked_at IS NULL
            RETURNING id
            """
        ).map { try $0.decode("id") }
    }

    /// Revokes one session; true when it was live.
    @discardableResult
    public static func revoke(sessionID: UUID, reason: String, in tx: PQTransaction) throws -> Bool {
        let rows = try tx.query(
            "session.revoke",
            """
            UPDATE sessions SET revoked_at = now(), revoked_reason = \(reason)
            WHERE company_id = app_company() AND id = \(sessionID) AND revoked_at IS NULL
            RETURNING id
            """
        )
        return !rows.isEmpty
    }
}

extension Optional {
    /// Unwraps a value the database promised (a RETURNING row); its absence is a bug.
    func orThrow() throws -> Wrapped {
        guard let value = self else { throw PQError(kind: .usage, message: "the statement returned no row") }
        return value
    }
}
