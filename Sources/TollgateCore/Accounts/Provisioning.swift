public import Foundation
public import PQ

/// Creating companies and users, and lifting locks: what `tollgate company|user` runs.
public struct Provisioning: Sendable {
    let pool: PQPool
    let hasher: PasswordHasher

    public init(pool: PQPool, hasher: PasswordHasher) {
        self.pool = pool
        self.hasher = hasher
    }

    /// Creates a company with its first owner (a company always has one).
    public func createCompany(
        name: String,
        ownerEmail: String,
        ownerPassword: String,
        ownerName: String?
    ) async throws -> (
        companyID: UUID, ownerID: UUID
    ) {
        let name = name.trimmingSpaces()
        guard (1...200).contains(name.count) else { throw DomainError(.invalidName, "A company name has 1 to 200 characters.") }
        let (email, hash, ownerName) = try await validatedUser(email: ownerEmail, password: ownerPassword, name: ownerName)
        let companyID = UUID()
        do {
            return try await pool.withTenant(companyID) { tx in
                (companyID, try Self.insertCompany(companyID, name: name, dashboardURL: nil, owner: email, ownerName: ownerName, hash: hash, in: tx))
            }
        } catch let error as PQError where error.isUniqueViolation {
            throw DomainError(.duplicateEmail, "An account with that email address exists already.")
        }
    }

    /// Inserts a company with its first owner, in the caller's transaction (also the
    /// provisioning API's); returns the owner's id.
    static func insertCompany(
        _ companyID: UUID,
        name: String,
        dashboardURL: String?,
        owner email: EmailAddress,
        ownerName: String,
        hash: String,
        in tx: PQTransaction
    ) throws -> UUID {
        try tx.query("company.create", "INSERT INTO companies (id, name, dashboard_url) VALUES (\(companyID), \(name), \(dashboardURL))")
        return try UserStore.insert(companyID: companyID, email: email, name: ownerName, role: .owner, dashboardAccess: true, hash: hash, in: tx)
    }

    /// Adds a user to an existing company.
    public func addUser(
        companyID: UUID,
        email: String,
        password: String,
        role: Role,
        dashboardAccess: Bool,
        name: String?
    ) async throws -> UUID {
        let (email, hash, name) = try await validatedUser(email: email, password: password, name: name)
        do {
            return try await pool.withTenant(companyID) { tx in
                guard !(try tx.query("company.exists", "SELECT 1 FROM companies WHERE id = \(companyID)")).isEmpty else {
                    throw DomainError(.unknownCompany, "There is no company with that id.")
                }
                return try UserStore.insert(
                    companyID: companyID,
                    email: email,
                    name: name,
                    role: role,
                    dashboardAccess: dashboardAccess,
                    hash: hash,
                    in: tx
                )
            }
        } catch let error as PQError where error.isUniqueViolation {
            throw DomainError(.duplicateEmail, "An account with that email address exists already.")
        }
    }

    /// Lifts the 24-hour lock of SPEC §5 and clears the consecutive wrong-code count.
    /// Returns false when no account has that address.
    public func unlock(email text: String) async throws -> Bool {
        guard let email = EmailAddress(text) else { throw DomainError(.invalidEmail, "That is not a plausible email address.") }
        let found = try await pool.withTransaction { tx in try LoginDirectory.find(email, in: tx) }
        guard let (companyID, userID) = found else { return false }
        try await pool.withTenant(companyID) { tx in
            try UserStore.unlock(userID, in: tx)
            Event(companyID: companyID, type: .accountUnlocked, userID: userID, email: email.value, detail: ["by": .string("support")])
                .record(in: tx)
        }
        return true
    }

    /// A key of the provisioning API: returned once, stored as SHA-256 (SPEC §11).
    public func createAPIKey(name: String, companyID: UUID?) async throws -> (id: UUID, key: String) {
        let name = name.trimmingSpaces()
        guard (1...100).contains(name.count) else { throw DomainError(.invalidName, "A key's name has 1 to 100 characters.") }
        let key = APIKey.make()
        do {
            let rows = try await pool.query(
                "api_key.create",
                """
                INSERT INTO api_keys (name, key_hash, company_id) VALUES (\(name), \(APIKey.hash(key)), \(companyID)) RETURNING id
                """
            )
            return (try rows.first.orThrow().decode("id"), key)
        } catch let error as PQError where error.isUniqueViolation {
            throw DomainError(.duplicateEmail, "A key with that name exists already.")
        } catch let error as PQError where error.sqlState == "23503" {
            throw DomainError(.unknownCompany, "There is no company with that id.")
        }
    }

    public struct APIKeyListing: Sendable {
        public let id: UUID
        public let name: String
        public let companyID: UUID?
        public let createdAt: Date
        public let revokedAt: Date?
    }

    public func apiKeys() async throws -> [APIKeyListing] {
        try await pool.query("api_key.list", "SELECT id, name, company_id, created_at, revoked_at FROM api_keys ORDER BY name")
            .map {
                APIKeyListing(
                    id: try $0.decode("id"),
                    name: try $0.decode("name"),
                    companyID: try $0.decode("company_id"),
                    createdAt: try $0.decode("created_at"),
                    revokedAt: try $0.decode("revoked_at")
                )
            }
    }

    /// Revokes a live key; false when no live key has that name.
    public func revokeAPIKey(name: String) async throws -> Bool {
        try await !pool.query(
            "api_key.revoke",
            "UPDATE api_keys SET revoked_at = now() WHERE name = \(name) AND revoked_at IS NULL RETURNING id"
        ).isEmpty
    }

    private func validatedUser(email: String, password: String, name: String?) async throws -> (EmailAddress, String, String) {
        guard let address = EmailAddress(email) else { throw DomainError(.invalidEmail, "That is not a plausible email address.") }
        if let problem = PasswordPolicy.problem(with: password) { throw DomainError(.passwordRejected, problem, field: "password") }
        let name = (name ?? "").trimmingSpaces()
        guard name.count <= 200 else { throw DomainError(.invalidName, "A name has at most 200 characters.") }
        return (address, try await hasher.hash(password), name)
    }
}
