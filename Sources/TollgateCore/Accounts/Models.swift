public import Foundation
import PQ

/// A user's role in its company (SPEC §1).
public enum Role: String, Sendable, Codable, CaseIterable {
    case owner, admin, member
}

/// Which app a session belongs to.
public enum SessionClient: String, Sendable, Codable {
    case dashboard
    case phoneApp = "phone_app"
}

/// A company as the API shows it.
public struct Company: Sendable, Equatable {
    public let id: UUID
    public let name: String
    public let twoFactorEnabled: Bool
    public let twoFactorChangedAt: Date?
    public let twoFactorChangedBy: UUID?
    /// The company's own dashboard, where its reset links point (SPEC §10, §11); nil: `PUBLIC_URL`.
    public let dashboardURL: String?
    /// Which second factors count and how often to ask (SPEC §13, §14).
    public let policy: SignInPolicy

    static let columns =
        "c.id AS company_id, c.name AS company_name, c.two_factor_enabled, c.two_factor_changed_at, c.two_factor_changed_by, "
        + "c.dashboard_url, c.methods_policy, c.ask_policy, c.remember_days AS company_remember_days"

    init(row: PQRow) throws {
        id = try row.decode("company_id")
        name = try row.decode("company_name")
        twoFactorEnabled = try row.decode("two_factor_enabled")
        twoFactorChangedAt = try row.decode("two_factor_changed_at")
        twoFactorChangedBy = try row.decode("two_factor_changed_by")
        dashboardURL = try row.decode("dashboard_url")
        guard let methods = SignInPolicy.Methods(rawValue: try row.decode("methods_policy")),
            let ask = SignInPolicy.Ask(rawValue: try row.decode("ask_policy"))
        else {
            throw PQError(kind: .decoding, message: "column methods_policy or ask_policy has an unknown value")
        }
        policy = SignInPolicy(methods: methods, ask: ask, rememberDays: try row.decode("company_remember_days"))
    }

    /// The tenant in scope; with `lock`, its row is locked until the transaction ends, so
    /// changes of its 2FA setting take turns.
    static func current(in tx: PQTransaction, lock: Bool) throws -> Company {
        let rows = try tx.query(
            lock
                ? ("SELECT \(unsafeSQL: Company.columns) FROM companies c WHERE c.id = app_company() FOR UPDATE" as PQQuery).named("company.lock")
                : ("SELECT \(unsafeSQL: Company.columns) FROM companies c WHERE c.id = app_company()" as PQQuery).named("company.current")
        )
        return try Company(row: try rows.first.orThrow())
    }

    /// The addresses of the tenant's active owners, for notices.
    static func ownerEmails(in tx: PQTransaction) throws -> [String] {
        try tx.query(
            "company.owners",
            "SELECT email FROM users WHERE company_id = app_company() AND role = 'owner' AND active ORDER BY email"
        ).map { try $0.decode("email") }
    }
}

/// A user as the domain sees it (the password hash stays inside the login path).
public struct User: Sendable, Equatable {
    public let id: UUID
    public let companyID: UUID
    public let email: String
    public let name: String
    public let role: Role
    /// The flag as stored; see ``hasDashboardAccess``.
    public let dashboardAccessFlag: Bool
    public let lockedUntil: Date?
    /// False once deactivated (SPEC §11): it cannot log in, and its challenges refuse.
    public let active: Bool

    /// Owners and admins always; members only with the flag (SPEC §1).
    public var hasDashboardAccess: Bool { role != .member || dashboardAccessFlag }
    /// Owners and admins read security settings and start activation.
    public var isOwnerOrAdmin: Bool { role != .member }

    static let columns =
        "u.id AS user_id, u.company_id AS user_company_id, u.email, u.name AS user_name, u.role, u.dashboard_access, u.locked_until, u.active"

    init(row: PQRow) throws {
        id = try row.decode("user_id")
        companyID = try row.decode("user_company_id")
        email = try row.decode("email")
        name = try row.decode("user_name")
        guard let role = Role(rawValue: try row.decode("role")) else {
            throw PQError(kind: .decoding, message: "column role has an unknown value")
        }
        self.role = role
        dashboardAccessFlag = try row.decode("dashboard_access")
        lockedUntil = try row.decode("locked_until")
        active = try row.decode("active")
    }

    /// The email's masked form for answers and logs.
    public var emailHint: String { EmailAddress(email)?.hint ?? "***" }
}
