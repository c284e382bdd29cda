public import Foundation

/// The rules of SPEC §2 for codes and challenges.
public struct CodePolicy: Sendable, Equatable {
    /// How long a code is valid (`CODE_TTL`).
    public var ttl: Int = 600
    /// New codes a challenge may ask for after its first (`CODE_MAX_RESENDS`).
    public var maxResends: Int = 3
    /// Wrong entries one code accepts before it is burned (`CODE_MAX_ATTEMPTS`).
    public var maxAttempts: Int = 5
    /// Seconds between two sends of one challenge (`RESEND_COOLDOWN`).
    public var resendCooldown: Int = 30
    /// How long a verified activation may be used to enable 2FA.
    public var activationUseWindow: Int = 600

    public init() {}
}

/// The abuse limits of SPEC §5.
public struct AbuseLimits: Sendable, Equatable {
    /// Failed passwords per account per 15 minutes (`LIMIT_FAILED_PASSWORDS`).
    public var failedPasswords: Int = 10
    public var failedPasswordsWindow: Int = 900
    /// Logins per client IP per minute (`LIMIT_LOGINS_PER_IP`).
    public var loginsPerIP: Int = 60
    public var loginsPerIPWindow: Int = 60
    /// Challenges started per account per hour (`LIMIT_CHALLENGES_PER_ACCOUNT`).
    public var challengesPerAccount: Int = 10
    public var challengesPerAccountWindow: Int = 3600
    /// Wrong codes per account per hour (`LIMIT_WRONG_CODES_PER_ACCOUNT`).
    public var wrongCodesPerAccount: Int = 20
    public var wrongCodesPerAccountWindow: Int = 3600
    /// Requests per API key per minute on the provisioning API (`LIMIT_ADMIN_REQUESTS_PER_KEY`).
    public var adminRequestsPerKey: Int = 600
    /// Consecutive wrong codes that lock an account's dashboard login, and for how long.
    public var consecutiveWrongCodesLock: Int = 100
    public var lockDuration: Int = 86_400

    /// The longest counting window: a counter older than this counts nothing any more.
    public var longestWindow: Int {
        max(failedPasswordsWindow, loginsPerIPWindow, challengesPerAccountWindow, wrongCodesPerAccountWindow)
    }

    public init() {}
}

/// What the domain's services take from the configuration, and nothing more: the rules of
/// codes and limits, the secrets, how long sessions and links live, and where links point.
/// The listener, TLS, mail transport, database and worker settings stay with the programs
/// that use them (``TollgateConfiguration``).
public struct DomainSettings: Sendable {
    public var codes: CodePolicy
    public var limits: AbuseLimits
    /// HMAC keys, newest first (`TOLLGATE_SECRET`).
    public var secrets: [[UInt8]]
    public var sessionTTLDashboard: Int
    public var sessionTTLPhoneApp: Int
    public var passwordResetTTL: Int
    public var invitationTTL: Int
    /// Where links in emails point when the company has no dashboard URL of its own.
    public var defaultLinkBase: String

    /// The base of links in emails: the company's own dashboard, else the default.
    public func linkBase(for company: Company) -> String {
        company.dashboardURL ?? defaultLinkBase
    }
}

extension TollgateConfiguration {
    /// The part of the configuration the domain's services use.
    public var domain: DomainSettings {
        DomainSettings(
            codes: codes,
            limits: limits,
            secrets: secrets,
            sessionTTLDashboard: sessionTTLDashboard,
            sessionTTLPhoneApp: sessionTTLPhoneApp,
            passwordResetTTL: passwordResetTTL,
            invitationTTL: invitationTTL,
            defaultLinkBase: publicURL ?? "http://\(host):\(port)"
        )
    }
}
