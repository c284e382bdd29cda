/// A refusal the domain decides on. It knows nothing of HTTP: its `code` is the API's error
/// code (SPEC §4) and one place in TollgateHTTP maps codes to statuses. Messages are safe to
/// show and never carry a code, token, password or full email address.
public struct DomainError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalidCredentials = "invalid_credentials"
        case noDashboardAccess = "no_dashboard_access"
        case rateLimited = "rate_limited"
        case accountLocked = "account_locked"
        case unauthenticated
        case forbidden
        case dashboardSessionRequired = "dashboard_session_required"
        case invalidCode = "invalid_code"
        case codeExpired = "code_expired"
        case tooManyAttempts = "too_many_attempts"
        case challengeClosed = "challenge_closed"
        case challengeNotFound = "challenge_not_found"
        case resendLimitReached = "resend_limit_reached"
        case resendTooSoon = "resend_too_soon"
        case alreadyEnabled = "already_enabled"
        case alreadyDisabled = "already_disabled"
        case activationNotVerified = "activation_not_verified"
        case confirmationRequired = "confirmation_required"
        case notFound = "not_found"
        case duplicateEmail = "duplicate_email"
        case unknownCompany = "unknown_company"
        case invalidEmail = "invalid_email"
        case invalidName = "invalid_name"
        case reauthenticationRequired = "reauthentication_required"
        case passwordRejected = "password_rejected"
        case tokenInvalid = "token_invalid"
        case lastOwner = "last_owner"
        case userInactive = "user_inactive"
        case invalidURL = "invalid_url"
        case idempotencyKeyReused = "idempotency_key_reused"
        case idempotencyInProgress = "idempotency_in_progress"
        /// A request field the domain refuses (the HTTP layer refuses the ones it can see alone).
        case invalidRequest = "invalid_request"
        case methodLimitReached = "method_limit_reached"
        case lastRequiredMethod = "last_required_method"
        /// A passkey registration the ceremony's checks refused (`reason` says which).
        case passkeyRejected = "passkey_rejected"
        case passkeyAlreadyRegistered = "passkey_already_registered"
        /// A login's passkey assertion failed: it counts as a wrong code.
        case invalidPasskey = "invalid_passkey"
        /// The company requires passkeys, the user has none, and the one email login that
        /// leads to adding one was used.
        case passkeyRequired = "passkey_required"
        /// An enrollment-only session asked for anything but adding a passkey.
        case passkeyEnrollmentRequired = "passkey_enrollment_required"
        case busy
    }

    public let code: Code
    public let message: String
    public var retryAfter: Int?
    public var attemptsRemaining: Int?
    public var resendsRemaining: Int?
    /// The request field a refusal is about (`error.field`), for refused passwords.
    public var field: String?
    /// Why a passkey was refused (`error.reason`, ``PasskeyRejection/Reason``).
    public var reason: String?

    public init(
        _ code: Code,
        _ message: String,
        retryAfter: Int? = nil,
        attemptsRemaining: Int? = nil,
        resendsRemaining: Int? = nil,
        field: String? = nil
    ) {
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
        self.attemptsRemaining = attemptsRemaining
        self.resendsRemaining = resendsRemaining
        self.field = field
    }

    public var description: String { "\(code.rawValue): \(message)" }

    public static let invalidCredentials = DomainError(.invalidCredentials, "The email or password is not right.")
    public static let unauthenticated = DomainError(.unauthenticated, "A valid session token is required.")
    public static let forbidden = DomainError(.forbidden, "Your role does not allow this.")
    public static let noDashboardAccess = DomainError(.noDashboardAccess, "This account uses the phone app only.")
    public static let dashboardSessionRequired = DomainError(
        .dashboardSessionRequired,
        "This needs a dashboard session; phone-app sessions cannot use it."
    )
    public static let reauthenticationRequired = DomainError(.reauthenticationRequired, "Confirm this with your current password.")
    public static func accountLocked(retryAfter: Int) -> DomainError {
        DomainError(.accountLocked, "This account's dashboard login is locked; contact support.", retryAfter: retryAfter)
    }
    public static func rateLimited(retryAfter: Int) -> DomainError {
        DomainError(.rateLimited, "Too many attempts; try again later.", retryAfter: retryAfter)
    }
}
