import Crypto

/// Whether a ceremony needs the authenticator to verify the user (PIN, biometrics); the raw
/// values are WebAuthn's `userVerification` option, so the options a browser gets and the check
/// made here come from one value.
///
/// Only ``required`` makes the check refuse a response without UV. Tollgate's passkeys are a
/// second factor after the password (SPEC §13), so possession of the authenticator is the factor
/// and ``preferred`` is the intended policy: a security key without a PIN is a valid passkey.
public enum UserVerificationPolicy: String, Sendable, CaseIterable {
    case required
    case preferred
    case discouraged
}

/// A `PublicKeyCredential` in its Level 3 `toJSON()` form: binary members as unpadded
/// base64url, and the ceremony's `response`. Members not listed (`clientExtensionResults`, and
/// the registration's convenience `publicKey` and `authenticatorData`) are ignored: everything is
/// taken from what the signature covers.
public struct PublicKeyCredentialJSON<Response: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    public var id: String
    public var rawId: String
    public var type: String
    public var response: Response

    public init(id: String, rawId: String, type: String = "public-key", response: Response) {
        self.id = id
        self.rawId = rawId
        self.type = type
        self.response = response
    }
}

/// The response of `navigator.credentials.create()` (`AuthenticatorAttestationResponseJSON`).
public struct AttestationResponseJSON: Codable, Sendable, Equatable {
    public var clientDataJSON: String
    public var attestationObject: String
    public var transports: [String]?

    public init(clientDataJSON: String, attestationObject: String, transports: [String]? = nil) {
        self.clientDataJSON = clientDataJSON
        self.attestationObject = attestationObject
        self.transports = transports
    }
}

/// The response of `navigator.credentials.get()` (`AuthenticatorAssertionResponseJSON`).
public struct AssertionResponseJSON: Codable, Sendable, Equatable {
    public var clientDataJSON: String
    public var authenticatorData: String
    public var signature: String
    /// The user handle, for discoverable credentials; absent or null otherwise.
    public var userHandle: String?

    public init(clientDataJSON: String, authenticatorData: String, signature: String, userHandle: String? = nil) {
        self.clientDataJSON = clientDataJSON
        self.authenticatorData = authenticatorData
        self.signature = signature
        self.userHandle = userHandle
    }
}

/// The Level 3 `RegistrationResponseJSON`, after `navigator.credentials.create()`.
public typealias RegistrationResponseJSON = PublicKeyCredentialJSON<AttestationResponseJSON>
/// The Level 3 `AuthenticationResponseJSON`, after `navigator.credentials.get()`.
public typealias AuthenticationResponseJSON = PublicKeyCredentialJSON<AssertionResponseJSON>

/// A passkey a registration created, to be stored (credential IDs unique across the deployment).
public struct RegisteredPasskey: Sendable, Equatable {
    public let credentialID: [UInt8]
    public let publicKey: PasskeyPublicKey
    public let signCount: UInt32
    public let userVerified: Bool
    /// BE: the credential may be synced to other devices. It never changes for a credential.
    public let backupEligible: Bool
    /// BS: the credential is backed up now. It may change at each assertion.
    public let backupState: Bool
    public let aaguid: [UInt8]
    public let attestation: AttestationKind
    /// The transports the browser reported, as hints for later `allowCredentials`.
    public let transports: [String]
}

/// A passkey as stored, which an assertion is checked against.
public struct StoredPasskey: Sendable, Equatable {
    public var credentialID: [UInt8]
    public var publicKey: PasskeyPublicKey
    public var signCount: UInt32
    public var backupEligible: Bool
    /// The WebAuthn user handle given at registration; an assertion that carries a different one is refused.
    public var userHandle: [UInt8]?

    public init(credentialID: [UInt8], publicKey: PasskeyPublicKey, signCount: UInt32, backupEligible: Bool, userHandle: [UInt8]?) {
        self.credentialID = credentialID
        self.publicKey = publicKey
        self.signCount = signCount
        self.backupEligible = backupEligible
        self.userHandle = userHandle
    }
}

/// What a verified assertion changes on the stored passkey.
public struct VerifiedAssertion: Sendable, Equatable {
    public let signCount: UInt32
    public let userVerified: Bool
    public let backupState: Bool
}

/// A company's relying party, against which both ceremonies are checked (SPEC §13): its RP ID
/// (a host) and the origins its pages may run the ceremonies from. Pure: no database, no clock;
/// the caller supplies the challenge it issued and the stored passkey.
public struct RelyingParty: Sendable {
    public let id: String
    public let origins: Set<String>
    /// SHA-256 of the RP ID, which authenticator data must start with.
    public let idHash: [UInt8]

    public init(id: String, origins: Set<String>) {
        self.id = id
        self.origins = origins
        self.idHash = Array(SHA256.hash(data: Array(id.utf8)))
    }

    /// Verifies a registration (WebAuthn Level 3 §7.1) and returns the passkey to store.
    /// `algorithms` are those the creation options offered (`pubKeyCredParams`).
    public func verifyRegistration(
        _ response: RegistrationResponseJSON,
        challenge: [UInt8],
        userVerification: UserVerificationPolicy,
        algorithms: [COSEAlgorithm] = COSEAlgorithm.allCases
    ) throws(PasskeyRejection) -> RegisteredPasskey {
        let rawID = try Self.credentialID(id: response.id, rawId: response.rawId, type: response.type)
        let clientDataJSON = try Self.base64URL(response.response.clientDataJSON, "clientDataJSON")
        let attestationBytes = try Self.base64URL(response.response.attestationObject, "attestationObject")
        let transports = response.response.transports ?? []
        guard transports.count <= 8, transports.allSatisfy({ $0.utf8.count <= 32 }) else {
            throw PasskeyRejection(.malformedResponse, detail: "transports: more than 8, or one longer than 32 bytes")
        }
        try CollectedClientData.verify(clientDataJSON, type: .create, challenge: challenge, origins: origins)

        let attestation = try AttestationObject(attestationBytes)
        let authData = attestation.authenticatorData
        try checkFlags(authData, userVerification: userVerification)
        guard let credential = authData.attestedCredential else { throw PasskeyRejection(.missingCredentialData) }
        guard algorithms.contains(credential.publicKey.algorithm) else {
            throw PasskeyRejection(.unsupportedAlgorithm, detail: "COSE alg \(credential.publicKey.algorithm.rawValue) was not offered")
        }
        guard credential.credentialID == rawID else {
            throw PasskeyRejection(.credentialIDMismatch, detail: "rawId is not the authenticator data's credential ID")
        }
        let kind = try attestation.verifyStatement(clientDataHash: Array(SHA256.hash(data: clientDataJSON)))
        return RegisteredPasskey(
            credentialID: credential.credentialID,
            publicKey: credential.publicKey,
            signCount: authData.signCount,
            userVerified: authData.flags.contains(.userVerified),
            backupEligible: authData.flags.contains(.backupEligible),
            backupState: authData.flags.contains(.backupState),
            aaguid: credential.aaguid,
            attestation: kind,
            transports: transports
        )
    }

    /// Verifies an assertion by `credential` (WebAuthn Level 3 §7.2): the caller found the stored
    /// passkey by the response's `rawId` among the user's. A valid signature whose sign count
    /// did not grow is refused as ``PasskeyRejection/Reason/counterRegression``, which the caller
    /// records; two zero counts are accepted, as authenticators that keep no counter send zero.
    public func verifyAssertion(
        _ response: AuthenticationResponseJSON,
        challenge: [UInt8],
        userVerification: UserVerificationPolicy,
        credential: StoredPasskey
    ) throws(PasskeyRejection) -> VerifiedAssertion {
        let rawID = try Self.credentialID(id: response.id, rawId: response.rawId, type: response.type)
        let clientDataJSON = try Self.base64URL(response.response.clientDataJSON, "clientDataJSON")
        let authDataBytes = try Self.base64URL(response.response.authenticatorData, "authenticatorData")
        let signature = try Self.base64URL(response.response.signature, "signature")
        guard rawID == credential.credentialID else {
            throw PasskeyRejection(.credentialIDMismatch, detail: "rawId is not the stored credential's")
        }
        if let handle = response.response.userHandle, !handle.isEmpty, let owner = credential.userHandle {
            guard try Self.base64URL(handle, "userHandle") == owner else { throw PasskeyRejection(.userHandleMismatch) }
        }
        try CollectedClientData.verify(clientDataJSON, type: .get, challenge: challenge, origins: origins)

        let authData = try AuthenticatorData(authDataBytes)
        try checkFlags(authData, userVerification: userVerification)
        guard authData.flags.contains(.backupEligible) == credential.backupEligible else {
            throw PasskeyRejection(.backupEligibilityChanged, detail: "BE was \(credential.backupEligible) at registration")
        }
        let signed = authDataBytes + Array(SHA256.hash(data: clientDataJSON))
        guard credential.publicKey.isValidSignature(signature, for: signed) else { throw PasskeyRejection(.invalidSignature) }
        // WebAuthn Level 3 §7.2 step 22: a counter in use must grow; zero and zero is no counter.
        if credential.signCount > 0 || authData.signCount > 0 {
            guard authData.signCount > credential.signCount else {
                throw PasskeyRejection(
                    .counterRegression,
                    detail: "sign count \(authData.signCount), stored \(credential.signCount)",
                    receivedSignCount: authData.signCount
                )
            }
        }
        return VerifiedAssertion(
            signCount: authData.signCount,
            userVerified: authData.flags.contains(.userVerified),
            backupState: authData.flags.contains(.backupState)
        )
    }

    /// The checks both ceremonies make of authenticator data: the RP ID hash, UP, UV as the
    /// policy says, and BS only with BE.
    private func checkFlags(_ authData: AuthenticatorData, userVerification: UserVerificationPolicy) throws(PasskeyRejection) {
        guard authData.rpIDHash == idHash else { throw PasskeyRejection(.rpIDMismatch) }
        guard authData.flags.contains(.userPresent) else { throw PasskeyRejection(.userNotPresent) }
        if userVerification == .required && !authData.flags.contains(.userVerified) { throw PasskeyRejection(.userNotVerified) }
        if authData.flags.contains(.backupState) && !authData.flags.contains(.backupEligible) {
            throw PasskeyRejection(.invalidBackupFlags)
        }
    }

    /// The credential ID of a response: `type` must be "public-key" and `id` the same base64url as `rawId`.
    private static func credentialID(id: String, rawId: String, type: String) throws(PasskeyRejection) -> [UInt8] {
        guard type == "public-key" else { throw PasskeyRejection(.malformedResponse, detail: "type is not public-key") }
        guard id == rawId else { throw PasskeyRejection(.malformedResponse, detail: "id is not rawId") }
        return try base64URL(rawId, "rawId")
    }

    private static func base64URL(_ text: String, _ member: String) throws(PasskeyRejection) -> [UInt8] {
        guard let bytes = Base64URL.decode(text) else { throw PasskeyRejection(.malformedResponse, detail: "\(member) is not base64url") }
        return bytes
    }
}
