import Crypto
import Foundation
import PQ

/// The statements of the password step (``LoginService``): the failed-password key, the
/// account's lookup and counts, and the one statement that holds the account while deciding.
extension LoginService {
    /// The failed-password counter of an address, known or not: keyed by a MAC of the address
    /// (`rate_limits` is shared by all companies and must not list who tried which address),
    /// under the database's own key, so that rotating `TOLLGATE_SECRET` resets no counter.
    static func failedPasswordKey(email: String, key: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(email.utf8), using: SymmetricKey(data: key))
        return "failed_password:" + lowercaseHex(mac.prefix(16))
    }

    /// The account of a looked-up address in the current tenant's scope (an unknown address
    /// finds none, by the same statement); ``account(from:)`` reads it.
    static func accountQuery(_ address: String) -> PQQuery {
        ("""
        SELECT \(unsafeSQL: User.columns), u.password_hash, \(unsafeSQL: Company.columns)
        FROM users u JOIN companies c ON c.id = u.company_id
        WHERE u.company_id = app_company() AND u.id = (SELECT user_id FROM login_lookup(\(address))) AND u.active
        """ as PQQuery).named("login.account")
    }

    static func account(from rows: PQRows) throws -> Account? {
        guard let row = rows.first else { return nil }
        return Account(user: try User(row: row), company: try Company(row: row), passwordHash: try row.decode("password_hash"))
    }

    /// The IP's count and, unless that refused, the address's failed-password count, each
    /// answering one row (``RateLimiter/refusal(ofHit:)``). The first refusal of a limited
    /// key's window is recorded in the same statement, for the looked-up account (SPEC §5: at
    /// most one event per key and window, so an attacker's refused logins cannot fill a
    /// company's log); for an unknown address the same insert finds no account and writes
    /// nothing, by the same work.
    static func countQuery(
        address: String,
        ipKey: String,
        failedKey: String,
        limits: AbuseLimits,
        client: SessionClient,
        clientInfo: ClientInfo
    ) -> PQQuery {
        let ipHit = RateLimiter.hitQuery(ipKey, limit: limits.loginsPerIP, window: limits.loginsPerIPWindow)
        let failedHit = RateLimiter.hitQuery(
            failedKey,
            limit: limits.failedPasswords,
            window: limits.failedPasswordsWindow,
            onlyIf: "NOT (SELECT last_refused FROM ip)"
        )
        let count: PQQuery = """
            WITH ip AS (\(statement: ipHit)),
            failed AS (\(statement: failedHit)),
            counted AS (SELECT 'logins_per_ip' AS limit_name, * FROM ip UNION ALL SELECT 'failed_passwords', * FROM failed),
            logged AS (
                INSERT INTO events (company_id, type, user_id, email, ip, user_agent, detail)
                SELECT u.company_id, \(EventType.loginRateLimited.rawValue), u.id, u.email, \(clientInfo.ip), \(clientInfo.userAgent),
                    jsonb_build_object('limit', c.limit_name, 'retry_after', greatest(1, c.seconds), 'client', \(client.rawValue)::text,
                                       'later_refusals', 'counted, not logged')
                FROM counted c JOIN users u ON u.company_id = app_company() AND u.active
                    AND u.id = (SELECT user_id FROM login_lookup(\(address)))
                WHERE c.last_refused AND c.refused = 1
            )
            SELECT * FROM counted
            """
        return count.named("login.count")
    }

    /// What the login decides on, read under its locks (``companyForShare(account:browserCandidates:in:)``).
    struct Held {
        let company: Company
        let clock: TransactionClock
        let counters: AccountCounters
        /// The account is still active, with the password hash that was checked.
        let accountUnchanged: Bool
        /// The user's confirmed methods besides email.
        let methodKinds: Set<SecondFactor>
        /// The user's live remembered browser whose token the login carried.
        let rememberedBrowserID: UUID?
        /// The user used the email login that leads to adding a passkey (SPEC §13).
        let passkeyEnrollmentUsed: Bool
    }

    /// The company (shared) and the account (exclusively: requests on one account take turns)
    /// held until commit, the database's clock after the locks were granted, the account's
    /// counters, whether the account is still active with the password hash checked, the kinds
    /// of its confirmed methods, and the remembered browser among `browserCandidates` (the
    /// token's keyed hashes), all in the one statement the login already sends.
    static func companyForShare(account: Account, browserCandidates: [Data], in tx: PQTransaction) throws -> Held {
        let rows = try tx.query(
            "login.company",
            """
            SELECT \(unsafeSQL: Company.columns), clock_timestamp() AS database_now, now() AS transaction_start,
                u.active AND u.password_hash = \(account.passwordHash) AS account_unchanged, \(unsafeSQL: AccountCounters.columns),
                u.passkey_enrollment_used_at IS NOT NULL AS passkey_enrollment_used,
                ARRAY(SELECT DISTINCT m.kind FROM user_methods m
                      WHERE m.company_id = c.id AND m.user_id = u.id AND m.confirmed_at IS NOT NULL) AS method_kinds,
                (SELECT rb.id FROM remembered_browsers rb
                 WHERE rb.token_hash = ANY(\(PQByteaArray(browserCandidates))) AND rb.company_id = c.id AND rb.user_id = u.id
                   AND rb.revoked_at IS NULL AND rb.expires_at > now()) AS remembered_browser_id
            FROM companies c JOIN users u ON u.company_id = c.id AND u.id = \(account.user.id) \(unsafeSQL: AccountCounters.joins)
            WHERE c.id = app_company() FOR SHARE OF c FOR NO KEY UPDATE OF u
            """
        )
        let row = try rows.first.orThrow()
        return Held(
            company: try Company(row: row),
            clock: TransactionClock(transactionStart: try row.decode("transaction_start"), databaseNow: try row.decode("database_now")),
            counters: try AccountCounters(row: row, withChallenges: true),
            accountUnchanged: try row.decode("account_unchanged"),
            methodKinds: Set(try row.decode("method_kinds", as: [String].self).compactMap(SecondFactor.init(rawValue:))),
            rememberedBrowserID: try row.decode("remembered_browser_id"),
            passkeyEnrollmentUsed: try row.decode("passkey_enrollment_used")
        )
    }

    /// Records a remembered browser's use (SPEC §14: every use is an event).
    static func useRememberedBrowser(_ id: UUID, user: User, clientInfo: ClientInfo, in tx: PQTransaction) {
        tx.queue(
            "remembered_browser.use",
            "UPDATE remembered_browsers SET last_used_at = now() WHERE company_id = app_company() AND id = \(id)"
        )
        Event(
            companyID: user.companyID,
            type: .loginRememberedBrowserUsed,
            userID: user.id,
            email: user.email,
            client: clientInfo,
            detail: ["remembered_browser_id": .string(id.lowercasedString)]
        ).record(in: tx)
    }
}
