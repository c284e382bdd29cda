import Foundation
import PQ

/// The statements on the `users` table that more than one service needs (`user.*`), in the
/// caller's transaction and its tenant's scope. The provisioning API's own reads and updates of
/// its user view are `admin_users.*`, in `AdminUsers.swift`.
enum UserStore {
    /// A new user; the id the database gave it.
    static func insert(
        companyID: UUID,
        email: EmailAddress,
        name: String,
        role: Role,
        dashboardAccess: Bool,
        hash: String,
        in tx: PQTransaction
    ) throws -> UUID {
        let rows = try tx.query(
            "user.create",
            """
            INSERT INTO users (company_id, email, name, role, dashboard_access, password_hash)
            VALUES (\(companyID), \(email.value), \(name), \(role.rawValue), \(dashboardAccess || role != .member), \(hash))
            RETURNING id
            """
        )
        return try rows.first.orThrow().decode("id")
    }

    /// The user, or nil; with `activeOnly`, nil for a deactivated one too.
    static func find(_ id: UUID, activeOnly: Bool, in tx: PQTransaction) throws -> User? {
        let rows = try tx.query(
            "user.find",
            "SELECT \(unsafeSQL: User.columns) FROM users u WHERE u.company_id = app_company() AND u.id = \(id) AND (u.active OR NOT \(activeOnly))"
        )
        return try rows.first.map { try User(row: $0) }
    }

    static func passwordHash(of id: UUID, in tx: PQTransaction) throws -> String {
        try tx.query("user.password_hash", "SELECT password_hash FROM users WHERE company_id = app_company() AND id = \(id)").first.orThrow()
            .decode("password_hash")
    }

    static func setPassword(_ hash: String, of id: UUID, in tx: PQTransaction) throws {
        try tx.query("user.set_password", "UPDATE users SET password_hash = \(hash) WHERE company_id = app_company() AND id = \(id)")
    }

    /// Lifts the wrong-code lock (SPEC §5).
    static func unlock(_ id: UUID, in tx: PQTransaction) throws {
        try tx.query(
            "user.unlock",
            "UPDATE users SET locked_until = NULL, consecutive_wrong_codes = 0 WHERE company_id = app_company() AND id = \(id)"
        )
    }
}
