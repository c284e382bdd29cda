/// Authenticator data (WebAuthn §6.1): the RP ID hash, the flags, the sign count, then attested
/// credential data when AT is set and an extensions map when ED is set, and nothing after.
///
/// Extensions are read (a CBOR map with text keys, consumed exactly) and otherwise ignored:
/// Tollgate asks for none, and WebAuthn lets authenticators add some unasked (`credProtect` on
/// many security keys), so refusing them would refuse working keys for data nothing here reads.
public struct AuthenticatorData: Sendable, Equatable {
    /// The flags byte (WebAuthn §6.1); bits 1 and 5 are reserved and ignored.
    public struct Flags: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        public static let userPresent = Flags(rawValue: 0x01)
        public static let userVerified = Flags(rawValue: 0x04)
        public static let backupEligible = Flags(rawValue: 0x08)
        public static let backupState = Flags(rawValue: 0x10)
        public static let attestedCredentialData = Flags(rawValue: 0x40)
        public static let extensionData = Flags(rawValue: 0x80)
    }

    /// SHA-256 of the RP ID the authenticator scoped the credential to.
    public let rpIDHash: [UInt8]
    public let flags: Flags
    public let signCount: UInt32
    /// Present exactly when AT is set.
    public let attestedCredential: AttestedCredentialData?
    /// The extension identifiers when ED is set, in the order sent.
    public let extensionIdentifiers: [String]

    /// The fixed part: 32 bytes of hash, a flags byte and a 4-byte count.
    static let fixedLength = 37
    /// The longest credential ID WebAuthn Level 3 §7.1 lets a relying party accept.
    public static let maxCredentialIDLength = 1023

    public init(_ bytes: [UInt8]) throws(PasskeyRejection) {
        guard bytes.count >= Self.fixedLength else { throw Self.malformed("\(bytes.count) bytes, fewer than 37") }
        guard bytes.count <= CBOR.maxInputSize else { throw Self.malformed("larger than 64 KiB") }
        rpIDHash = Array(bytes[0..<32])
        flags = Flags(rawValue: bytes[32])
        signCount = bytes[33..<37].reduce(0) { $0 << 8 | UInt32($1) }
        var rest = bytes[Self.fixedLength...]

        if flags.contains(.attestedCredentialData) {
            // AAGUID (16), credential ID length (2, big-endian), credential ID, COSE key.
            guard rest.count >= 18 else { throw Self.malformed("attested credential data shorter than 18 bytes") }
            let aaguid = Array(rest.prefix(16))
            let idLength = Int(rest[rest.startIndex + 16]) << 8 | Int(rest[rest.startIndex + 17])
            rest = rest.dropFirst(18)
            guard idLength <= Self.maxCredentialIDLength else {
                throw PasskeyRejection(.credentialIDTooLong, detail: "credential ID of \(idLength) bytes")
            }
            guard idLength <= rest.count else { throw Self.malformed("credential ID longer than the data") }
            let credentialID = Array(rest.prefix(idLength))
            rest = rest.dropFirst(idLength)
            let key: CBORValue
            let afterKey: ArraySlice<UInt8>
            do {
                (key, afterKey) = try CBOR.decodeFirst(rest)
            } catch {
                throw PasskeyRejection(.invalidPublicKey, detail: "COSE key: \(error)")
            }
            let publicKey = try PasskeyPublicKey(key, encoded: Array(rest[..<afterKey.startIndex]))
            attestedCredential = AttestedCredentialData(aaguid: aaguid, credentialID: credentialID, publicKey: publicKey)
            rest = afterKey
        } else {
            attestedCredential = nil
        }

        if flags.contains(.extensionData) {
            let extensions: CBORValue
            do {
                (extensions, rest) = try CBOR.decodeFirst(rest)
            } catch {
                throw Self.malformed("extensions: \(error)")
            }
            guard let map = extensions.map else { throw Self.malformed("extensions are not a map") }
            let identifiers = map.keys.compactMap(\.text)
            guard identifiers.count == map.count else { throw Self.malformed("an extension identifier that is not text") }
            extensionIdentifiers = identifiers
        } else {
            extensionIdentifiers = []
        }
        guard rest.isEmpty else { throw Self.malformed("\(rest.count) bytes after the last part the flags announce") }
    }

    private static func malformed(_ detail: String) -> PasskeyRejection {
        PasskeyRejection(.malformedAuthenticatorData, detail: detail)
    }
}

/// The credential a registration creates (WebAuthn §6.5.1).
public struct AttestedCredentialData: Sendable, Equatable {
    /// The authenticator model's 16-byte id; all zeros when the client hid it.
    public let aaguid: [UInt8]
    public let credentialID: [UInt8]
    public let publicKey: PasskeyPublicKey
}
