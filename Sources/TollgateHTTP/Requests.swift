import Foundation
import TollgateCore

// The request bodies of SPEC §4, §10 and §11, one per route that takes one. Properties are
// declared in the order the fields are checked; `OpenAPIContractTests` holds the names to
// openapi.yaml.

/// `POST /v1/auth/login`.
struct LoginRequest: RequestBody {
    let email: String
    let password: String
    let client: String

    enum CodingKeys: String, CodingKey, CaseIterable {
        case email, password, client
    }

    func validate() throws {
        try check(email, CodingKeys.email, maxLength: 320)
        try check(password, CodingKeys.password, maxLength: 1024)
        try check(client, CodingKeys.client, maxLength: 32)
        guard SessionClient(rawValue: client) != nil else {
            throw APIError.invalidRequest(field: "client", "The field client must be \"dashboard\" or \"phone_app\".")
        }
    }

    /// The client named; `validate()` refused any other.
    var sessionClient: SessionClient { SessionClient(rawValue: client)! }
}

/// `POST /v1/auth/login/verify`.
struct VerifyLoginRequest: RequestBody {
    let challengeToken: String
    let code: String

    enum CodingKeys: String, CodingKey, CaseIterable {
        case challengeToken = "challenge_token"
        case code
    }

    func validate() throws {
        try check(challengeToken, CodingKeys.challengeToken, maxLength: 256)
        try check(code, CodingKeys.code, maxLength: 64)
    }
}

/// `POST /v1/auth/login/challenge` and `/resend`.
struct ChallengeTokenRequest: RequestBody {
    let challengeToken: String

    enum CodingKeys: String, CodingKey, CaseIterable {
        case challengeToken = "challenge_token"
    }

    func validate() throws { try check(challengeToken, CodingKeys.challengeToken, maxLength: 256) }
}

/// `POST /v1/auth/password/forgot`.
struct ForgotPasswordRequest: RequestBody {
    let email: String

    enum CodingKeys: String, CodingKey, CaseIterable {
        case email
    }

    func validate() throws { try check(email, CodingKeys.email, maxLength: 320) }
}

/// `POST /v1/auth/password/reset`.
struct ResetPasswordRequest: RequestBody {
    let token: String
    let newPassword: String

    enum CodingKeys: String, CodingKey, CaseIterable {
        case token
        case newPassword = "new_password"
    }

    func validate() throws {
        try check(token, CodingKeys.token, maxLength: 256)
        try check(newPassword, CodingKeys.newPassword, maxLength: 1024)
    }
}

/// `POST /v1/auth/not-me`.
struct NotMeRequest: RequestBody {
    let token: String

    enum CodingKeys: String, CodingKey, CaseIterable {
        case token
    }

    func validate() throws { try check(token, CodingKeys.token, maxLength: 256) }
}

/// `POST /v1/account/password`.
struct ChangePasswordRequest: RequestBody {
    let currentPassword: String
    let newPassword: String

    enum CodingKeys: String, CodingKey, CaseIterable {
        case currentPassword = "current_password"
        case newPassword = "new_password"
    }

    func validate() throws {
        try check(currentPassword, CodingKeys.currentPassword, maxLength: 1024)
        try check(newPassword, CodingKeys.newPassword, maxLength: 1024)
    }
}

/// `POST /v1/company/security/two-factor/activation/{id}/verify`.
struct VerifyActivationRequest: RequestBody {
    let code: String

    enum CodingKeys: String, CodingKey, CaseIterable {
        case code
    }

    func validate() throws { try check(code, CodingKeys.code, maxLength: 64) }
}

/// `POST /v1/company/security/two-factor/enable`. Both fields are optional here: a missing or
/// false `confirm` is 400 `confirmation_required` (SPEC §4), checked before `activation_id`.
struct EnableTwoFactorRequest: RequestBody {
    let confirm: Bool?
    let activationID: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case confirm
        case activationID = "activation_id"
    }

    func validate() throws { try check(activationID, CodingKeys.activationID, maxLength: 64) }
}

/// `POST /v1/company/security/two-factor/disable`: a missing `confirm` is 400
/// `confirmation_required`, a missing `password` 403 `reauthentication_required` (the service's).
struct DisableTwoFactorRequest: RequestBody {
    let confirm: Bool?
    let password: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case confirm, password
    }

    func validate() throws { try check(password, CodingKeys.password, maxLength: 1024) }
}

/// `POST /v1/admin/companies`.
struct CreateCompanyRequest: RequestBody {
    let owner: Owner
    let name: String
    let dashboardURL: String?

    /// The first owner; without a password, an invitation email sets it.
    struct Owner: Decodable, Sendable {
        let email: String
        let name: String?
        let password: String?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case email, name, password
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case owner, name
        case dashboardURL = "dashboard_url"
    }

    func validate() throws {
        try check(name, CodingKeys.name, maxLength: 200)
        try check(owner.email, Owner.CodingKeys.email, maxLength: 320)
        try check(owner.name, Owner.CodingKeys.name, maxLength: 200)
        try check(owner.password, Owner.CodingKeys.password, maxLength: 1024)
        try check(dashboardURL, CodingKeys.dashboardURL, maxLength: 300)
    }
}

/// `PATCH /v1/admin/companies/{id}`: a field left out is kept; `dashboard_url: null` clears it.
struct UpdateCompanyRequest: RequestBody {
    let name: String?
    /// nil: keep; `.some(nil)`: clear.
    let dashboardURL: String??

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name
        case dashboardURL = "dashboard_url"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        dashboardURL = container.contains(.dashboardURL) ? .some(try container.decodeIfPresent(String.self, forKey: .dashboardURL)) : nil
    }

    func validate() throws {
        try check(name, CodingKeys.name, maxLength: 200)
        try check(dashboardURL ?? nil, CodingKeys.dashboardURL, maxLength: 300)
    }
}

/// `POST /v1/admin/companies/{id}/users`.
struct CreateUserRequest: RequestBody {
    let role: String
    let email: String
    let name: String?
    let dashboardAccess: Bool?
    let password: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case role, email, name
        case dashboardAccess = "dashboard_access"
        case password
    }

    func validate() throws {
        try check(role, CodingKeys.role, maxLength: 16)
        _ = try Self.role(role)
        try check(email, CodingKeys.email, maxLength: 320)
        try check(name, CodingKeys.name, maxLength: 200)
        try check(password, CodingKeys.password, maxLength: 1024)
    }

    static func role(_ name: String) throws -> Role {
        guard let role = Role(rawValue: name) else { throw APIError.invalidRequest(field: "role", "The field role must be owner, admin or member.") }
        return role
    }
}

/// `PATCH /v1/admin/users/{id}`: a field left out (or null) is kept.
struct UpdateUserRequest: RequestBody {
    let role: String?
    let name: String?
    let dashboardAccess: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case role, name
        case dashboardAccess = "dashboard_access"
    }

    func validate() throws {
        try check(role, CodingKeys.role, maxLength: 16)
        if let role { _ = try CreateUserRequest.role(role) }
        try check(name, CodingKeys.name, maxLength: 200)
    }
}
