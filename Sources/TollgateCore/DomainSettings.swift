import Foundation

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
    /// How long a challenge lives from its start, whatever its codes (`CHALLENGE_LIFETIME`):
    /// after it no code is issued or accepted (SPEC §2).
    public var lifetime: Int = 3600
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
/// The listener, TLS, mail transport, database and worker settings have types of their own in
/// the modules that use them; the `tollgate` executable composes them all.
public struct DomainSettings: Sendable {
    public var codes = CodePolicy()
    public var limits = AbuseLimits()
    /// HMAC keys, newest first: the first signs, all verify (`TOLLGATE_SECRET`, rotation).
    public var secrets: [[UInt8]] = []
    public var sessionTTLDashboard: Int = 43_200
    public var sessionTTLPhoneApp: Int = 2_592_000
    /// How long a reset link works (`PASSWORD_RESET_TTL`, SPEC §10), and an invitation's.
    public var passwordResetTTL: Int = 1800
    public var invitationTTL: Int = 604_800
    /// Where links in emails point when the company has no dashboard URL of its own:
    /// `PUBLIC_URL`, else the server's own address.
    public var defaultLinkBase: String = "http://127.0.0.1:8080"
    /// `WEBAUTHN_RP_ID`: the relying party of every company's passkeys, instead of the host of
    /// its dashboard (SPEC §13). Nil: each company's own (``relyingParty(for:)``).
    public var webAuthnRPID: String?

    public init() {}

    /// Reads the domain's variables. `requireSecret` is false only for `tollgate dev`, which
    /// makes its own; `serverURL` (`http://HOST:PORT`, right for `dev` only) is where links
    /// point without `PUBLIC_URL`.
    public init(environment reader: EnvironmentReader, requireSecret: Bool = true, serverURL: String) throws {
        if let secretList = reader.string("TOLLGATE_SECRET") {
            secrets = try secretList.split(separator: ",").map { part in
                let secret = part.trimmingCharacters(in: .whitespaces)
                guard secret.utf8.count >= 32 else {
                    throw ConfigurationError(variable: "TOLLGATE_SECRET", problem: "each secret must be at least 32 characters")
                }
                return Array(secret.utf8)
            }
        } else if requireSecret {
            throw ConfigurationError(variable: "TOLLGATE_SECRET", problem: "is required (at least 32 random characters)")
        }
        codes.ttl = try reader.integer("CODE_TTL", default: codes.ttl, range: 10...86_400)
        codes.maxResends = try reader.integer("CODE_MAX_RESENDS", default: codes.maxResends, range: 0...100)
        codes.maxAttempts = try reader.integer("CODE_MAX_ATTEMPTS", default: codes.maxAttempts, range: 1...100)
        codes.resendCooldown = try reader.integer("RESEND_COOLDOWN", default: codes.resendCooldown, range: 0...3600)
        codes.lifetime = try reader.integer("CHALLENGE_LIFETIME", default: codes.lifetime, range: 60...86_400)
        sessionTTLDashboard = try reader.integer("SESSION_TTL_DASHBOARD", default: sessionTTLDashboard, range: 60...31_536_000)
        sessionTTLPhoneApp = try reader.integer("SESSION_TTL_PHONE_APP", default: sessionTTLPhoneApp, range: 60...31_536_000)
        limits.failedPasswords = try reader.integer("LIMIT_FAILED_PASSWORDS", default: limits.failedPasswords, range: 1...100_000)
        limits.loginsPerIP = try reader.integer("LIMIT_LOGINS_PER_IP", default: limits.loginsPerIP, range: 1...1_000_000)
        limits.challengesPerAccount = try reader.integer("LIMIT_CHALLENGES_PER_ACCOUNT", default: limits.challengesPerAccount, range: 1...100_000)
        limits.wrongCodesPerAccount = try reader.integer("LIMIT_WRONG_CODES_PER_ACCOUNT", default: limits.wrongCodesPerAccount, range: 1...100_000)
        limits.adminRequestsPerKey = try reader.integer("LIMIT_ADMIN_REQUESTS_PER_KEY", default: limits.adminRequestsPerKey, range: 1...1_000_000)
        let publicURL = try reader.webAddress(
            "PUBLIC_URL",
            problem: "is where users reach the dashboard, scheme://host[:port][/path], without a trailing /",
            allowed: { $0 != "\"" && $0 != "<" && $0 != ">" }
        )
        defaultLinkBase = publicURL ?? serverURL
        passwordResetTTL = try reader.integer("PASSWORD_RESET_TTL", default: passwordResetTTL, range: 60...86_400)
        if let rpID = reader.string("WEBAUTHN_RP_ID") {
            guard WebOrigin.isHostName(rpID) else {
                throw ConfigurationError(variable: "WEBAUTHN_RP_ID", problem: "is a host name such as example.com (no scheme, port or path)")
            }
            webAuthnRPID = rpID.lowercased()
        }
    }

    /// The base of links in emails: the company's own dashboard, else the default.
    public func linkBase(for company: Company) -> String {
        company.dashboardURL ?? defaultLinkBase
    }
}
