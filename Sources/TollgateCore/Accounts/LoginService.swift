import Crypto
import Foundation
import Logging
import PQ

/// What a correct password leads to.
public enum LoginOutcome: Sendable {
    /// No code needed: a session (password-only dashboard login, or the phone app).
    case session(SessionGrant)
    /// 2FA is on for a dashboard login: a challenge was started and a code emailed.
    case challenge(LoginChallenge)
}

/// The password step of logging in (SPEC §3.2, §5). The code step is ``ChallengeService``.
public struct LoginService: DomainService, Sendable {
    let dependencies: DomainDependencies
    let challenges: ChallengeService
    let keys = InstanceKeys()

    public init(_ dependencies: DomainDependencies, challenges: ChallengeService) {
        self.dependencies = dependencies
        self.challenges = challenges
    }

    /// The account row the password step needs.
    private struct Account: Sendable {
        let user: User
        let company: Company
        let passwordHash: String
    }

    /// Checks email and password. Unknown addresses and wrong passwords answer alike, in body
    /// and in time: every branch, the 429s included, runs the same transactions with the same
    /// statements (the account is looked for under a company that has no rows when the address
    /// is unknown), and both paths verify one Argon2id hash when not refused.
    public func login(email text: String, password: String, client: SessionClient, clientInfo: ClientInfo) async throws -> LoginOutcome {
        let limits = settings.limits
        let email = EmailAddress(text)
        let address = email?.value ?? text.lowercased()
        let ipKey = "login_ip:\(IPNetwork.rateLimitSubject(clientInfo.ip))"
        let keys = self.keys
        let unknownTenant = UUID()

        // One transaction: the directory lookup, the IP's count and one reserved failed-password
        // slot (given back if the password is right), then the account in its company's scope.
        // Statements that do not depend on each other go together: lookup and IP count in one
        // round trip, the tenant, the failed-password count and the account in the next.
        // A refused login stops after the counts, known address or not, so the refusals an
        // attacker can repeat cost the same whether the address has an account.
        let (account, failedKey, refusal) = try await pool.withTransaction { tx -> (Account?, String, (String, LimitRefusal)?) in
            let failedKey = Self.failedPasswordKey(email: address, key: try keys.rateLimitKey(in: tx))
            // Not an address at all (it may hold bytes PostgreSQL refuses in text): the same
            // lookup of a text no account has.
            let first = try tx.pipeline([
                LoginDirectory.lookup(email?.value ?? ""),
                RateLimiter.hitQuery(ipKey, limit: limits.loginsPerIP, window: limits.loginsPerIPWindow),
            ])
            let found = try LoginDirectory.found(in: first[0])
            if let limited = try RateLimiter.refusal(ofHit: first[1]) {
                // At most one event per limited key and window (SPEC §5): an attacker's refused
                // logins cannot fill a company's log.
                if limited.isFirstInWindow, let found {
                    try Tenancy.enter(found.companyID, in: tx)
                    if let account = try Self.account(from: tx.query(Self.accountQuery(userID: found.userID))) {
                        try Self.recordRefusal(of: account, limit: "logins_per_ip", limited, client: client, clientInfo: clientInfo, in: tx)
                    }
                }
                return (nil, failedKey, ("logins_per_ip", limited))
            }
            try Tenancy.enter(found?.companyID ?? unknownTenant, in: tx)
            let second = try tx.pipeline([
                RateLimiter.hitQuery(failedKey, limit: limits.failedPasswords, window: limits.failedPasswordsWindow),
                Self.accountQuery(userID: found?.userID ?? unknownTenant),
            ])
            let account = try Self.account(from: second[1])
            if let limited = try RateLimiter.refusal(ofHit: second[0]) {
                if limited.isFirstInWindow, let account {
                    try Self.recordRefusal(of: account, limit: "failed_passwords", limited, client: client, clientInfo: clientInfo, in: tx)
                }
                return (nil, failedKey, ("failed_passwords", limited))
            }
            return (account, failedKey, nil)
        }
        if let (_, limited) = refusal { throw DomainError.rateLimited(retryAfter: limited.retryAfter) }

        guard try await verify(password, against: account?.passwordHash, reservedSlot: failedKey), let account else {
            // The same write either way: the event for an account, the counter's row rewritten
            // for an unknown address (one row and one commit each).
            try await pool.withTenant(account?.user.companyID ?? unknownTenant) { tx in
                if let account {
                    try Event(
                        companyID: account.user.companyID,
                        type: .loginPasswordFailed,
                        userID: account.user.id,
                        email: account.user.email,
                        client: clientInfo,
                        detail: ["client": .string(client.rawValue)]
                    ).record(in: tx)
                } else {
                    try RateLimiter.touch(failedKey, in: tx)
                }
            }
            if account == nil { logger.info("login.unknown_account") }
            throw DomainError.invalidCredentials
        }
        return try await afterPassword(account: account, client: client, clientInfo: clientInfo, failedKey: failedKey)
    }

    private func afterPassword(account: Account, client: SessionClient, clientInfo: ClientInfo, failedKey: String) async throws -> LoginOutcome {
        let settings = self.settings
        let user = account.user
        let companyID = user.companyID
        let (grant, company) = try await pool.commitThen(in: companyID) { tx -> CommitThen<(SessionGrant?, Company)> in
            try RateLimiter.undo(failedKey, in: tx)
            // The company's setting as it is now, held until commit: a login racing "enable"
            // either sees 2FA on or finishes its session before enable revokes the unverified ones.
            let (company, databaseNow) = try Self.companyForShare(in: tx)
            let needsCode = client == .dashboard && company.twoFactorEnabled
            var detail: [String: EventValue] = ["client": .string(client.rawValue)]
            if client == .dashboard {
                guard user.hasDashboardAccess else {
                    try Event(
                        companyID: companyID,
                        type: .loginPasswordSucceeded,
                        userID: user.id,
                        email: user.email,
                        client: clientInfo,
                        detail: detail.merging(["refused": .string("no_dashboard_access")]) { $1 }
                    ).record(in: tx)
                    return .refuse(.noDashboardAccess)
                }
                if let lockedUntil = user.lockedUntil, lockedUntil > Date() {
                    let retryAfter = Int(lockedUntil.timeIntervalSinceNow.rounded(.up))
                    try Event(
                        companyID: companyID,
                        type: .loginRateLimited,
                        userID: user.id,
                        email: user.email,
                        client: clientInfo,
                        detail: detail.merging(["limit": .string("account_locked"), "retry_after": .int(retryAfter)]) { $1 }
                    ).record(in: tx)
                    return .refuse(.accountLocked(retryAfter: retryAfter))
                }
            } else if company.twoFactorEnabled {
                detail["two_factor"] = .string("exempt_phone_app")
            }
            try Event(companyID: companyID, type: .loginPasswordSucceeded, userID: user.id, email: user.email, client: clientInfo, detail: detail)
                .record(in: tx)
            if needsCode { return .answer((nil, company)) }
            let ttl = client == .dashboard ? settings.sessionTTLDashboard : settings.sessionTTLPhoneApp
            let grant = SessionStore.create(
                companyID: companyID,
                userID: user.id,
                client: client,
                twoFactorVerified: false,
                ttl: ttl,
                databaseNow: databaseNow,
                clientInfo: clientInfo,
                in: tx
            )
            try Event(
                companyID: companyID,
                type: .loginSucceeded,
                userID: user.id,
                email: user.email,
                client: clientInfo,
                detail: detail.merging(["session_id": .string(grant.session.id.uuidString.lowercased())]) { $1 }
            ).record(in: tx)
            return .answer((grant, company))
        }
        if let grant { return .session(grant) }
        return .challenge(try await challenges.startLogin(user: user, company: company, clientInfo: clientInfo))
    }

    /// Verifies the password; when the hasher is too busy to, the failed-password slot
    /// reserved for this attempt is given back (a flood must not lock out the right password).
    func verify(_ password: String, against hash: String?, reservedSlot: String) async throws -> Bool {
        do {
            return try await hasher.verify(password, against: hash)
        } catch is PasswordHasherBusy {
            try await pool.withTransaction { tx in try RateLimiter.undo(reservedSlot, in: tx) }
            throw DomainError(.busy, "Too many logins at once; try again shortly.", retryAfter: 1)
        }
    }

    /// The failed-password counter of an address, known or not: keyed by a MAC of the address
    /// (`rate_limits` is shared by all companies and must not list who tried which address),
    /// under the database's own key, so that rotating `TOLLGATE_SECRET` resets no counter.
    static func failedPasswordKey(email: String, key: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(email.utf8), using: SymmetricKey(data: key))
        return "failed_password:" + lowercaseHex(mac.prefix(16))
    }

    /// The account in the current tenant's scope (an unknown address looks under a company
    /// that does not exist, with the same statement); ``account(from:)`` reads it.
    private static func accountQuery(userID: UUID) -> PQQuery {
        ("""
        SELECT \(unsafeSQL: User.columns), u.password_hash, \(unsafeSQL: Company.columns)
        FROM users u JOIN companies c ON c.id = u.company_id
        WHERE u.company_id = app_company() AND u.id = \(userID) AND u.active
        """ as PQQuery).named("login.account")
    }

    private static func account(from rows: PQRows) throws -> Account? {
        guard let row = rows.first else { return nil }
        return Account(user: try User(row: row), company: try Company(row: row), passwordHash: try row.decode("password_hash"))
    }

    /// The one `login.rate_limited` event of a limited key's window.
    private static func recordRefusal(
        of account: Account,
        limit: String,
        _ limited: LimitRefusal,
        client: SessionClient,
        clientInfo: ClientInfo,
        in tx: PQTransaction
    ) throws {
        try Event(
            companyID: account.user.companyID,
            type: .loginRateLimited,
            userID: account.user.id,
            email: account.user.email,
            client: clientInfo,
            detail: [
                "limit": .string(limit), "retry_after": .int(limited.retryAfter), "client": .string(client.rawValue),
                "later_refusals": .string("counted, not logged"),
            ]
        ).record(in: tx)
    }

    /// The company, held until commit, and the database's clock after the lock was granted.
    private static func companyForShare(in tx: PQTransaction) throws -> (Company, Date) {
        let rows = try tx.query(
            "login.company",
            "SELECT \(unsafeSQL: Company.columns), clock_timestamp() AS database_now FROM companies c WHERE c.id = app_company() FOR SHARE"
        )
        let row = try rows.first.orThrow()
        return (try Company(row: row), try row.decode("database_now"))
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
