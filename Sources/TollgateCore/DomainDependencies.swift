public import Logging
public import PQ

/// What every service of the domain is built on, made once per process and shared by them: the
/// pool, the settings, the HMAC and the secret box under the settings' secrets, the password
/// hasher and the logger.
public struct DomainDependencies: Sendable {
    public let pool: PQPool
    public let settings: DomainSettings
    public let hasher: PasswordHasher
    public let logger: Logger
    let mac: SecretMAC
    /// Seals and opens the secrets of sign-in methods under keys derived from the same secrets.
    public let secretBox: MethodSecretBox

    public init(pool: PQPool, settings: DomainSettings, hasher: PasswordHasher, logger: Logger) {
        self.pool = pool
        self.settings = settings
        self.hasher = hasher
        self.logger = logger
        self.mac = SecretMAC(secrets: settings.secrets)
        self.secretBox = MethodSecretBox(secrets: settings.secrets)
    }
}

/// A service of the domain (``LoginService``, ``ChallengeService``, ``PasswordService``,
/// ``AdminService``, ``TwoFactorService``): its code reads the shared parts by name.
protocol DomainService {
    var dependencies: DomainDependencies { get }
}

extension DomainService {
    var pool: PQPool { dependencies.pool }
    var settings: DomainSettings { dependencies.settings }
    var hasher: PasswordHasher { dependencies.hasher }
    var mac: SecretMAC { dependencies.mac }
    var secretBox: MethodSecretBox { dependencies.secretBox }
    var logger: Logger { dependencies.logger }
}
