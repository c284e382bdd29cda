/// Why a passkey registration or assertion was refused. `reason`'s raw value is what the API
/// answers beside `passkey_rejected` (SPEC §13.1); `detail` says exactly what was wrong, for
/// logs. Neither carries anything secret: a ceremony's data is public keys, signatures and
/// hashes, and the challenge is never repeated back.
public struct PasskeyRejection: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable, CaseIterable {
        /// The JSON form: a field not base64url, `type` not "public-key", `id` not `rawId`.
        case malformedResponse = "malformed_response"
        /// `clientDataJSON` is not a JSON object with string `type`, `challenge` and `origin`.
        case malformedClientData = "malformed_client_data"
        /// The attestation object is not the CBOR map WebAuthn §6.5 describes.
        case malformedAttestationObject = "malformed_attestation_object"
        /// Authenticator data too short, with bytes left over, or extensions that are not a map.
        case malformedAuthenticatorData = "malformed_authenticator_data"
        /// `webauthn.get` where `webauthn.create` was expected, or the other way round.
        case wrongCeremonyType = "wrong_ceremony_type"
        case challengeMismatch = "challenge_mismatch"
        case originNotAllowed = "origin_not_allowed"
        /// `crossOrigin` is true: the ceremony ran in a frame of another site.
        case crossOrigin = "cross_origin"
        /// The authenticator data is for another relying party ID.
        case rpIDMismatch = "rp_id_mismatch"
        case userNotPresent = "user_not_present"
        /// The policy required user verification and the authenticator did not do it.
        case userNotVerified = "user_not_verified"
        /// BS (backed up) without BE (backup eligible), which WebAuthn §6.1.3 forbids.
        case invalidBackupFlags = "invalid_backup_flags"
        /// BE differs from the one recorded at registration (WebAuthn Level 3 §7.2).
        case backupEligibilityChanged = "backup_eligibility_changed"
        /// No attested credential data at registration.
        case missingCredentialData = "missing_credential_data"
        /// The credential ID is longer than 1023 bytes (WebAuthn Level 3 §7.1).
        case credentialIDTooLong = "credential_id_too_long"
        /// `rawId` is not the authenticator data's credential ID, or not the stored one.
        case credentialIDMismatch = "credential_id_mismatch"
        case unsupportedAlgorithm = "unsupported_algorithm"
        /// The COSE key is malformed, of the wrong type for its algorithm, not on its curve, too
        /// small (RSA) or carries a private part.
        case invalidPublicKey = "invalid_public_key"
        /// An attestation format other than `none` and `packed` self-attestation.
        case unsupportedAttestationFormat = "unsupported_attestation_format"
        /// `none` with a statement, or a `packed` self-attestation whose algorithm or signature is wrong.
        case invalidAttestationStatement = "invalid_attestation_statement"
        case invalidSignature = "invalid_signature"
        /// A valid signature whose sign count is not above the stored one: possibly a cloned
        /// authenticator. The caller records it (an event) before refusing.
        case counterRegression = "counter_regression"
        /// The assertion's user handle is not the credential owner's.
        case userHandleMismatch = "user_handle_mismatch"
        /// No registration was started by this session, or it expired or was used (the server's
        /// side of the ceremony, not the authenticator's).
        case noCeremony = "no_ceremony"

        /// What went wrong, in words for the person adding the passkey.
        public var explanation: String {
            switch self {
            case .noCeremony, .challengeMismatch: "the request was not started here or took too long; try again."
            case .originNotAllowed, .crossOrigin, .rpIDMismatch: "it was made for another site."
            case .userNotPresent, .userNotVerified: "the authenticator did not confirm you were there; try again."
            case .unsupportedAlgorithm, .invalidPublicKey, .unsupportedAttestationFormat, .invalidAttestationStatement:
                "this authenticator's kind of key is not supported; try another authenticator."
            default: "the browser's answer was not valid; try again."
            }
        }
    }

    public let reason: Reason
    public let detail: String?
    /// For ``Reason/counterRegression``: the sign count the authenticator sent.
    public let receivedSignCount: UInt32?

    public init(_ reason: Reason, detail: String? = nil, receivedSignCount: UInt32? = nil) {
        self.reason = reason
        self.detail = detail
        self.receivedSignCount = receivedSignCount
    }

    public var description: String { detail.map { "\(reason.rawValue): \($0)" } ?? reason.rawValue }
}
