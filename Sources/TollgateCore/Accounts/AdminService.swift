import Crypto
public import Foundation
public import Logging
public import PQ

/// An API key of the platform that owns the companies (SPEC §11): a company key manages its
/// company only; a platform key (no company) manages every company and may create them.
public struct APIKey: Sendable, Equatable {
    public let id: UUID
    public let name: String
    public let companyID: UUID?

    /// `tgk_` and 43 characters of base64url (32 random bytes); only its SHA-256 is stored.
    public static func make() -> String { "tgk_" + Base64URL.encode(SecureRandom.bytes(32)) }

    public static func hash(_ key: String) -> Data { Data(SHA256.hash(data: Data(key.utf8))) }
}

/// A company as the provisioning API shows it.
public struct AdminCompany: Sendable {
    public let id: UUID
    public let name: String
    public let dashboardURL: String?
    public let twoFactorEnabled: Bool
    public let createdAt: Date

    static let columns = "c.id, c.name, c.dashboard_url, c.two_factor_enabled, c.created_at"

    init(row: PQRow) throws {
        id = try row.decode("id")
        name = try row.decode("name")
        dashboardURL = try row.decode("dashboard_url")
        twoFactorEnabled = try row.decode("two_factor_enabled")
        createdAt = try row.decode("created_at")
    }
}

/// A user as the provisioning API shows it (never a password hash).
public struct AdminUser: Sendable {
    public let id: UUID
    public let companyID: UUID
    public let email: String
    public let name: String
    public let role: Role
    public let dashboardAccess: Bool
    public let active: Bool
    public let lockedUntil: Date?
    public let createdAt: Date

    static let columns = "u.id, u.company_id, u.email, u.name, u.role, u.dashboard_access, u.active, u.locked_until, u.created_at"

    init(row: PQRow) throws {
        id = try row.decode("id")
        companyID = try row.decode("company_id")
        email = try row.decode("email")
        name = try row.decode("name")
        role = try Role(rawValue: try row.decode("role")).orThrow()
        dashboardAccess = try row.decode("dashboard_access")
        active = try row.decode("active")
        lockedUntil = try row.decode("locked_until")
        createdAt = try row.decode("created_at")
    }
}

/// The provisioning API's domain (SPEC §11): every change in one transaction with its
/// `admin.*` event naming the key; another company's object is `not_found` for a company key.
public struct AdminService: Sendable {
    let pool: PQPool
    let hasher: PasswordHasher
    let configuration: TollgateConfiguration
    let mac: CodeMAC
    let logger: Logger

    public init(pool: PQPool, hasher: PasswordHasher, configuration: TollgateConfiguration, logger: Logger) {
        self.pool = pool
        self.hasher = hasher
        self.configuration = configuration
        self.mac = CodeMAC(secrets: configuration.secrets)
        self.logger = logger
    }

    // MARK: Keys

    /// The live key a bearer token is, counted against the key's limit (one transaction).
    public func authenticate(key text: String, clientInfo: ClientInfo) async throws -> APIKey {
        guard text.hasPrefix("tgk_"), text.utf8.count == 47 else { throw DomainError.unauthenticated }
        let limit = configuration.limits.adminRequestsPerKey
        return try await pool.withTransaction { tx in
            let rows = try tx.query(
                ("SELECT id, name, company_id FROM api_keys WHERE key_hash = \(APIKey.hash(text)) AND revoked_at IS NULL" as PQQuery)
                    .named("api_key.authenticate")
            )
            guard let row = rows.first else { throw DomainError.unauthenticated }
            let key = APIKey(id: try row.decode("id"), name: try row.decode("name"), companyID: try row.decode("company_id"))
            if let refusal = try RateLimiter.hit("api_key:\(key.id)", limit: limit, window: 60, in: tx) {
                throw DomainError.rateLimited(retryAfter: refusal.retryAfter)
            }
            return key
        }
    }

    // MARK: Companies

    /// Creates a company with its first owner; without a password the owner is invited.
    public func createCompany(
        _ key: APIKey,
        name: String,
        ownerEmail: String,
        ownerName: String?,
        ownerPassword: String?,
        dashboardURL: String?,
        clientInfo: ClientInfo
    ) async throws -> (AdminCompany, AdminUser) {
        guard key.companyID == nil else { throw DomainError(.forbidden, "Only a platform key creates companies.") }
        let name = try Self.companyName(name)
        let dashboardURL = try dashboardURL.map(Self.validURL)
        let (email, hash, ownerName) = try await newUser(email: ownerEmail, name: ownerName, password: ownerPassword)
        let companyID = UUID()
        let (mac, configuration) = (self.mac, self.configuration)
        return try await Self.refusingDuplicates {
            try await pool.withTenant(companyID) { tx in
                try tx.query(
                    ("INSERT INTO companies (id, name, dashboard_url) VALUES (\(companyID), \(name), \(dashboardURL))" as PQQuery)
                        .named("company.create")
                )
                let ownerID = try Provisioning.insertUser(
                    companyID: companyID,
                    email: email,
                    name: ownerName,
                    role: .owner,
                    dashboardAccess: true,
                    hash: hash,
                    in: tx
                )
                let owner = try Self.user(ownerID, in: tx)
                try Self.record(.adminCompanyCreated, key: key, user: owner, clientInfo: clientInfo, in: tx)
                if ownerPassword == nil { try Self.invite(owner, clientInfo: clientInfo, mac: mac, configuration: configuration, in: tx) }
                return (try Self.company(in: tx), try Self.user(ownerID, in: tx))
            }
        }
    }

    public func company(_ key: APIKey, id: UUID) async throws -> AdminCompany {
        try Self.scope(key, id)
        return try await pool.withTenant(id) { tx in try Self.company(in: tx) }
    }

    /// Renames a company or sets its dashboard URL (`.some(nil)` clears it).
    public func updateCompany(_ key: APIKey, id: UUID, name: String?, dashboardURL: String??, clientInfo: ClientInfo) async throws -> AdminCompany {
        try Self.scope(key, id)
        let name = try name.map(Self.companyName)
        let url: String?? = try dashboardURL.map { try $0.map(Self.validURL) }
        return try await pool.withTenant(id) { tx in
            _ = try Self.company(in: tx)
            try tx.query(
                ("""
                UPDATE companies SET name = coalesce(\(name), name),
                    dashboard_url = CASE WHEN \(url != nil) THEN \(url ?? nil) ELSE dashboard_url END
                WHERE id = app_company()
                """ as PQQuery).named("company.update")
            )
            try Event(
                companyID: id,
                type: .adminCompanyUpdated,
                client: clientInfo,
                detail: ["api_key": .string(key.name), "name_changed": .bool(name != nil), "dashboard_url_changed": .bool(url != nil)]
            )
            .record(in: tx)
            return try Self.company(in: tx)
        }
    }

    // MARK: Users

    /// One page of a company's users, by id (`after` the last id of the page before).
    public func users(_ key: APIKey, companyID: UUID, limit: Int, after: UUID?) async throws -> [AdminUser] {
        try Self.scope(key, companyID)
        return try await pool.withTenant(companyID) { tx in
            _ = try Self.company(in: tx)
            return try tx.query(
                ("""
                SELECT \(unsafeSQL: AdminUser.columns) FROM users u
                WHERE u.company_id = app_company() AND (\(after)::uuid IS NULL OR u.id > \(after))
                ORDER BY u.id LIMIT \(limit)
                """ as PQQuery).named("user.page")
            ).map { try AdminUser(row: $0) }
        }
    }

    public func createUser(
        _ key: APIKey,
        companyID: UUID,
        email: String,
        name: String?,
        role: Role,
        dashboardAccess: Bool,
        password: String?,
        clientInfo: ClientInfo
    ) async throws -> AdminUser {
        try Self.scope(key, companyID)
        let (address, hash, name) = try await newUser(email: email, name: name, password: password)
        let (mac, configuration) = (self.mac, self.configuration)
        return try await Self.refusingDuplicates {
            try await pool.withTenant(companyID) { tx in
                _ = try Self.company(in: tx)
                let id = try Provisioning.insertUser(
                    companyID: companyID,
                    email: address,
                    name: name,
                    role: role,
                    dashboardAccess: dashboardAccess,
                    hash: hash,
                    in: tx
                )
                let user = try Self.user(id, in: tx)
                try Self.record(.adminUserCreated, key: key, user: user, clientInfo: clientInfo, extra: ["role": .string(role.rawValue)], in: tx)
                if password == nil { try Self.invite(user, clientInfo: clientInfo, mac: mac, configuration: configuration, in: tx) }
                return user
            }
        }
    }

    public func user(_ key: APIKey, id: UUID) async throws -> AdminUser {
        let companyID = try await companyOf(user: id, key: key)
        return try await pool.withTenant(companyID) { tx in try Self.user(id, in: tx) }
    }

    /// Changes a user's name, role or dashboard access. Demoting the last active owner is
    /// `last_owner`, also when two demotions race (the database's trigger decides).
    public func updateUser(
        _ key: APIKey,
        id: UUID,
        name: String?,
        role: Role?,
        dashboardAccess: Bool?,
        clientInfo: ClientInfo
    ) async throws -> AdminUser {
        let companyID = try await companyOf(user: id, key: key)
        if let name, name.trimmingSpaces().count > 200 { throw DomainError(.invalidName, "A name has at most 200 characters.") }
        return try await Self.refusingLastOwner {
            try await pool.withTenant(companyID) { tx in
                try tx.query(
                    ("""
                    UPDATE users SET name = coalesce(\(name?.trimmingSpaces()), name), role = coalesce(\(role?.rawValue), role),
                        dashboard_access = coalesce(\(dashboardAccess), dashboard_access)
                    WHERE company_id = app_company() AND id = \(id)
                    """ as PQQuery).named("user.update")
                )
                let user = try Self.user(id, in: tx)
                var extra: [String: EventValue] = [:]
                if let role { extra["role"] = .string(role.rawValue) }
                if let dashboardAccess { extra["dashboard_access"] = .bool(dashboardAccess) }
                try Self.record(.adminUserUpdated, key: key, user: user, clientInfo: clientInfo, extra: extra, in: tx)
                return user
            }
        }
    }

    /// Deactivates (sessions revoked at once; logging in answers like an unknown address) or
    /// reactivates a user.
    public func setActive(_ key: APIKey, id: UUID, active: Bool, clientInfo: ClientInfo) async throws -> AdminUser {
        let companyID = try await companyOf(user: id, key: key)
        return try await Self.refusingLastOwner {
            try await pool.withTenant(companyID) { tx in
                try tx.query(
                    ("""
                    UPDATE users SET active = \(active), deactivated_at = CASE WHEN \(active) THEN NULL ELSE coalesce(deactivated_at, now()) END
                    WHERE company_id = app_company() AND id = \(id)
                    """ as PQQuery).named("user.set_active")
                )
                let revoked = active ? 0 : try SessionStore.revokeAll(of: id, reason: "deactivated", in: tx)
                let user = try Self.user(id, in: tx)
                try Self.record(
                    active ? .adminUserReactivated : .adminUserDeactivated,
                    key: key,
                    user: user,
                    clientInfo: clientInfo,
                    extra: active ? [:] : ["sessions_revoked": .int(revoked)],
                    in: tx
                )
                return user
            }
        }
    }

    /// Lifts the wrong-code lock of SPEC §5.
    public func unlock(_ key: APIKey, id: UUID, clientInfo: ClientInfo) async throws -> AdminUser {
        let companyID = try await companyOf(user: id, key: key)
        return try await pool.withTenant(companyID) { tx in
            try tx.query(
                ("UPDATE users SET locked_until = NULL, consecutive_wrong_codes = 0 WHERE company_id = app_company() AND id = \(id)"
                    as PQQuery).named("user.unlock")
            )
            let user = try Self.user(id, in: tx)
            try Self.record(.adminUserUnlocked, key: key, user: user, clientInfo: clientInfo, in: tx)
            return user
        }
    }

    /// Mails the user a reset link (an active user only).
    public func sendPasswordReset(_ key: APIKey, id: UUID, clientInfo: ClientInfo) async throws {
        let companyID = try await companyOf(user: id, key: key)
        let (mac, configuration) = (self.mac, self.configuration)
        try await pool.withTenant(companyID) { tx in
            let user = try Self.user(id, in: tx)
            guard user.active else { throw DomainError(.userInactive, "The user is deactivated; reactivate it first.") }
            guard let domainUser = try PasswordService.activeUser(id, in: tx) else { throw DomainError.notFoundObject }
            try PasswordService.issueResetLink(
                for: domainUser,
                purpose: .reset,
                ttl: configuration.passwordResetTTL,
                clientInfo: clientInfo,
                mac: mac,
                configuration: configuration,
                in: tx
            )
            try Self.record(.adminPasswordResetSent, key: key, user: user, clientInfo: clientInfo, in: tx)
        }
    }

    // MARK: Idempotency

    public enum IdempotentStart: Sendable, Equatable {
        /// The first request with this key: do the work, then ``finishIdempotent``.
        case proceed
        /// The stored first answer.
        case replay(status: Int, body: Data)
        /// The key was used with another request.
        case mismatch
        /// The first request is still running.
        case inProgress
    }

    /// Claims `idempotencyKey` for this request, or finds what the first one answered (waiting
    /// a little while it runs, so that a prompt retry gets the answer, not a refusal).
    public func startIdempotent(_ key: APIKey, idempotencyKey: String, requestHash: Data) async throws -> IdempotentStart {
        let deadline = ContinuousClock.now + .seconds(15)
        while true {
            let state = try await pool.withTransaction { tx -> IdempotentStart in
                let claimed = try tx.query(
                    ("""
                    INSERT INTO idempotency_keys (api_key_id, key, request_hash) VALUES (\(key.id), \(idempotencyKey), \(requestHash))
                    ON CONFLICT DO NOTHING RETURNING 1
                    """ as PQQuery).named("idempotency.claim")
                )
                if !claimed.isEmpty { return .proceed }
                guard
                    let row = try tx.query(
                        ("""
                        SELECT request_hash, status, body FROM idempotency_keys WHERE api_key_id = \(key.id) AND key = \(idempotencyKey)
                        """ as PQQuery).named("idempotency.read")
                    ).first
                else { return .inProgress }
                guard try row.decode("request_hash", as: Data.self) == requestHash else { return .mismatch }
                guard let status = try row.decode("status", as: Int?.self) else { return .inProgress }
                return .replay(status: status, body: Data((try row.decode("body", as: String?.self) ?? "").utf8))
            }
            if state != .inProgress || ContinuousClock.now > deadline { return state }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Stores the first answer (nil: the request failed unexpectedly, so the key is released
    /// and a retry may do the work).
    public func finishIdempotent(_ key: APIKey, idempotencyKey: String, answer: (status: Int, body: Data)?) async throws {
        try await pool.withTransaction { tx in
            if let answer {
                try tx.query(
                    ("""
                    UPDATE idempotency_keys SET status = \(answer.status), body = \(String(decoding: answer.body, as: UTF8.self))
                    WHERE api_key_id = \(key.id) AND key = \(idempotencyKey)
                    """ as PQQuery).named("idempotency.finish")
                )
            } else {
                try tx.query(
                    ("DELETE FROM idempotency_keys WHERE api_key_id = \(key.id) AND key = \(idempotencyKey) AND status IS NULL" as PQQuery)
                        .named("idempotency.release")
                )
            }
        }
    }

    // MARK: Shared steps

    private func companyOf(user id: UUID, key: APIKey) async throws -> UUID {
        let found = try await pool.query(("SELECT user_company(\(id)) AS company_id" as PQQuery).named("admin.user_company"))
        guard let companyID = try found.first?.decode("company_id", as: UUID?.self) else { throw DomainError.notFoundObject }
        try Self.scope(key, companyID)
        return companyID
    }

    private func newUser(email: String, name: String?, password: String?) async throws -> (EmailAddress, String, String) {
        guard let address = EmailAddress(email) else { throw DomainError(.invalidEmail, "That is not a plausible email address.") }
        let name = (name ?? "").trimmingSpaces()
        guard name.count <= 200 else { throw DomainError(.invalidName, "A name has at most 200 characters.") }
        guard let password else {
            // An invited user has no password yet: a value no password can ever match.
            return (address, "!invited", name)
        }
        try PasswordPolicy.check(password, field: "password")
        do {
            return (address, try await hasher.hash(password), name)
        } catch is PasswordHasherBusy {
            throw DomainError(.busy, "Too many password checks at once; try again shortly.", retryAfter: 1)
        }
    }

    private static func invite(
        _ user: AdminUser,
        clientInfo: ClientInfo,
        mac: CodeMAC,
        configuration: TollgateConfiguration,
        in tx: PQTransaction
    ) throws {
        guard let domainUser = try PasswordService.activeUser(user.id, in: tx) else { return }
        try PasswordService.issueResetLink(
            for: domainUser,
            purpose: .invitation,
            ttl: configuration.invitationTTL,
            clientInfo: clientInfo,
            mac: mac,
            configuration: configuration,
            in: tx
        )
    }

    static func scope(_ key: APIKey, _ companyID: UUID) throws {
        if let own = key.companyID, own != companyID { throw DomainError.notFoundObject }
    }

    static func company(in tx: PQTransaction) throws -> AdminCompany {
        guard
            let row = try tx.query(
                ("SELECT \(unsafeSQL: AdminCompany.columns) FROM companies c WHERE c.id = app_company()" as PQQuery).named("admin.company")
            ).first
        else { throw DomainError.notFoundObject }
        return try AdminCompany(row: row)
    }

    static func user(_ id: UUID, in tx: PQTransaction) throws -> AdminUser {
        guard
            let row = try tx.query(
                ("SELECT \(unsafeSQL: AdminUser.columns) FROM users u WHERE u.company_id = app_company() AND u.id = \(id)" as PQQuery)
                    .named("admin.user")
            ).first
        else { throw DomainError.notFoundObject }
        return try AdminUser(row: row)
    }

    static func record(
        _ type: EventType,
        key: APIKey,
        user: AdminUser,
        clientInfo: ClientInfo,
        extra: [String: EventValue] = [:],
        in tx: PQTransaction
    ) throws {
        try Event(
            companyID: user.companyID,
            type: type,
            userID: user.id,
            email: user.email,
            client: clientInfo,
            detail: extra.merging(["api_key": .string(key.name)]) { $1 }
        ).record(in: tx)
    }

    static func companyName(_ text: String) throws -> String {
        let name = text.trimmingSpaces()
        guard (1...200).contains(name.count) else { throw DomainError(.invalidName, "A company name has 1 to 200 characters.") }
        return name
    }

    static func validURL(_ text: String) throws -> String {
        guard text.hasPrefix("http://") || text.hasPrefix("https://"), !text.hasSuffix("/"), text.count <= 300, URL(string: text)?.host != nil,
            text.allSatisfy({ !$0.isWhitespace && $0 != "\"" && $0 != "'" && $0 != "<" && $0 != ">" })
        else { throw DomainError(.invalidURL, "dashboard_url is scheme://host[:port][/path], without a trailing /.", field: "dashboard_url") }
        return text
    }

    static func refusingDuplicates<T>(_ work: () async throws -> T) async throws -> T {
        do {
            return try await work()
        } catch let error as PQError where error.isUniqueViolation {
            throw DomainError(.duplicateEmail, "An account with that email address exists already.")
        }
    }

    static func refusingLastOwner<T>(_ work: () async throws -> T) async throws -> T {
        do {
            return try await work()
        } catch let error as PQError where error.constraint == "users_last_owner" {
            throw DomainError(.lastOwner, "A company keeps at least one active owner.")
        }
    }
}

extension DomainError {
    /// Another company's object, or one that does not exist: the same 404.
    public static let notFoundObject = DomainError(.notFound, "There is no such object.")
}
