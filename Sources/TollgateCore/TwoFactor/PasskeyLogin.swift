public import Foundation
import Logging
import PQ

/// What a user answered a login's second step with (SPEC §13): the emailed code, an
/// authenticator app's code, or a passkey's assertion. All three count against the same attempts.
enum FactorEntry: Sendable {
    case emailCode(String)
    case appCode(String)
    case passkey(AuthenticationResponseJSON)

    var factor: SecondFactor {
        switch self {
        case .emailCode: .email
        case .appCode: .totp
        case .passkey: .passkey
        }
    }
}

/// What a login's passkey step hands the browser for `navigator.credentials.get()` (WebAuthn
/// `PublicKeyCredentialRequestOptions`): a fresh challenge, the relying party and the user's
/// passkeys.
public struct PasskeyRequestOptions: Sendable {
    public let challenge: [UInt8]
    public let rpID: String
    public let credentialIDs: [[UInt8]]
    public let transports: [[String]]
    /// Milliseconds the browser should wait for the user.
    public static let timeout = 300_000
}

/// A passkey whose assertion verified: what its use changes in its row.
struct MatchingPasskey: Sendable {
    let methodID: UUID
    let assertion: VerifiedAssertion
}

/// The passkey step of a dashboard login (SPEC §13.1): options for the browser, then the
/// assertion, checked as one more kind of entry by ``ChallengeService``'s verify.
extension ChallengeService {
    /// Users are asked to verify themselves (PIN, biometrics) when the authenticator can; one
    /// that cannot still proves possession, which is what a second factor is.
    static let userVerification = UserVerificationPolicy.preferred

    /// Starts the passkey step of a pending login that offers passkeys: a new WebAuthn
    /// challenge, whose seed is stored on the login's row (replacing any earlier one) and ends
    /// with it (``SecretMAC/webAuthnChallenge(seed:)``: the row never holds the challenge).
    public func passkeyOptions(token: String) async throws -> PasskeyRequestOptions {
        let (companyID, locator) = try loginLocator(token)
        let (settings, mac) = (self.settings, self.mac)
        return try await pool.commitThen(in: companyID) { tx -> CommitThen<PasskeyRequestOptions> in
            guard let located = try ChallengeStore.locate(locator, withCompany: true, in: tx), let company = located.company else {
                return .refuse(.challengeNotFound)
            }
            let (record, user) = (located.record, located.user)
            if closedForAccount(record.challenge, user: user, clientInfo: nil, in: tx) { return .refuse(.challengeClosed) }
            var challenge = record.challenge
            if case .close(let reason) = challenge.expire(at: record.databaseNow) {
                ChallengeEvent.close(challenge, reason: reason, user: user, clientInfo: nil, in: tx)
                return .refuse(.challengeClosed)
            }
            guard challenge.state == .pending else { return .refuse(.challengeClosed) }
            guard challenge.methods.contains(.passkey) else { return .refuse(.passkeyNotOffered) }
            let seed = Data(SecureRandom.bytes(32))
            let passkeys = try tx.query(
                "challenge.passkey_options",
                """
                WITH issued AS (
                    UPDATE challenges SET passkey_challenge = \(seed)
                    WHERE company_id = app_company() AND id = \(challenge.id) AND state = 'pending'
                )
                SELECT credential_id, coalesce(transports, '{}') AS transports FROM user_methods
                WHERE company_id = app_company() AND user_id = \(user.id) AND kind = 'passkey'
                ORDER BY created_at, id
                """
            )
            return .answer(
                PasskeyRequestOptions(
                    challenge: mac.webAuthnChallenge(seed: seed),
                    rpID: settings.relyingParty(for: company).id,
                    credentialIDs: try passkeys.map { Array(try $0.decode("credential_id", as: Data.self)) },
                    transports: try passkeys.map { try $0.decode("transports", as: [String].self) }
                )
            )
        }
    }

    /// Checks a passkey's assertion at a login: the right one, once, yields a 2FA-verified
    /// dashboard session (and a remembered browser, as with codes); a failed one is 401
    /// `invalid_passkey` and counts as a wrong code.
    public func verifyPasskeyLogin(
        token: String,
        credential: AuthenticationResponseJSON,
        rememberBrowser: Bool = false,
        clientInfo: ClientInfo
    ) async throws -> LoginSuccess {
        try await verifyLogin(token: token, entry: .passkey(credential), rememberBrowser: rememberBrowser, clientInfo: clientInfo)
    }

    /// The user's passkey that made `response`, verified against the WebAuthn challenge the
    /// login issued and the company's relying party; nil when anything is wrong. A valid
    /// signature with a counter that did not grow (a cloned authenticator?) is recorded.
    func matchingPasskey(
        _ response: AuthenticationResponseJSON,
        _ located: LocatedChallenge,
        clientInfo: ClientInfo,
        in tx: PQTransaction
    ) throws -> MatchingPasskey? {
        guard let company = located.company, let credentialID = Base64URL.decode(response.rawId) else { return nil }
        let user = located.user
        let rows = try tx.query(
            "challenge.passkey",
            """
            SELECT ch.passkey_challenge, m.id AS method_id, m.public_key, m.sign_count, m.backup_eligible
            FROM challenges ch
            LEFT JOIN user_methods m ON m.company_id = ch.company_id AND m.user_id = ch.user_id AND m.kind = 'passkey'
                AND m.credential_id = \(Data(credentialID))
            WHERE ch.company_id = app_company() AND ch.id = \(located.record.challenge.id)
            """
        )
        guard let row = rows.first, let seed = try row.decode("passkey_challenge", as: Data?.self),
            let methodID = try row.decode("method_id", as: UUID?.self)
        else { return nil }
        let stored: StoredPasskey
        do {
            stored = StoredPasskey(
                credentialID: credentialID,
                publicKey: try PasskeyPublicKey(coseKey: Array(try row.decode("public_key", as: Data.self))),
                signCount: UInt32(clamping: try row.decode("sign_count", as: Int64.self)),
                backupEligible: try row.decode("backup_eligible"),
                userHandle: PasskeyUserHandle.of(user.id)
            )
        } catch {
            logger.error("passkey.stored_key_unreadable", metadata: ["method.id": "\(methodID)"])
            return nil
        }
        let rp = settings.relyingParty(for: company)
        do {
            let assertion = try withIssuedChallenge(mac.webAuthnChallenges(seed: seed)) { challenge throws(PasskeyRejection) in
                try rp.verifyAssertion(response, challenge: challenge, userVerification: Self.userVerification, credential: stored)
            }
            return MatchingPasskey(methodID: methodID, assertion: assertion)
        } catch let rejection {
            if rejection.reason == .counterRegression {
                Event(
                    companyID: user.companyID,
                    type: .passkeyCounterRegression,
                    userID: user.id,
                    email: user.email,
                    client: clientInfo,
                    detail: [
                        "method_id": .string(methodID.lowercasedString), "stored_sign_count": .int(Int(stored.signCount)),
                        "received_sign_count": .int(Int(rejection.receivedSignCount ?? 0)),
                        "challenge_id": .string(located.record.challenge.id.lowercasedString),
                    ]
                ).record(in: tx)
            }
            logger.info("passkey.assertion_refused", metadata: ["reason": "\(rejection.reason.rawValue)"])
            return nil
        }
    }
}

/// Runs a ceremony against each challenge a seed stands for (the newest secret's first), so a
/// rotation of `TOLLGATE_SECRET` during a ceremony does not void it; a challenge mismatch with
/// every one is the refusal.
func withIssuedChallenge<T>(
    _ candidates: [[UInt8]],
    _ ceremony: ([UInt8]) throws(PasskeyRejection) -> T
) throws(PasskeyRejection) -> T {
    var refusal = PasskeyRejection(.challengeMismatch)
    for challenge in candidates {
        do {
            return try ceremony(challenge)
        } catch {
            guard error.reason == .challengeMismatch else { throw error }
            refusal = error
        }
    }
    throw refusal
}

/// The WebAuthn user handle of a user's passkeys: the user's id, 16 bytes. It names the
/// account to the authenticator and carries nothing personal.
enum PasskeyUserHandle {
    static func of(_ userID: UUID) -> [UInt8] {
        withUnsafeBytes(of: userID.uuid) { Array($0) }
    }
}

extension ChallengeStore {
    /// The login's WebAuthn challenge is used up by the assertion that read it, whatever came of it.
    static func spendPasskeyChallenge(_ challengeID: UUID, in tx: PQTransaction) {
        tx.queue(
            "challenge.spend_passkey_challenge",
            "UPDATE challenges SET passkey_challenge = NULL WHERE company_id = app_company() AND id = \(challengeID)"
        )
    }

    /// A passkey signed the login: its counter, backup state and last use.
    static func usePasskey(_ passkey: MatchingPasskey, in tx: PQTransaction) {
        tx.queue(
            "method.passkey_used",
            """
            UPDATE user_methods SET last_used_at = now(), sign_count = \(Int64(passkey.assertion.signCount)),
                backup_state = \(passkey.assertion.backupState)
            WHERE company_id = app_company() AND id = \(passkey.methodID)
            """
        )
    }
}

extension DomainError {
    static func invalidPasskey(attemptsRemaining: Int, resendsRemaining: Int?) -> DomainError {
        DomainError(
            .invalidPasskey,
            "That passkey could not be verified; try again or use another method.",
            attemptsRemaining: attemptsRemaining,
            resendsRemaining: resendsRemaining
        )
    }
    static let passkeyNotOffered = DomainError(.invalidRequest, "This login does not offer passkeys.")
}
