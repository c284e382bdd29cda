public import Foundation
import Logging
import PQ

/// The provisioning API's domain (SPEC §11): every change in one transaction with its
/// `admin.*` event naming the key; another company's object is `not_found` for a company key.
/// Keys and companies are here; users in `AdminUsers.swift`, `Idempotency-Key` in
/// `AdminIdempotency.swift`, the API's values in `AdminModels.swift`.
public struct AdminService: DomainService, Sendable {
    let dependencies: DomainDependencies
    /// The database's own keys (`Idempotency-Key` fingerprints), read once.
    let keys = InstanceKeys()

    public init(_ dependencies: DomainDependencies) {
        self.dependencies = dependencies
    }

    // MARK: Keys

    /// The live key a bearer token is, counted against the key's limit (one transaction).
    public func authenticate(key text: String, clientInfo: ClientInfo) async throws -> APIKey {
        guard text.hasPrefix("tgk_"), text.utf8.count == 47 else { throw DomainError.unauthenticated }
        let limit = settings.limits.adminRequestsPerKey
        return try await pool.withTransaction { tx in
            let rows = try tx.query(
                "api_key.authenticate",
                "SELECT id, name, company_id FROM api_keys WHERE key_hash = \(APIKey.hash(text)) AND revoked_at IS NULL"
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
        let (mac, settings) = (self.mac, self.settings)
        return try await Self.refusingDuplicates {
            try await pool.withTenant(companyID) { tx in
                let ownerID = try Provisioning.insertCompany(
                    companyID,
                    name: name,
                    dashboardURL: dashboardURL,
                    owner: email,
                    ownerName: ownerName,
                    hash: hash,
                    in: tx
                )
                let owner = try Self.user(ownerID, in: tx)
                try Self.record(.adminCompanyCreated, key: key, user: owner, clientInfo: clientInfo, in: tx)
                if ownerPassword == nil { try Self.invite(owner, clientInfo: clientInfo, mac: mac, settings: settings, in: tx) }
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
                "company.update",
                """
                UPDATE companies SET name = coalesce(\(name), name),
                    dashboard_url = CASE WHEN \(url != nil) THEN \(url ?? nil) ELSE dashboard_url END
                WHERE id = app_company()
                """
            )
            Event(
                companyID: id,
                type: .adminCompanyUpdated,
                client: clientInfo,
                detail: ["api_key": .string(key.name), "name_changed": .bool(name != nil), "dashboard_url_changed": .bool(url != nil)]
            )
            .record(in: tx)
            return try Self.company(in: tx)
        }
    }

    // MARK: Shared steps

    static func scope(_ key: APIKey, _ companyID: UUID) throws {
        if let own = key.companyID, own != companyID { throw DomainError.notFoundObject }
    }

    static func company(in tx: PQTransaction) throws -> AdminCompany {
        try AdminCompany(row: one("admin.company", "SELECT \(unsafeSQL: AdminCompany.columns) FROM companies c WHERE c.id = app_company()", in: tx))
    }

    static func user(_ id: UUID, in tx: PQTransaction) throws -> AdminUser {
        try AdminUser(
            row: one("admin.user", "SELECT \(unsafeSQL: AdminUser.columns) FROM users u WHERE u.company_id = app_company() AND u.id = \(id)", in: tx)
        )
    }

    /// The row `query` finds; none is `not_found`, as for another company's object.
    private static func one(_ name: String, _ query: PQQuery, in tx: PQTransaction) throws -> PQRow {
        guard let row = try tx.query(name, query).first else { throw DomainError.notFoundObject }
        return row
    }

    static func record(
        _ type: EventType,
        key: APIKey,
        user: AdminUser,
        clientInfo: ClientInfo,
        extra: [String: EventValue] = [:],
        in tx: PQTransaction
    ) throws {
        Event(
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

    /// What a new user is made of: a plausible address, a name of at most 200 characters,
    /// and the password's hash (or, invited, none that can match).
    func newUser(email: String, name: String?, password: String?) async throws -> (EmailAddress, String, String) {
        guard let address = EmailAddress(email) else { throw DomainError.implausibleEmail }
        let name = (name ?? "").trimmingSpaces()
        guard name.count <= 200 else { throw DomainError.nameTooLong }
        guard let password else {
            // An invited user has no password yet: a value no password can ever match.
            return (address, "!invited", name)
        }
        try PasswordPolicy.check(password, field: "password")
        do {
            return (address, try await hasher.hash(password), name)
        } catch is PasswordHasherBusy {
            throw DomainError.hashingBusy
        }
    }

    /// Mails an invited user the link that sets its password.
    static func invite(
        _ user: AdminUser,
        clientInfo: ClientInfo,
        mac: SecretMAC,
        settings: DomainSettings,
        in tx: PQTransaction
    ) throws {
        guard let domainUser = try UserStore.find(user.id, activeOnly: true, in: tx) else { return }
        try PasswordService.issueResetLink(.invitation, for: domainUser, clientInfo: clientInfo, mac: mac, settings: settings, in: tx)
    }
}

extension DomainError {
    /// Another company's object, or one that does not exist: the same 404.
    public static let notFoundObject = DomainError(.notFound, "There is no such object.")
}
