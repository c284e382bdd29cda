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

/// A company as the provisioning API shows it: ``Company``'s row and when it was made.
public struct AdminCompany: Sendable {
    public let id: UUID
    public let name: String
    public let dashboardURL: String?
    public let twoFactorEnabled: Bool
    public let createdAt: Date

    static let columns = Company.columns + ", c.created_at"

    init(row: PQRow) throws {
        let company = try Company(row: row)
        (id, name, dashboardURL, twoFactorEnabled) = (company.id, company.name, company.dashboardURL, company.twoFactorEnabled)
        createdAt = try row.decode("created_at")
    }
}

/// A user as the provisioning API shows it (never a password hash): ``User``'s row, whether
/// it is active and when it was made.
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
    /// The kinds of method the user can sign in with (SPEC §11, read only): `email` always, then
    /// each kind of confirmed method it has, once.
    public let methods: [String]

    static let columns = User.columns + ", u.created_at, " + methodKinds

    /// `email`, then the distinct kinds of the user's confirmed methods (a subquery per user,
    /// over the `user_methods_user` index).
    static let methodKinds = """
        array_to_string(ARRAY['email'] || ARRAY(SELECT DISTINCT m.kind FROM user_methods m
            WHERE m.company_id = u.company_id AND m.user_id = u.id AND m.confirmed_at IS NOT NULL ORDER BY m.kind DESC), ',') AS method_kinds
        """

    init(row: PQRow) throws {
        let user = try User(row: row)
        (id, companyID, email, name, role) = (user.id, user.companyID, user.email, user.name, user.role)
        (dashboardAccess, lockedUntil) = (user.dashboardAccessFlag, user.lockedUntil)
        active = user.active
        createdAt = try row.decode("created_at")
        methods = try row.decode("method_kinds", as: String.self).split(separator: ",").map(String.init)
    }
}

extension DomainError {
    static let implausibleEmail = DomainError(.invalidEmail, "That is not a plausible email address.")
    static let nameTooLong = DomainError(.invalidName, "A name has at most 200 characters.")
}
