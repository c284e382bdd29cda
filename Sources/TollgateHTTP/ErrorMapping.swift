import Hummingbird
import TollgateCore

extension APIError {
    /// The one mapping from domain refusals to HTTP (SPEC §4).
    init(_ error: DomainError) {
        let status: HTTPResponse.Status
        switch error.code {
        case .invalidCredentials, .unauthenticated, .invalidCode, .codeExpired, .tooManyAttempts, .invalidPasskey: status = .unauthorized
        case .noDashboardAccess, .accountLocked, .forbidden, .dashboardSessionRequired, .reauthenticationRequired, .passkeyRequired,
            .passkeyEnrollmentRequired:
            status = .forbidden
        case .rateLimited, .resendTooSoon: status = .tooManyRequests
        case .challengeClosed, .tokenInvalid: status = .gone
        case .challengeNotFound, .notFound, .unknownCompany: status = .notFound
        case .resendLimitReached, .alreadyEnabled, .alreadyDisabled, .activationNotVerified, .duplicateEmail, .lastOwner, .userInactive,
            .idempotencyInProgress, .methodLimitReached, .lastRequiredMethod, .passkeyAlreadyRegistered:
            status = .conflict
        case .idempotencyKeyReused: status = .unprocessableContent
        case .confirmationRequired, .invalidEmail, .invalidName, .passwordRejected, .invalidURL, .invalidRequest, .passkeyRejected:
            status = .badRequest
        case .busy: status = .serviceUnavailable
        }
        var extra: [String: ExtraValue] = [:]
        if let value = error.attemptsRemaining { extra["attempts_remaining"] = .int(value) }
        if let value = error.resendsRemaining { extra["resends_remaining"] = .int(value) }
        if let value = error.field { extra["field"] = .string(value) }
        if let value = error.reason { extra["reason"] = .string(value) }
        self.init(status, error.code.rawValue, error.message, extra: extra, retryAfter: error.retryAfter)
    }
}
