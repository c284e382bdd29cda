import Crypto
public import Foundation
import PQ

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

extension DomainError {
    static let implausibleEmail = DomainError(.invalidEmail, "That is not a plausible email address.")
    static let nameTooLong = DomainError(.invalidName, "A name has at most 200 characters.")
}
