import Foundation
import TollgateCore

// The request bodies of SPEC §4, §10 and §11, one per route that takes one. Properties are
// declared in the order the fields are checked, and each field's type refuses what the API
// does not take; `OpenAPIContractTests` holds the names to openapi.yaml.

/// `POST /v1/auth/login`.
struct LoginRequest: RequestBody {
    let email: BoundedText<MaxLength.Email>
    let password: BoundedText<MaxLength.Password>
    let client: Choice<SessionClient>
    /// The token of a browser the user chose to be remembered on (SPEC §14).
    let rememberedBrowser: BoundedText<MaxLength.Token>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case email, password, client
        case rememberedBrowser = "remembered_browser"
    }
}

/// `POST /v1/auth/login/verify`.
struct VerifyLoginRequest: RequestBody {
    let challengeToken: BoundedText<MaxLength.Token>
    let code: BoundedText<MaxLength.Code>
    /// Where the code comes from: `email` (the default) or `totp` (SPEC §13).
    let method: Choice<CodeMethod>?
    let rememberBrowser: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case challengeToken = "challenge_token"
        case code, method
        case rememberBrowser = "remember_browser"
    }
}

/// The second factors a code can come from.
enum CodeMethod: String, FieldChoice {
    case email, totp
    static let maxLength = 16
    static let choices = #""email" or "totp""#

    var factor: SecondFactor { self == .email ? .email : .totp }
}

/// `PATCH /v1/company/security/policy` (SPEC §13.1): the fields to change and the owner's password.
struct PolicyRequest: RequestBody {
    let methods: Choice<SignInPolicy.Methods>?
    let ask: Choice<SignInPolicy.Ask>?
    let rememberDays: Int?
    let password: BoundedText<MaxLength.Password>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case methods, ask, password
        case rememberDays = "remember_days"
    }
}

extension SignInPolicy.Methods: FieldChoice {
    static let maxLength = 32
    static let choices = #""email", "any" or "phishing_resistant""#
}

extension SignInPolicy.Ask: FieldChoice {
    static let maxLength = 32
    static let choices = #""every_login" or "per_browser""#
}

/// `POST /v1/auth/login/challenge` and `/resend`.
struct ChallengeTokenRequest: RequestBody {
    let challengeToken: BoundedText<MaxLength.Token>

    enum CodingKeys: String, CodingKey, CaseIterable {
        case challengeToken = "challenge_token"
    }
}

/// `POST /v1/auth/password/forgot`.
struct ForgotPasswordRequest: RequestBody {
    let email: BoundedText<MaxLength.Email>

    enum CodingKeys: String, CodingKey, CaseIterable {
        case email
    }
}

/// `POST /v1/auth/password/reset`.
struct ResetPasswordRequest: RequestBody {
    let token: BoundedText<MaxLength.Token>
    let newPassword: BoundedText<MaxLength.Password>

    enum CodingKeys: String, CodingKey, CaseIterable {
        case token
        case newPassword = "new_password"
    }
}

/// `POST /v1/auth/not-me`.
struct NotMeRequest: RequestBody {
    let token: BoundedText<MaxLength.Token>

    enum CodingKeys: String, CodingKey, CaseIterable {
        case token
    }
}

/// `POST /v1/account/password`.
struct ChangePasswordRequest: RequestBody {
    let currentPassword: BoundedText<MaxLength.Password>
    let newPassword: BoundedText<MaxLength.Password>

    enum CodingKeys: String, CodingKey, CaseIterable {
        case currentPassword = "current_password"
        case newPassword = "new_password"
    }
}

/// `POST /v1/company/security/two-factor/activation/{id}/verify`.
struct VerifyActivationRequest: RequestBody {
    let code: BoundedText<MaxLength.Code>

    enum CodingKeys: String, CodingKey, CaseIterable {
        case code
    }
}

/// `POST /v1/company/security/two-factor/enable`. Both fields are optional here: a missing or
/// false `confirm` is 400 `confirmation_required` (SPEC §4), checked before `activation_id`.
struct EnableTwoFactorRequest: RequestBody {
    let confirm: Bool?
    let activationID: BoundedText<MaxLength.Identifier>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case confirm
        case activationID = "activation_id"
    }
}

/// `POST /v1/company/security/two-factor/disable`: a missing `confirm` is 400
/// `confirmation_required`, a missing `password` 403 `reauthentication_required` (the service's).
struct DisableTwoFactorRequest: RequestBody {
    let confirm: Bool?
    let password: BoundedText<MaxLength.Password>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case confirm, password
    }
}

/// `POST /v1/admin/companies`.
struct CreateCompanyRequest: RequestBody {
    let owner: Owner
    let name: BoundedText<MaxLength.Name>
    let dashboardURL: BoundedText<MaxLength.WebAddress>?

    /// The first owner; without a password, an invitation email sets it.
    struct Owner: Decodable, Sendable {
        let email: BoundedText<MaxLength.Email>
        let name: BoundedText<MaxLength.Name>?
        let password: BoundedText<MaxLength.Password>?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case email, name, password
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case owner, name
        case dashboardURL = "dashboard_url"
    }
}

/// `PATCH /v1/admin/companies/{id}`: a field left out is kept; `dashboard_url: null` clears it.
struct UpdateCompanyRequest: RequestBody {
    let name: BoundedText<MaxLength.Name>?
    /// nil: keep; `.some(nil)`: clear.
    let dashboardURL: BoundedText<MaxLength.WebAddress>??

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name
        case dashboardURL = "dashboard_url"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(BoundedText.self, forKey: .name)
        dashboardURL = container.contains(.dashboardURL) ? .some(try container.decodeIfPresent(BoundedText.self, forKey: .dashboardURL)) : nil
    }
}

/// `POST /v1/admin/companies/{id}/users`.
struct CreateUserRequest: RequestBody {
    let role: Choice<Role>
    let email: BoundedText<MaxLength.Email>
    let name: BoundedText<MaxLength.Name>?
    let dashboardAccess: Bool?
    let password: BoundedText<MaxLength.Password>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case role, email, name
        case dashboardAccess = "dashboard_access"
        case password
    }
}

/// `PATCH /v1/admin/users/{id}`: a field left out (or null) is kept.
struct UpdateUserRequest: RequestBody {
    let role: Choice<Role>?
    let name: BoundedText<MaxLength.Name>?
    let dashboardAccess: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case role, name
        case dashboardAccess = "dashboard_access"
    }
}
