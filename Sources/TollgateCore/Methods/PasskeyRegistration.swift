public import Foundation
import PQ

/// What `navigator.credentials.create()` needs to make a passkey for this user (WebAuthn
/// `PublicKeyCredentialCreationOptions`; TollgateHTTP gives it its JSON shape).
public struct PasskeyCreationOptions: Sendable {
    public let challenge: [UInt8]
    public let rpID: String
    /// The company's name: what the browser shows as the site the passkey is for.
    public let rpName: String
    public let userHandle: [UInt8]
    public let userName: String
    /// The user's passkeys, so an authenticator that holds one already says so.
    public let excludeCredentialIDs: [[UInt8]]
    public static let algorithms = COSEAlgorithm.allCases
    /// Milliseconds, and the seconds a started registration stays valid.
    public static let timeout = 300_000
}

/// Adding a passkey (SPEC §13, §13.1): options, then the browser's answer, verified and stored.
///
/// The options need a recent second factor or the password, as every change of methods does;
/// they start a registration bound to the session (one at a time, single use, 5 minutes), so
/// the answer that completes it needs nothing more. Both steps take the user's row lock, so the
/// limit of 10 holds however many requests race.
extension MethodService {
    /// Passkeys a user may have (SPEC §13).
    public static let maxPasskeys = 10

    public func passkeyOptions(_ principal: Principal, password: String?) async throws -> PasskeyCreationOptions {
        let user = principal.user
        let sessionID = principal.session.id
        let passwordChecked = try await checkPassword(user, password)
        // Only the seed is stored; the challenge is derived from it (SecretMAC).
        let seed = Data(SecureRandom.bytes(32))
        let rp = settings.relyingParty(for: principal.company)
        let existing = try await pool.withTenant(user.companyID) { tx -> [[UInt8]] in
            try Self.lockUser(user.id, in: tx)
            if !passwordChecked { try Self.requireRecentSecondFactor(sessionID: sessionID, in: tx) }
            let passkeys = try tx.query(
                "passkeys.existing",
                """
                WITH started AS (
                    INSERT INTO passkey_registrations (company_id, session_id, user_id, challenge, expires_at)
                    VALUES (app_company(), \(sessionID), \(user.id), \(seed),
                            clock_timestamp() + make_interval(secs => \(PasskeyCreationOptions.timeout / 1000)))
                    ON CONFLICT (company_id, session_id) DO UPDATE SET challenge = excluded.challenge, expires_at = excluded.expires_at
                )
                SELECT credential_id FROM user_methods
                WHERE company_id = app_company() AND user_id = \(user.id) AND kind = 'passkey'
                ORDER BY created_at, id
                """
            )
            guard passkeys.count < Self.maxPasskeys else { throw DomainError.passkeyLimitReached }
            return try passkeys.map { Array(try $0.decode("credential_id", as: Data.self)) }
        }
        return PasskeyCreationOptions(
            challenge: mac.webAuthnChallenge(seed: seed),
            rpID: rp.id,
            rpName: OTPAuthURI.issuer(principal.company.name),
            userHandle: PasskeyUserHandle.of(user.id),
            userName: user.email,
            excludeCredentialIDs: existing
        )
    }

    /// Completes the session's registration with the browser's answer: verified against the
    /// challenge it was given and the company's relying party, stored as a method named
    /// `name` (event, notice). A refused answer is 400 `passkey_rejected` with its reason and
    /// recorded; either way the registration is used up.
    public func registerPasskey(
        _ principal: Principal,
        name: String,
        credential: RegistrationResponseJSON,
        clientInfo: ClientInfo
    ) async throws -> SignInMethod {
        let (user, company) = (principal.user, principal.company)
        let name = try Self.checkedName(name)
        let sessionID = principal.session.id
        let rp = settings.relyingParty(for: company)
        return try await pool.commitThen(in: user.companyID) { tx -> CommitThen<SignInMethod> in
            try Self.lockUser(user.id, in: tx)
            let started = try tx.query(
                "passkeys.registration",
                """
                WITH used AS (
                    DELETE FROM passkey_registrations WHERE company_id = app_company() AND session_id = \(sessionID)
                    RETURNING challenge, expires_at
                )
                SELECT used.challenge, used.expires_at > clock_timestamp() AS live,
                    (SELECT count(*) FROM user_methods WHERE company_id = app_company() AND user_id = \(user.id) AND kind = 'passkey') AS passkeys
                FROM used
                """
            ).first
            guard let started, try started.decode("live", as: Bool.self) else {
                return .refuse(.passkeyRejected(PasskeyRejection(.noCeremony)))
            }
            guard try started.decode("passkeys", as: Int.self) < Self.maxPasskeys else { return .refuse(.passkeyLimitReached) }
            let candidates = mac.webAuthnChallenges(seed: try started.decode("challenge", as: Data.self))
            let passkey: RegisteredPasskey
            do throws(PasskeyRejection) {
                passkey = try withIssuedChallenge(candidates) { challenge throws(PasskeyRejection) in
                    try rp.verifyRegistration(credential, challenge: challenge, userVerification: ChallengeService.userVerification)
                }
            } catch let rejection {
                Event(
                    companyID: user.companyID,
                    type: .passkeyRejected,
                    userID: user.id,
                    email: user.email,
                    client: clientInfo,
                    detail: ["reason": .string(rejection.reason.rawValue), "name": .string(name)]
                ).record(in: tx)
                return .refuse(.passkeyRejected(rejection))
            }
            // A credential ID names one account in the whole deployment: one known anywhere
            // (another company's rows are invisible here, the unique index is not) is refused.
            let inserted = try tx.query(
                "passkeys.insert",
                """
                INSERT INTO user_methods (company_id, user_id, kind, name, confirmed_at, credential_id, public_key, sign_count,
                                          backup_eligible, backup_state, transports)
                VALUES (app_company(), \(user.id), 'passkey', \(name), clock_timestamp(), \(Data(passkey.credentialID)),
                        \(Data(passkey.publicKey.coseKey)), \(Int64(passkey.signCount)), \(passkey.backupEligible),
                        \(passkey.backupState), string_to_array(nullif(\(Self.transportList(passkey.transports)), ''), ','))
                ON CONFLICT (credential_id) DO NOTHING
                RETURNING id, kind, name, confirmed_at AS created_at, last_used_at
                """
            )
            guard let row = inserted.first else { return .refuse(.passkeyAlreadyRegistered) }
            let method = try Self.method(row)
            Event(
                companyID: user.companyID,
                type: .methodAdded,
                userID: user.id,
                email: user.email,
                client: clientInfo,
                detail: [
                    "kind": .string("passkey"), "method_id": .string(method.id), "name": .string(method.name),
                    "backup_eligible": .bool(passkey.backupEligible), "algorithm": .int(passkey.publicKey.algorithm.rawValue),
                ]
            ).record(in: tx)
            Self.notice(.methodAdded, method: method, user: user, company: company, at: method.createdAt, clientInfo: clientInfo, in: tx)
            return .answer(method)
        }
    }
}

extension MethodService {
    /// The transports a browser reported, kept as hints for later logins: the plain tokens
    /// WebAuthn names (`usb`, `nfc`, `ble`, `internal`, `hybrid`, `smart-card`, …), comma-separated.
    static func transportList(_ transports: [String]) -> String {
        transports.filter { $0.allSatisfy { ("a"..."z").contains($0) || $0 == "-" } }.joined(separator: ",")
    }
}

extension DomainError {
    public static let passkeyLimitReached = DomainError(
        .methodLimitReached,
        "You have \(MethodService.maxPasskeys) passkeys already; remove one before adding another."
    )
    public static let passkeyAlreadyRegistered = DomainError(
        .passkeyAlreadyRegistered,
        "This passkey is registered already; use it to log in, or add another."
    )
    static func passkeyRejected(_ rejection: PasskeyRejection) -> DomainError {
        var error = DomainError(.passkeyRejected, "The passkey could not be added: \(rejection.reason.explanation)")
        error.reason = rejection.reason.rawValue
        return error
    }
}
