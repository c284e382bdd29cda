/// What a registration's attestation says about the authenticator. Neither is trusted: `none`
/// says nothing, and a self-attestation only shows the new key signed the registration, which
/// is all Tollgate asks (it never uses attestation to decide which authenticators may register).
public enum AttestationKind: String, Sendable {
    case none
    /// `packed` without a certificate (WebAuthn §8.2), checked with the credential's own key.
    case selfAttestation = "self"
}

/// An attestation object (WebAuthn §6.5.4): a CBOR map of `fmt`, `attStmt` and `authData`.
/// Other members are ignored, as a later format might add some.
///
/// Formats: `none` with an empty statement, and `packed` self-attestation. Every other format,
/// and `packed` with a certificate chain, is refused. Tollgate's creation options ask for
/// `attestation: "none"`, and then a conforming client sends exactly one of those two (WebAuthn
/// §5.1.3: it replaces anything but self-attestation with `none`), so another format means a
/// client that ignored the options; verifying it would need trust anchors Tollgate has no use for.
public struct AttestationObject: Sendable, Equatable {
    public let format: String
    public let statement: CBORMap
    public let authenticatorData: AuthenticatorData
    /// The authenticator data's bytes, which a `packed` signature covers.
    public let authenticatorDataBytes: [UInt8]

    public init(_ bytes: [UInt8]) throws(PasskeyRejection) {
        let value: CBORValue
        do {
            value = try CBOR.decode(bytes)
        } catch {
            throw PasskeyRejection(.malformedAttestationObject, detail: "\(error)")
        }
        guard let map = value.map, let format = map["fmt"]?.text, let statement = map["attStmt"]?.map,
            let authData = map["authData"]?.bytes
        else { throw PasskeyRejection(.malformedAttestationObject, detail: "needs text fmt, map attStmt and bytes authData") }
        self.format = format
        self.statement = statement
        self.authenticatorDataBytes = authData
        self.authenticatorData = try AuthenticatorData(authData)
    }

    /// Checks the statement against the credential it attests; `clientDataHash` is SHA-256 of
    /// `clientDataJSON`. Expects attested credential data (the caller checked AT).
    func verifyStatement(clientDataHash: [UInt8]) throws(PasskeyRejection) -> AttestationKind {
        switch format {
        case "none":
            guard statement.count == 0 else { throw PasskeyRejection(.invalidAttestationStatement, detail: "none with a statement") }
            return .none
        case "packed":
            guard let credential = authenticatorData.attestedCredential else { throw PasskeyRejection(.missingCredentialData) }
            guard statement["x5c"] == nil, statement["ecdaaKeyId"] == nil else {
                throw PasskeyRejection(.unsupportedAttestationFormat, detail: "packed with a certificate chain or ECDAA")
            }
            guard statement.count == 2, let algorithm = statement["alg"]?.int, let signature = statement["sig"]?.bytes else {
                throw PasskeyRejection(.invalidAttestationStatement, detail: "packed needs exactly alg and sig")
            }
            // WebAuthn §8.2: self-attestation's alg is the credential key's.
            guard algorithm == credential.publicKey.algorithm.rawValue else {
                throw PasskeyRejection(.invalidAttestationStatement, detail: "alg \(algorithm) is not the credential key's")
            }
            guard credential.publicKey.isValidSignature(signature, for: authenticatorDataBytes + clientDataHash) else {
                throw PasskeyRejection(.invalidAttestationStatement, detail: "the self-attestation signature does not verify")
            }
            return .selfAttestation
        default:
            throw PasskeyRejection(.unsupportedAttestationFormat, detail: "fmt \(format.prefix(40))")
        }
    }
}
