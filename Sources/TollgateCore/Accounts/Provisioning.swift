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
    public func createCompany(name: String, ownerEmail: String, ownerPassword: String, ownerName: String?) async throws -> (
        companyID: UUID, ownerID: UUID
    ) {
        let name = name.trimmingSpaces()
        guard (1...200).contains(name.count) else { throw DomainError(.invalidName, "A company name has 1 to 200 characters.") }
        let (email, hash, ownerName) = try await validatedUser(email: ownerEmail, password: ownerPassword, name: ownerName)
        let companyID = UUID()
        do {
            return try await pool.withTenant(companyID) { tx in
                try tx.query(("INSERT INTO companies (id, name) VALUES (\(companyID), \(name))" as PQQuery).named("company.create"))
                let ownerID = try Self.insertUser(
                    companyID: companyID, email: email, name: ownerName, role: .owner, dashboardAccess: true, hash: hash, in: tx
                )
                return (companyID, ownerID)
            }
        } catch let error as PQError where error.isUniqueViolation {
            throw DomainError(.duplicateEmail, "An account with that email address exists already.")
        }
    }

    /// Adds a user to an existing company.
    public func addUser(
        companyID: UUID, email: String, password: String, role: Role, dashboardAccess: Bool, name: String?
    ) async throws -> UUID {
        let (email, hash, name) = try await validatedUser(email: email, password: password, name: name)
        do {
            return try await pool.withTenant(companyID) { tx in
                guard !(try tx.query(("SELECT 1 FROM companies WHERE id = \(companyID)" as PQQuery).named("company.exists"))).isEmpty else {
                    throw DomainError(.unknownCompany, "There is no company with that id.")
                }
                return try Self.insertUser(
                    companyID: companyID, email: email, name: name, role: role, dashboardAccess: dashboardAccess, hash: hash, in: tx
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
            try tx.query(
                ("UPDATE users SET locked_until = NULL, consecutive_wrong_codes = 0 WHERE company_id = \(companyID) AND id = \(userID)"
                    as PQQuery).named("user.unlock")
            )
            try Event(companyID: companyID, type: "account.unlocked", userID: userID, email: email.value, detail: ["by": .string("support")])
                .record(in: tx)
        }
        return true
    }

    private func validatedUser(email: String, password: String, name: String?) async throws -> (EmailAddress, String, String) {
        guard let address = EmailAddress(email) else { throw DomainError(.invalidEmail, "That is not a plausible email address.") }
        if let problem = PasswordPolicy.problem(with: password) { throw DomainError(.passwordRejected, problem, field: "password") }
        let name = (name ?? "").trimmingSpaces()
        guard name.count <= 200 else { throw DomainError(.invalidName, "A name has at most 200 characters.") }
        return (address, try await hasher.hash(password), name)
    }

    static func insertUser(
        companyID: UUID, email: EmailAddress, name: String, role: Role, dashboardAccess: Bool, hash: String, in tx: PQTransaction
    ) throws -> UUID {
        let rows = try tx.query(
            ("""
            INSERT INTO users (company_id, email, name, role, dashboard_access, password_hash)
            VALUES (\(companyID), \(email.value), \(name), \(role.rawValue), \(dashboardAccess || role != .member), \(hash))
            RETURNING id
            """ as PQQuery).named("user.create")
        )
        return try rows.first.orThrow().decode("id")
    }
}
