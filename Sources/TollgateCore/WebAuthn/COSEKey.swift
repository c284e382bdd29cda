import Crypto
import Foundation
import _CryptoExtras

/// The signature algorithms passkeys may use, by their COSE numbers (IANA "COSE Algorithms"):
/// ES256 and EdDSA as SPEC §13 requires, and RS256, which swift-crypto's `_CryptoExtras` verifies
/// (PKCS #1 v1.5 with SHA-256, as Windows Hello keys sign).
public enum COSEAlgorithm: Int, Sendable, CaseIterable {
    case es256 = -7
    case edDSA = -8
    case rs256 = -257
}

/// A passkey's public key as it is stored: the COSE_Key bytes the authenticator sent, unchanged,
/// and their algorithm. A value exists only for a key that parsed and that swift-crypto accepted,
/// so one read back from the database is checked again by ``init(coseKey:)``.
public struct PasskeyPublicKey: Sendable, Hashable {
    public let algorithm: COSEAlgorithm
    /// The encoded COSE_Key (RFC 9052 §7), exactly as in the attested credential data.
    public let coseKey: [UInt8]
    private let material: Material

    /// What swift-crypto builds the key from; derived from `coseKey`, so equal keys have equal material.
    private enum Material: Sendable, Hashable {
        /// The uncompressed point, 0x04 ‖ x ‖ y (SEC 1 §2.3.3).
        case p256(x963: [UInt8])
        case ed25519(raw: [UInt8])
        case rsa(modulus: [UInt8], exponent: [UInt8])
    }

    /// COSE key parameters (RFC 9053 §7, RFC 8230 §4): the common labels and the key types' own.
    private enum Label {
        static let keyType = 1
        static let algorithm = 3
        static let curve = -1
        static let x = -2
        static let y = -3
        static let ellipticPrivate = -4
        static let rsaModulus = -1
        static let rsaExponent = -2
        static let rsaPrivate = -3
    }

    /// The smallest RSA modulus accepted, in bits (NIST SP 800-131A: 2048 and up).
    static let minimumRSABits = 2048

    /// Parses stored bytes again: the same checks as at registration.
    public init(coseKey: [UInt8]) throws(PasskeyRejection) {
        let value: CBORValue
        do {
            value = try CBOR.decode(coseKey)
        } catch {
            throw PasskeyRejection(.invalidPublicKey, detail: "COSE key: \(error)")
        }
        try self.init(value, encoded: coseKey)
    }

    /// A key from its decoded map and the bytes it was decoded from.
    init(_ value: CBORValue, encoded: [UInt8]) throws(PasskeyRejection) {
        guard let map = value.map else { throw PasskeyRejection(.invalidPublicKey, detail: "COSE key: not a map") }
        guard let number = map[Label.algorithm]?.int else { throw PasskeyRejection(.invalidPublicKey, detail: "COSE key: no alg") }
        guard let algorithm = COSEAlgorithm(rawValue: number) else {
            throw PasskeyRejection(.unsupportedAlgorithm, detail: "COSE alg \(number)")
        }
        let keyType = map[Label.keyType]?.int
        func bytes(_ label: Int, count: Int? = nil) throws(PasskeyRejection) -> [UInt8] {
            guard let bytes = map[label]?.bytes, count.map({ $0 == bytes.count }) ?? !bytes.isEmpty else {
                throw PasskeyRejection(.invalidPublicKey, detail: "COSE key: parameter \(label) missing or of the wrong size")
            }
            return bytes
        }
        // A private part in a public key means the authenticator leaked it or the data is forged.
        func refusePrivate(_ label: Int) throws(PasskeyRejection) {
            if map[label] != nil { throw PasskeyRejection(.invalidPublicKey, detail: "COSE key: carries a private key") }
        }

        let material: Material
        switch algorithm {
        case .es256:
            // EC2 (2) on P-256 (1), y as coordinates (a compressed y is a bool in COSE: refused).
            guard keyType == 2, map[Label.curve]?.int == 1 else {
                throw PasskeyRejection(.invalidPublicKey, detail: "COSE key: ES256 needs kty EC2 and crv P-256")
            }
            try refusePrivate(Label.ellipticPrivate)
            let point = [0x04] + (try bytes(Label.x, count: 32)) + (try bytes(Label.y, count: 32))
            // swift-crypto checks the point is on the curve.
            guard (try? P256.Signing.PublicKey(x963Representation: point)) != nil else {
                throw PasskeyRejection(.invalidPublicKey, detail: "COSE key: not a point of P-256")
            }
            material = .p256(x963: point)
        case .edDSA:
            // OKP (1) on Ed25519 (6); EdDSA over Ed448 is not offered.
            guard keyType == 1, map[Label.curve]?.int == 6 else {
                throw PasskeyRejection(.invalidPublicKey, detail: "COSE key: EdDSA needs kty OKP and crv Ed25519")
            }
            try refusePrivate(Label.ellipticPrivate)
            let raw = try bytes(Label.x, count: 32)
            guard (try? Curve25519.Signing.PublicKey(rawRepresentation: raw)) != nil else {
                throw PasskeyRejection(.invalidPublicKey, detail: "COSE key: not an Ed25519 key")
            }
            material = .ed25519(raw: raw)
        case .rs256:
            guard keyType == 3 else { throw PasskeyRejection(.invalidPublicKey, detail: "COSE key: RS256 needs kty RSA") }
            try refusePrivate(Label.rsaPrivate)
            let modulus = try bytes(Label.rsaModulus)
            let exponent = try bytes(Label.rsaExponent)
            // BoringSSL checks the exponent and the modulus' upper bound; the lower bound is ours,
            // since building a key from its parameters does not check it.
            guard let key = try? _RSA.Signing.PublicKey(n: modulus, e: exponent), key.keySizeInBits >= Self.minimumRSABits else {
                throw PasskeyRejection(.invalidPublicKey, detail: "COSE key: not an RSA key of 2048 bits or more")
            }
            material = .rsa(modulus: modulus, exponent: exponent)
        }
        self.algorithm = algorithm
        self.coseKey = encoded
        self.material = material
    }

    /// Whether `signature` is this key's over `data`, by the key's algorithm: ES256 signatures are
    /// DER-encoded ECDSA-Sig-Value (WebAuthn §6.5.5), EdDSA's the 64 raw bytes, RS256's the raw
    /// PKCS #1 v1.5 block. Anything that does not parse is simply not valid.
    public func isValidSignature(_ signature: [UInt8], for data: [UInt8]) -> Bool {
        switch material {
        case .p256(let point):
            guard let key = try? P256.Signing.PublicKey(x963Representation: point),
                let parsed = try? P256.Signing.ECDSASignature(derRepresentation: signature)
            else { return false }
            return key.isValidSignature(parsed, for: data)
        case .ed25519(let raw):
            guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else { return false }
            return key.isValidSignature(signature, for: data)
        case .rsa(let modulus, let exponent):
            guard let key = try? _RSA.Signing.PublicKey(n: modulus, e: exponent) else { return false }
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: data, padding: .insecurePKCS1v1_5)
        }
    }
}
