import Crypto
import Foundation
public import Logging
public import PQ

/// What a correct password leads to.
public enum LoginOutcome: Sendable {
    /// No code needed: a session (password-only dashboard login, or the phone app).
    case session(SessionGrant)
    /// 2FA is on for a dashboard login: a challenge was started and a code emailed.
    case challenge(ChallengeView)
}

/// The password step of logging in (SPEC §3.2, §5). The code step is ``ChallengeService``.
public struct LoginService: Sendable {
    let pool: PQPool
    let hasher: PasswordHasher
    let configuration: TollgateConfiguration
    let challenges: ChallengeService
    let logger: Logger

    public init(pool: PQPool, hasher: PasswordHasher, configuration: TollgateConfiguration, challenges: ChallengeService, logger: Logger) {
        self.pool = pool
        self.hasher = hasher
        self.configuration = configuration
        self.challenges = challenges
        self.logger = logger
    }

    /// The account row the password step needs.
    private struct Account: Sendable {
        let user: User
        let company: Company
        let passwordHash: String
    }

    /// Checks email and password. Unknown addresses and wrong passwords answer alike, in
    /// body and in time (both verify one Argon2id hash).
    public func login(email text: String, password: String, client: SessionClient, clientInfo: ClientInfo) async throws -> LoginOutcome {
        let limits = configuration.limits
        let email = EmailAddress(text)
        let ipKey = "login_ip:\(IPNetwork.rateLimitSubject(clientInfo.ip))"
        let failedKey = Self.failedPasswordKey(email: email?.value ?? text.lowercased(), secret: configuration.secrets.first ?? [])
        let found = try await email.asyncMap { email in try await pool.withTransaction { tx in try LoginDirectory.find(email, in: tx) } } ?? nil

        guard let (companyID, userID) = found else {
            // Unknown account: the same limits, hashing time and answer as a wrong password, so
            // neither the 401 nor the 429 after LIMIT_FAILED_PASSWORDS tells whether it exists.
            if let retryAfter = try await pool.withTransaction({ tx -> Int? in
                if let retryAfter = try RateLimiter.hit(ipKey, limit: limits.loginsPerIP, window: limits.loginsPerIPWindow, in: tx) {
                    return retryAfter
                }
                return try RateLimiter.hit(failedKey, limit: limits.failedPasswords, window: limits.failedPasswordsWindow, in: tx)
            }) {
                throw DomainError.rateLimited(retryAfter: retryAfter)
            }
            _ = try await verify(password, against: nil, reservedSlot: failedKey)
            logger.info("login.unknown_account")
            throw DomainError.invalidCredentials
        }

        // Count the attempt against the IP and reserve one failed-password slot, atomically;
        // the reservation is given back if the password turns out right.
        let reserved = try await pool.withTenant(companyID) { tx -> Result<Account, DomainError> in
            let account = try Self.account(userID: userID, in: tx)
            var refusal: (limit: String, retryAfter: Int)?
            if let retryAfter = try RateLimiter.hit(ipKey, limit: limits.loginsPerIP, window: limits.loginsPerIPWindow, in: tx) {
                refusal = ("logins_per_ip", retryAfter)
            } else if let retryAfter = try RateLimiter.hit(
                failedKey, limit: limits.failedPasswords, window: limits.failedPasswordsWindow, in: tx
            ) {
                refusal = ("failed_passwords", retryAfter)
            }
            if let refusal {
                try Event(
                    companyID: companyID, type: "login.rate_limited", userID: userID, email: account.user.email, client: clientInfo,
                    detail: ["limit": .string(refusal.limit), "retry_after": .int(refusal.retryAfter), "client": .string(client.rawValue)]
                ).record(in: tx)
                return .failure(.rateLimited(retryAfter: refusal.retryAfter))
            }
            return .success(account)
        }
        let account = try reserved.get()

        guard try await verify(password, against: account.passwordHash, reservedSlot: failedKey) else {
            try await pool.withTenant(companyID) { tx in
                try Event(
                    companyID: companyID, type: "login.password_failed", userID: userID, email: account.user.email, client: clientInfo,
                    detail: ["client": .string(client.rawValue)]
                ).record(in: tx)
            }
            throw DomainError.invalidCredentials
        }
        return try await afterPassword(account: account, client: client, clientInfo: clientInfo, failedKey: failedKey)
    }

    private func afterPassword(account: Account, client: SessionClient, clientInfo: ClientInfo, failedKey: String) async throws -> LoginOutcome {
        let configuration = self.configuration
        let user = account.user
        let companyID = user.companyID
        let needsCode = client == .dashboard && account.company.twoFactorEnabled
        let result = try await pool.withTenant(companyID) { tx -> Result<SessionGrant?, DomainError> in
            try RateLimiter.undo(failedKey, in: tx)
            var detail: [String: EventValue] = ["client": .string(client.rawValue)]
            if client == .dashboard {
                guard user.hasDashboardAccess else {
                    try Event(companyID: companyID, type: "login.password_succeeded", userID: user.id, email: user.email, client: clientInfo,
                              detail: detail.merging(["refused": .string("no_dashboard_access")]) { $1 }).record(in: tx)
                    return .failure(.noDashboardAccess)
                }
                if let lockedUntil = user.lockedUntil, lockedUntil > Date() {
                    let retryAfter = Int(lockedUntil.timeIntervalSinceNow.rounded(.up))
                    try Event(companyID: companyID, type: "login.rate_limited", userID: user.id, email: user.email, client: clientInfo,
                              detail: detail.merging(["limit": .string("account_locked"), "retry_after": .int(retryAfter)]) { $1 }).record(in: tx)
                    return .failure(DomainError(.accountLocked, "This account's dashboard login is locked; contact support.", retryAfter: retryAfter))
                }
            } else if account.company.twoFactorEnabled {
                detail["two_factor"] = .string("exempt_phone_app")
            }
            try Event(companyID: companyID, type: "login.password_succeeded", userID: user.id, email: user.email, client: clientInfo, detail: detail)
                .record(in: tx)
            if needsCode { return .success(nil) }
            let ttl = client == .dashboard ? configuration.sessionTTLDashboard : configuration.sessionTTLPhoneApp
            let grant = try SessionStore.create(
                companyID: companyID, userID: user.id, client: client, twoFactorVerified: false, ttl: ttl, clientInfo: clientInfo, in: tx
            )
            try Event(companyID: companyID, type: "login.succeeded", userID: user.id, email: user.email, client: clientInfo,
                      detail: detail.merging(["session_id": .string(grant.session.id.uuidString.lowercased())]) { $1 }).record(in: tx)
            return .success(grant)
        }
        if let grant = try result.get() { return .session(grant) }
        return .challenge(try await challenges.startLogin(user: user, company: account.company, clientInfo: clientInfo))
    }

    /// Verifies the password; when the hasher is too busy to, the failed-password slot
    /// reserved for this attempt is given back (a flood must not lock out the right password).
    private func verify(_ password: String, against hash: String?, reservedSlot: String) async throws -> Bool {
        do {
            return try await hasher.verify(password, against: hash)
        } catch is PasswordHasherBusy {
            try await pool.withTransaction { tx in try RateLimiter.undo(reservedSlot, in: tx) }
            throw DomainError(.busy, "Too many logins at once; try again shortly.", retryAfter: 1)
        }
    }

    /// The failed-password counter of an address, known or not: keyed by a MAC of the address
    /// (`rate_limits` is shared by all companies and must not list who tried which address).
    static func failedPasswordKey(email: String, secret: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(email.utf8), using: SymmetricKey(data: secret))
        return "failed_password:" + mac.prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    private static func account(userID: UUID, in tx: PQTransaction) throws -> Account {
        let rows = try tx.query(
            ("""
            SELECT \(unsafeSQL: User.columns), u.password_hash, \(unsafeSQL: Company.columns)
            FROM users u JOIN companies c ON c.id = u.company_id
            WHERE u.company_id = app_company() AND u.id = \(userID)
            """ as PQQuery).named("login.account")
        )
        let row = try rows.first.orThrow()
        return Account(user: try User(row: row), company: try Company(row: row), passwordHash: try row.decode("password_hash"))
    }

    /// Logs out: revokes the session and records it.
    public func logout(_ principal: Principal, clientInfo: ClientInfo) async throws {
        try await pool.withTenant(principal.company.id) { tx in
            if try SessionStore.revoke(sessionID: principal.session.id, reason: "logout", in: tx) {
                try Event(
                    companyID: principal.company.id, type: "session.revoked", userID: principal.user.id, email: principal.user.email,
                    client: clientInfo, detail: ["reason": .string("logout"), "session_id": .string(principal.session.id.uuidString.lowercased())]
                ).record(in: tx)
            }
        }
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
