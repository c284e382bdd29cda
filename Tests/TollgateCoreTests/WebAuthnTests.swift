import Crypto
import Foundation
import Testing

@testable import TollgateCore

/// Passkey registrations and assertions are verified as WebAuthn Level 3 §7.1 and §7.2 say:
/// each check refuses with its own reason when its one part of an otherwise valid response is
/// spoiled, and every response of an independent peer (Python's fido2, fixtures.json) gets the
/// verdict the peer meant.
@Suite struct WebAuthnTests {
    static let relyingParty = RelyingParty(id: "tollgate.test", origins: ["https://tollgate.test", "https://dash.tollgate.test"])
    static let challenge = SecureRandom.bytes(32)

    // MARK: Registration

    @Test func aRegistrationYieldsThePasskeyToStore() throws {
        let registration = Registration()
        let passkey = try Self.register(registration.response())
        #expect(passkey.credentialID == registration.passkey.credentialID)
        #expect(passkey.publicKey.algorithm == .es256)
        #expect(passkey.publicKey.coseKey == registration.passkey.coseKey)
        #expect(passkey.signCount == 0)
        #expect(passkey.userVerified)
        #expect(!passkey.backupEligible && !passkey.backupState)
        #expect(passkey.aaguid == [UInt8](repeating: 0, count: 16))
        #expect(passkey.attestation == .none)
        #expect(passkey.transports == ["internal"])
        // The stored key reads back as the same key.
        #expect(try PasskeyPublicKey(coseKey: passkey.publicKey.coseKey) == passkey.publicKey)
    }

    @Test func packedSelfAttestationIsCheckedWithTheCredentialKey() throws {
        for passkey in [SoftPasskey.es256(), SoftPasskey.edDSA()] {
            var registration = Registration(passkey: passkey)
            registration.format = "packed"
            registration.selfAttest = true
            let registered = try Self.register(registration.response())
            #expect(registered.attestation == .selfAttestation)
            #expect(registered.publicKey.algorithm.rawValue == passkey.algorithm)
        }
    }

    @Test func flagsAndExtensionsAreReadAndReturned() throws {
        var registration = Registration(passkey: .edDSA())
        registration.flags = [.userPresent, .attestedCredentialData, .backupEligible, .backupState, .extensionData]
        registration.afterKey = encodeCBOR(.map(cborMap([(.text("credProtect"), .unsigned(2))])))
        let passkey = try Self.register(registration.response())
        #expect(!passkey.userVerified && passkey.backupEligible && passkey.backupState)
        let authData = try AuthenticatorData(registration.authData)
        #expect(authData.extensionIdentifiers == ["credProtect"])
        // BE alone (eligible, not backed up yet) is as valid.
        registration.flags = [.userPresent, .attestedCredentialData, .backupEligible]
        registration.afterKey = []
        #expect(try Self.register(registration.response()).backupEligible)
    }

    /// UV is refused missing only where the policy requires it.
    @Test(arguments: UserVerificationPolicy.allCases)
    func userVerificationFollowsThePolicy(_ policy: UserVerificationPolicy) throws {
        func verify(_ registration: Registration) -> PasskeyRejection.Reason? {
            refusal { try Self.relyingParty.verifyRegistration(registration.response(), challenge: Self.challenge, userVerification: policy) }
        }
        var registration = Registration()
        registration.flags = [.userPresent, .attestedCredentialData]
        #expect(verify(registration) == (policy == .required ? .userNotVerified : nil))
        registration.flags.insert(.userVerified)
        #expect(verify(registration) == nil)
    }

    @Test func credentialIDsUpTo1023BytesAreAccepted() throws {
        var registration = Registration()
        registration.credentialID = SecureRandom.bytes(AuthenticatorData.maxCredentialIDLength)
        #expect(try Self.register(registration.response()).credentialID.count == 1023)
        registration.credentialID = SecureRandom.bytes(1024)
        #expect(refusal { try Self.register(registration.response()) } == .credentialIDTooLong)
    }

    @Test func onlyTheAlgorithmsOfferedAreAccepted() throws {
        let response = Registration().response()
        func verify(offering algorithms: [COSEAlgorithm]) -> PasskeyRejection.Reason? {
            refusal {
                try Self.relyingParty.verifyRegistration(response, challenge: Self.challenge, userVerification: .preferred, algorithms: algorithms)
            }
        }
        #expect(verify(offering: [.edDSA]) == .unsupportedAlgorithm)
        #expect(verify(offering: [.es256]) == nil)
    }

    /// Each check of §7.1: one part of a valid registration spoiled, and the reason it is refused.
    @Test func registrationRefusals() {
        let es256 = SoftPasskey.es256()
        let point = es256.coseEntries
        let cases: [(String, PasskeyRejection.Reason, (inout Registration) -> Void)] = [
            // The JSON form.
            ("type is not public-key", .malformedResponse, { $0.credentialType = "password" }),
            ("id is not rawId", .malformedResponse, { $0.id = "AAAA" }),
            ("rawId is padded base64", .malformedResponse, { $0.rawIDText = "AAA=" }),
            ("clientDataJSON is standard base64", .malformedResponse, { $0.clientDataText = "e30+" }),
            ("more than 8 transports", .malformedResponse, { $0.transports = Array(repeating: "usb", count: 9) }),
            // clientDataJSON.
            ("client data not JSON", .malformedClientData, { $0.rawClientData = "{type:" }),
            ("client data an array", .malformedClientData, { $0.rawClientData = "[]" }),
            ("client data without origin", .malformedClientData, { $0.rawClientData = #"{"type":"webauthn.create","challenge":"AA"}"# }),
            ("challenge a number", .malformedClientData, { $0.rawClientData = #"{"type":"webauthn.create","challenge":1,"origin":"x"}"# }),
            ("crossOrigin a string", .malformedClientData, { $0.crossOrigin = #""false""# }),
            ("type webauthn.get", .wrongCeremonyType, { $0.type = "webauthn.get" }),
            ("type in capitals", .wrongCeremonyType, { $0.type = "WEBAUTHN.CREATE" }),
            ("another challenge", .challengeMismatch, { $0.challenge = Base64URL.encode(SecureRandom.bytes(32)) }),
            ("the challenge one byte short", .challengeMismatch, { $0.challenge = Base64URL.encode(Array(Self.challenge.dropLast())) }),
            ("the challenge padded", .challengeMismatch, { $0.challenge = Base64URL.encode(Self.challenge) + "=" }),
            ("an empty challenge", .challengeMismatch, { $0.challenge = "" }),
            ("another site", .originNotAllowed, { $0.origin = "https://tollgate.test.evil.example" }),
            ("http", .originNotAllowed, { $0.origin = "http://tollgate.test" }),
            ("a trailing slash", .originNotAllowed, { $0.origin = "https://tollgate.test/" }),
            ("an explicit port", .originNotAllowed, { $0.origin = "https://tollgate.test:443" }),
            ("a cross-origin frame", .crossOrigin, { $0.crossOrigin = "true" }),
            // The attestation object.
            ("not CBOR", .malformedAttestationObject, { $0.attestationObject = [0xFF] }),
            ("CBOR with a byte after it", .malformedAttestationObject, { $0.attestationObject = $0.encodedAttestationObject() + [0] }),
            ("no fmt", .malformedAttestationObject, { $0.attestationObject = encodeCBOR(.map(cborMap([(.text("attStmt"), .map(CBORMap()))]))) }),
            (
                "attStmt not a map", .malformedAttestationObject,
                {
                    let authData = $0.authData
                    $0.attestationObject = encodeCBOR(
                        .map(cborMap([(.text("fmt"), .text("none")), (.text("attStmt"), .null), (.text("authData"), .bytes(authData))]))
                    )
                }
            ),
            // Authenticator data.
            ("authData shorter than 37 bytes", .malformedAuthenticatorData, { $0.authDataOverride = Array(repeating: 0, count: 36) }),
            ("bytes after the key", .malformedAuthenticatorData, { $0.afterKey = [0x00] }),
            ("ED without extensions", .malformedAuthenticatorData, { $0.flags.insert(.extensionData) }),
            (
                "extensions not a map", .malformedAuthenticatorData,
                {
                    $0.flags.insert(.extensionData)
                    $0.afterKey = encodeCBOR(.array([]))
                }
            ),
            (
                "an extension id not text", .malformedAuthenticatorData,
                {
                    $0.flags.insert(.extensionData)
                    $0.afterKey = encodeCBOR(.map(cborMap([(.unsigned(1), .null)])))
                }
            ),
            (
                "bytes after the extensions", .malformedAuthenticatorData,
                {
                    $0.flags.insert(.extensionData)
                    $0.afterKey = encodeCBOR(.map(CBORMap())) + [0]
                }
            ),
            ("another RP ID", .rpIDMismatch, { $0.rpID = "evil.example" }),
            ("the RP ID of a parent domain", .rpIDMismatch, { $0.rpID = "test" }),
            ("no UP", .userNotPresent, { $0.flags.remove(.userPresent) }),
            ("BS without BE", .invalidBackupFlags, { $0.flags.insert(.backupState) }),
            ("no AT", .missingCredentialData, { $0.flags.remove(.attestedCredentialData) }),
            ("rawId another credential", .credentialIDMismatch, { $0.rawID = SecureRandom.bytes(16) }),
            // The COSE key.
            ("a key that is not CBOR", .invalidPublicKey, { $0.coseKey = [0x1C] }),
            ("a key without alg", .invalidPublicKey, { $0.coseKey = coseKey(point, replacing: 3, with: nil) }),
            ("ES384", .unsupportedAlgorithm, { $0.coseKey = coseKey(point, replacing: 3, with: int(-35)) }),
            ("PS256", .unsupportedAlgorithm, { $0.coseKey = coseKey([(int(1), int(3)), (int(3), int(-37))]) }),
            ("ES256 with kty OKP", .invalidPublicKey, { $0.coseKey = coseKey(point, replacing: 1, with: int(1)) }),
            ("ES256 on P-384", .invalidPublicKey, { $0.coseKey = coseKey(point, replacing: -1, with: int(2)) }),
            ("x of 31 bytes", .invalidPublicKey, { $0.coseKey = coseKey(point, replacing: -2, with: .bytes(Array(repeating: 1, count: 31))) }),
            ("a compressed point", .invalidPublicKey, { $0.coseKey = coseKey(point, replacing: -3, with: .bool(true)) }),
            (
                "a point off the curve", .invalidPublicKey,
                { $0.coseKey = coseKey(point, replacing: -3, with: .bytes(Array(repeating: 1, count: 32))) }
            ),
            ("a private key inside", .invalidPublicKey, { $0.coseKey = coseKey(point, replacing: -4, with: .bytes(SecureRandom.bytes(32))) }),
            (
                "EdDSA on X25519", .invalidPublicKey,
                { $0.coseKey = coseKey([(int(1), int(1)), (int(3), int(-8)), (int(-1), int(4)), (int(-2), .bytes(SecureRandom.bytes(32)))]) }
            ),
            (
                "RSA of 1024 bits", .invalidPublicKey,
                {
                    let modulus = [0xC1] + SecureRandom.bytes(126) + [0x01]
                    $0.coseKey = coseKey([(int(1), int(3)), (int(3), int(-257)), (int(-1), .bytes(modulus)), (int(-2), .bytes([1, 0, 1]))])
                }
            ),
            // The attestation statement.
            ("fido-u2f", .unsupportedAttestationFormat, { $0.format = "fido-u2f" }),
            (
                "Packed in capitals", .unsupportedAttestationFormat,
                {
                    $0.format = "Packed"
                    $0.selfAttest = true
                }
            ),
            (
                "packed with a certificate", .unsupportedAttestationFormat,
                {
                    $0.format = "packed"
                    $0.statement = [(.text("alg"), int(-7)), (.text("sig"), .bytes([0])), (.text("x5c"), .array([.bytes([0x30])]))]
                }
            ),
            ("none with a statement", .invalidAttestationStatement, { $0.statement = [(.text("alg"), int(-7))] }),
            (
                "packed without sig", .invalidAttestationStatement,
                {
                    $0.format = "packed"
                    $0.statement = [(.text("alg"), int(-7))]
                }
            ),
            (
                "packed with the wrong alg", .invalidAttestationStatement,
                {
                    $0.format = "packed"
                    $0.selfAttest = true
                    $0.selfAttestAlgorithm = -8
                }
            ),
            (
                "packed signed over other data", .invalidAttestationStatement,
                {
                    $0.format = "packed"
                    $0.statement = [(.text("alg"), int(-7)), (.text("sig"), .bytes(es256.sign([1, 2, 3])))]
                }
            ),
        ]
        for (name, reason, spoil) in cases {
            var registration = Registration(passkey: es256)
            spoil(&registration)
            #expect(refusal { try Self.register(registration.response()) } == reason, "\(name)")
        }
    }

    // MARK: Assertion

    @Test func anAssertionReturnsWhatChangesOnTheStoredPasskey() throws {
        for passkey in [SoftPasskey.es256(), SoftPasskey.edDSA()] {
            var assertion = Assertion(passkey: passkey)
            assertion.signCount = 8
            assertion.flags = [.userPresent, .backupEligible, .backupState]
            var stored = try passkey.stored(signCount: 7)
            stored.backupEligible = true
            let verified = try Self.assert(assertion.response(), stored)
            #expect(verified == VerifiedAssertion(signCount: 8, userVerified: false, backupState: true))
        }
    }

    /// The counter rule: a counter in use must grow; zero and zero is an authenticator without one.
    @Test(
        arguments: [
            (0, 0, true), (0, 1, true), (5, 6, true), (0, UInt32.max, true), (UInt32.max - 1, UInt32.max, true),
            (5, 5, false), (5, 4, false), (5, 0, false), (UInt32.max, UInt32.max, false), (1, 0, false),
        ] as [(UInt32, UInt32, Bool)]
    )
    func signCounts(stored: UInt32, received: UInt32, accepted: Bool) throws {
        let passkey = SoftPasskey.es256()
        var assertion = Assertion(passkey: passkey)
        assertion.signCount = received
        let response = assertion.response()
        let storedPasskey = try passkey.stored(signCount: stored)
        if accepted {
            #expect(try Self.assert(response, storedPasskey).signCount == received)
        } else {
            let rejection = #expect(throws: PasskeyRejection.self) { try Self.assert(response, storedPasskey) }
            #expect(rejection?.reason == .counterRegression)
            #expect(rejection?.receivedSignCount == received)
        }
    }

    @Test func theUserHandleIsCheckedWhenBothSidesHaveOne() throws {
        let passkey = SoftPasskey.es256()
        var assertion = Assertion(passkey: passkey)
        let stored = try passkey.stored(userHandle: [1, 2, 3])
        for (handle, reason) in [(nil, nil), ("", nil), (Base64URL.encode([1, 2, 3]), nil), (Base64URL.encode([1, 2, 4]), .userHandleMismatch)]
            as [(String?, PasskeyRejection.Reason?)]
        {
            assertion.userHandle = handle
            #expect(refusal { try Self.assert(assertion.response(), stored) } == reason, "\(String(describing: handle))")
        }
        // A stored passkey without a handle takes any.
        assertion.userHandle = Base64URL.encode([9])
        let withoutHandle = try passkey.stored(userHandle: nil)
        #expect(refusal { try Self.assert(assertion.response(), withoutHandle) } == nil)
    }

    /// Each check of §7.2: one part of a valid assertion spoiled, and the reason it is refused.
    @Test func assertionRefusals() throws {
        let passkey = SoftPasskey.es256()
        let stored = try passkey.stored()
        let cases: [(String, PasskeyRejection.Reason, (inout Assertion) -> Void)] = [
            ("type is not public-key", .malformedResponse, { $0.credentialType = "public_key" }),
            ("id is not rawId", .malformedResponse, { $0.id = "AAAA" }),
            ("the signature not base64url", .malformedResponse, { $0.signatureText = "MEUC+" }),
            ("authenticatorData not base64url", .malformedResponse, { $0.authDataText = "=" }),
            ("the user handle not base64url", .malformedResponse, { $0.userHandle = "a" }),
            ("another credential", .credentialIDMismatch, { $0.rawID = SecureRandom.bytes(16) }),
            ("client data not JSON", .malformedClientData, { $0.rawClientData = "" }),
            ("type webauthn.create", .wrongCeremonyType, { $0.type = "webauthn.create" }),
            ("another challenge", .challengeMismatch, { $0.challenge = Base64URL.encode(SecureRandom.bytes(32)) }),
            ("another origin", .originNotAllowed, { $0.origin = "https://evil.example" }),
            ("a cross-origin frame", .crossOrigin, { $0.crossOrigin = "true" }),
            ("authData shorter than 37 bytes", .malformedAuthenticatorData, { $0.authDataOverride = [UInt8](repeating: 0, count: 20) }),
            ("a byte after authData", .malformedAuthenticatorData, { $0.afterFixedPart = [0] }),
            ("another RP ID", .rpIDMismatch, { $0.rpID = "evil.example" }),
            ("no UP", .userNotPresent, { $0.flags.remove(.userPresent) }),
            ("BS without BE", .invalidBackupFlags, { $0.flags.insert(.backupState) }),
            ("BE where registration had none", .backupEligibilityChanged, { $0.flags.insert(.backupEligible) }),
            ("signed over other data", .invalidSignature, { $0.signature = passkey.sign([1, 2, 3]) }),
            ("an empty signature", .invalidSignature, { $0.signature = [] }),
            (
                "r ‖ s instead of DER", .invalidSignature,
                {
                    let der = passkey.sign($0.signedData)
                    $0.signature = Array(try! P256.Signing.ECDSASignature(derRepresentation: der).rawRepresentation)
                }
            ),
            ("a DER signature with a byte after it", .invalidSignature, { $0.signature = passkey.sign($0.signedData) + [0] }),
        ]
        for (name, reason, spoil) in cases {
            var assertion = Assertion(passkey: passkey)
            spoil(&assertion)
            #expect(refusal { try Self.assert(assertion.response(), stored) } == reason, "\(name)")
        }
        // Required UV, and a stored BE that the assertion lacks.
        var assertion = Assertion(passkey: passkey)
        assertion.flags = [.userPresent]
        #expect(
            refusal {
                try Self.relyingParty.verifyAssertion(
                    assertion.response(),
                    challenge: Self.challenge,
                    userVerification: .required,
                    credential: stored
                )
            } == .userNotVerified
        )
        var eligible = stored
        eligible.backupEligible = true
        #expect(refusal { try Self.assert(assertion.response(), eligible) } == .backupEligibilityChanged)
    }

    // MARK: Keys and reasons

    @Test func storedKeysAreCheckedAgainWhenRead() throws {
        let passkey = SoftPasskey.edDSA()
        let key = try PasskeyPublicKey(coseKey: passkey.coseKey)
        #expect(key.algorithm == .edDSA)
        #expect(key.isValidSignature(passkey.sign([7]), for: [7]))
        #expect(!key.isValidSignature(passkey.sign([7]), for: [8]))
        #expect(refusal { try PasskeyPublicKey(coseKey: passkey.coseKey + [0]) } == .invalidPublicKey)
        #expect(refusal { try PasskeyPublicKey(coseKey: []) } == .invalidPublicKey)
        #expect(refusal { try PasskeyPublicKey(coseKey: encodeCBOR(.array([]))) } == .invalidPublicKey)
        // Labels COSE defines and passkeys do not need (key_ops, kid) are ignored.
        let extra = encodeCBOR(.map(cborMap(passkey.coseEntries + [(int(2), .bytes([1])), (int(4), .array([int(2)]))])))
        #expect(try PasskeyPublicKey(coseKey: extra).isValidSignature(passkey.sign([7]), for: [7]))
    }

    /// The reasons are the API's `reason` values: snake case, each once.
    @Test func reasonsAreDistinctSnakeCaseCodes() {
        let codes = PasskeyRejection.Reason.allCases.map(\.rawValue)
        #expect(Set(codes).count == codes.count)
        #expect(codes.allSatisfy { $0.allSatisfy { $0 == "_" || ("a"..."z").contains($0) } })
        #expect(PasskeyRejection(.counterRegression, detail: "sign count 5, stored 6").description == "counter_regression: sign count 5, stored 6")
    }

    // MARK: The independent peer

    static let fixtures = WebAuthnFixtures.load()

    @Test(arguments: WebAuthnTests.fixtures.registrations)
    func peerRegistration(_ fixture: WebAuthnFixtures.Registration) throws {
        let relyingParty = Self.fixtures.relyingParty
        let challenge = try #require(Base64URL.decode(fixture.challenge))
        let policy = try #require(UserVerificationPolicy(rawValue: fixture.userVerification))
        let expect = fixture.expect
        guard expect.accepted else {
            let rejection = #expect(throws: PasskeyRejection.self) {
                try relyingParty.verifyRegistration(fixture.credential, challenge: challenge, userVerification: policy)
            }
            #expect(rejection?.reason.rawValue == expect.reason, "the peer's fido2 said: \(fixture.peer)")
            return
        }
        let passkey = try relyingParty.verifyRegistration(fixture.credential, challenge: challenge, userVerification: policy)
        #expect(fixture.peer == "accepted")
        #expect(Base64URL.encode(passkey.credentialID) == expect.credentialId)
        #expect(Base64URL.encode(passkey.publicKey.coseKey) == expect.coseKey)
        #expect(passkey.publicKey.algorithm.rawValue == expect.algorithm)
        #expect(passkey.attestation.rawValue == expect.attestation)
        #expect(passkey.signCount == expect.signCount)
        #expect(passkey.userVerified == expect.userVerified)
        #expect(passkey.backupEligible == expect.backupEligible)
        #expect(passkey.backupState == expect.backupState)
        #expect(Base64URL.encode(passkey.aaguid) == expect.aaguid)
        #expect(passkey.transports == expect.transports)
    }

    @Test(arguments: WebAuthnTests.fixtures.assertions)
    func peerAssertion(_ fixture: WebAuthnFixtures.Assertion) throws {
        let relyingParty = Self.fixtures.relyingParty
        let challenge = try #require(Base64URL.decode(fixture.challenge))
        let policy = try #require(UserVerificationPolicy(rawValue: fixture.userVerification))
        let userHandle = try #require(Base64URL.decode(fixture.stored.userHandle))
        let stored = StoredPasskey(
            credentialID: try #require(Base64URL.decode(fixture.stored.credentialId)),
            publicKey: try PasskeyPublicKey(coseKey: try #require(Base64URL.decode(fixture.stored.coseKey))),
            signCount: fixture.stored.signCount,
            backupEligible: fixture.stored.backupEligible,
            userHandle: userHandle
        )
        let expect = fixture.expect
        guard expect.accepted else {
            let rejection = #expect(throws: PasskeyRejection.self) {
                try relyingParty.verifyAssertion(fixture.response, challenge: challenge, userVerification: policy, credential: stored)
            }
            #expect(rejection?.reason.rawValue == expect.reason, "the peer's fido2 said: \(fixture.peer)")
            return
        }
        let verified = try relyingParty.verifyAssertion(fixture.response, challenge: challenge, userVerification: policy, credential: stored)
        #expect(fixture.peer == "accepted")
        #expect(verified.signCount == expect.signCount)
        #expect(verified.userVerified == expect.userVerified)
        #expect(verified.backupState == expect.backupState)
    }

    /// The peer's fixtures cover what they promise: each algorithm registered with `none` and
    /// with packed self-attestation and then asserting, and each refusal the issue names.
    @Test func thePeerCoversEveryAlgorithmAndRefusal() {
        let registered = Self.fixtures.registrations.filter(\.expect.accepted)
        for algorithm in COSEAlgorithm.allCases {
            for attestation in ["none", "self"] {
                #expect(registered.contains { $0.expect.algorithm == algorithm.rawValue && $0.expect.attestation == attestation })
            }
        }
        #expect(Set(Self.fixtures.assertions.filter(\.expect.accepted).map(\.credential)) == ["es256", "eddsa", "rs256"])
        let refusals = Set((Self.fixtures.registrations.map(\.expect) + Self.fixtures.assertions.map(\.expect)).compactMap(\.reason))
        let named: Set<String> = ["origin_not_allowed", "rp_id_mismatch", "invalid_signature", "counter_regression", "invalid_attestation_statement"]
        #expect(named.isSubset(of: refusals))
    }

    // MARK: Helpers

    static func register(_ response: RegistrationResponseJSON) throws(PasskeyRejection) -> RegisteredPasskey {
        try relyingParty.verifyRegistration(response, challenge: challenge, userVerification: .preferred)
    }

    static func assert(_ response: AuthenticationResponseJSON, _ stored: StoredPasskey) throws(PasskeyRejection) -> VerifiedAssertion {
        try relyingParty.verifyAssertion(response, challenge: challenge, userVerification: .preferred, credential: stored)
    }
}

/// The reason `body` was refused, or nil when it was not (an error of another type fails the test).
func refusal<T>(_ body: () throws -> T) -> PasskeyRejection.Reason? {
    do {
        _ = try body()
        return nil
    } catch let rejection as PasskeyRejection {
        return rejection.reason
    } catch {
        Issue.record(error, "not a PasskeyRejection")
        return nil
    }
}

/// A COSE key's bytes: `entries` with `label`'s value replaced, added, or removed (nil).
func coseKey(_ entries: [(CBORValue, CBORValue)], replacing label: Int? = nil, with value: CBORValue? = nil) -> [UInt8] {
    var entries = entries.filter { $0.0 != label.map(int) }
    if let label, let value { entries.append((int(label), value)) }
    return encodeCBOR(.map(cborMap(entries)))
}

/// An integer as CBOR.
func int(_ n: Int) -> CBORValue { n >= 0 ? .unsigned(UInt64(n)) : .negative(UInt64(-1 - n)) }

func sha256(_ bytes: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: bytes)) }

/// A software authenticator for the table tests: swift-crypto keys, COSE keys from the tests' encoder.
struct SoftPasskey {
    enum Key {
        case p256(P256.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
    }

    let key: Key
    let credentialID = SecureRandom.bytes(16)

    static func es256() -> SoftPasskey { SoftPasskey(key: .p256(P256.Signing.PrivateKey())) }
    static func edDSA() -> SoftPasskey { SoftPasskey(key: .ed25519(Curve25519.Signing.PrivateKey())) }

    var algorithm: Int {
        switch key {
        case .p256: return -7
        case .ed25519: return -8
        }
    }

    /// The public key's COSE parameters: EC2 with x and y, or OKP with x.
    var coseEntries: [(CBORValue, CBORValue)] {
        switch key {
        case .p256(let key):
            let point = Array(key.publicKey.rawRepresentation)
            return [
                (int(1), int(2)), (int(3), int(-7)), (int(-1), int(1)), (int(-2), .bytes(Array(point[..<32]))),
                (int(-3), .bytes(Array(point[32...]))),
            ]
        case .ed25519(let key):
            return [(int(1), int(1)), (int(3), int(-8)), (int(-1), int(6)), (int(-2), .bytes(Array(key.publicKey.rawRepresentation)))]
        }
    }

    var coseKey: [UInt8] { encodeCBOR(.map(cborMap(coseEntries))) }

    /// A signature as authenticators send it: DER for ECDSA, 64 raw bytes for Ed25519.
    func sign(_ data: [UInt8]) -> [UInt8] {
        switch key {
        case .p256(let key): return Array(try! key.signature(for: data).derRepresentation)
        case .ed25519(let key): return Array(try! key.signature(for: data))
        }
    }

    func stored(signCount: UInt32 = 0, userHandle: [UInt8]? = [1, 2, 3]) throws -> StoredPasskey {
        StoredPasskey(
            credentialID: credentialID,
            publicKey: try PasskeyPublicKey(coseKey: coseKey),
            signCount: signCount,
            backupEligible: false,
            userHandle: userHandle
        )
    }
}

/// A registration response's parts as a browser and authenticator would make them, each of
/// which a test may spoil; `response()` assembles them, signing a packed self-attestation when asked.
struct Registration {
    var passkey = SoftPasskey.es256()
    // clientDataJSON, member by member (crossOrigin as JSON text, nil to leave it out), or whole.
    var type = "webauthn.create"
    var challenge = Base64URL.encode(WebAuthnTests.challenge)
    var origin = "https://tollgate.test"
    var crossOrigin: String? = "false"
    var rawClientData: String?
    // Authenticator data.
    var rpID = "tollgate.test"
    var flags: AuthenticatorData.Flags = [.userPresent, .userVerified, .attestedCredentialData]
    var credentialID: [UInt8]?
    var coseKey: [UInt8]?
    var afterKey: [UInt8] = []
    var authDataOverride: [UInt8]?
    // The attestation object.
    var format = "none"
    var statement: [(CBORValue, CBORValue)] = []
    var selfAttest = false
    var selfAttestAlgorithm: Int?
    var attestationObject: [UInt8]?
    // The JSON form.
    var credentialType = "public-key"
    var rawID: [UInt8]?
    var id: String?
    var rawIDText: String?
    var clientDataText: String?
    var transports = ["internal"]

    var clientDataJSON: [UInt8] {
        let members = #""type":"\#(type)","challenge":"\#(challenge)","origin":"\#(origin)""# + (crossOrigin.map { #","crossOrigin":\#($0)"# } ?? "")
        return Array((rawClientData ?? "{\(members)}").utf8)
    }

    var authData: [UInt8] {
        if let authDataOverride { return authDataOverride }
        var bytes = sha256(Array(rpID.utf8)) + [flags.rawValue, 0, 0, 0, 0]
        if flags.contains(.attestedCredentialData) {
            let id = credentialID ?? passkey.credentialID
            bytes += [UInt8](repeating: 0, count: 16) + [UInt8(id.count >> 8), UInt8(id.count & 0xFF)] + id + (coseKey ?? passkey.coseKey)
        }
        return bytes + afterKey
    }

    func encodedAttestationObject() -> [UInt8] {
        let authData = self.authData
        var statement = self.statement
        if selfAttest {
            let signature = passkey.sign(authData + sha256(clientDataJSON))
            statement = [(.text("alg"), int(selfAttestAlgorithm ?? passkey.algorithm)), (.text("sig"), .bytes(signature))]
        }
        return encodeCBOR(
            .map(cborMap([(.text("fmt"), .text(format)), (.text("attStmt"), .map(cborMap(statement))), (.text("authData"), .bytes(authData))]))
        )
    }

    func response() -> RegistrationResponseJSON {
        let raw = rawIDText ?? Base64URL.encode(rawID ?? credentialID ?? passkey.credentialID)
        return RegistrationResponseJSON(
            id: id ?? raw,
            rawId: raw,
            type: credentialType,
            response: .init(
                clientDataJSON: clientDataText ?? Base64URL.encode(clientDataJSON),
                attestationObject: Base64URL.encode(attestationObject ?? encodedAttestationObject()),
                transports: transports
            )
        )
    }
}

/// An assertion response's parts, as ``Registration``'s.
struct Assertion {
    var passkey: SoftPasskey
    var type = "webauthn.get"
    var challenge = Base64URL.encode(WebAuthnTests.challenge)
    var origin = "https://dash.tollgate.test"
    var crossOrigin: String? = "false"
    var rawClientData: String?
    var rpID = "tollgate.test"
    var flags: AuthenticatorData.Flags = [.userPresent, .userVerified]
    var signCount: UInt32 = 1
    var afterFixedPart: [UInt8] = []
    var authDataOverride: [UInt8]?
    var signature: [UInt8]?
    var credentialType = "public-key"
    var rawID: [UInt8]?
    var id: String?
    var userHandle: String?
    var signatureText: String?
    var authDataText: String?

    init(passkey: SoftPasskey) { self.passkey = passkey }

    var clientDataJSON: [UInt8] {
        let members = #""type":"\#(type)","challenge":"\#(challenge)","origin":"\#(origin)""# + (crossOrigin.map { #","crossOrigin":\#($0)"# } ?? "")
        return Array((rawClientData ?? "{\(members)}").utf8)
    }

    var authData: [UInt8] {
        authDataOverride ?? sha256(Array(rpID.utf8)) + [flags.rawValue] + (0..<4).reversed().map { UInt8(truncatingIfNeeded: signCount >> (8 * $0)) }
            + afterFixedPart
    }

    /// What the authenticator signs: authenticator data ‖ SHA-256(clientDataJSON).
    var signedData: [UInt8] { authData + sha256(clientDataJSON) }

    func response() -> AuthenticationResponseJSON {
        let raw = Base64URL.encode(rawID ?? passkey.credentialID)
        return AuthenticationResponseJSON(
            id: id ?? raw,
            rawId: raw,
            type: credentialType,
            response: .init(
                clientDataJSON: Base64URL.encode(clientDataJSON),
                authenticatorData: authDataText ?? Base64URL.encode(authData),
                signature: signatureText ?? Base64URL.encode(signature ?? passkey.sign(signedData)),
                userHandle: userHandle
            )
        )
    }
}

/// Tests/fixtures/webauthn/fixtures.json, written by make_fixtures.py beside it (Python's fido2).
struct WebAuthnFixtures: Decodable, Sendable {
    struct RelyingPartyFixture: Decodable, Sendable {
        let id: String
        let origins: [String]
    }

    /// What the peer meant: accepted (with what it registered or asserted), or the reason.
    struct Expectation: Decodable, Sendable {
        let accepted: Bool
        let reason: String?
        let credentialId: String?
        let coseKey: String?
        let algorithm: Int?
        let attestation: String?
        let signCount: UInt32?
        let userVerified: Bool?
        let backupEligible: Bool?
        let backupState: Bool?
        let aaguid: String?
        let transports: [String]?
    }

    struct Registration: Decodable, Sendable, CustomTestStringConvertible {
        let name: String
        let challenge: String
        let userVerification: String
        let credential: RegistrationResponseJSON
        let expect: Expectation
        /// fido2's own verdict on the response.
        let peer: String
        var testDescription: String { name }
    }

    struct Stored: Decodable, Sendable {
        let credentialId: String
        let coseKey: String
        let signCount: UInt32
        let backupEligible: Bool
        let userHandle: String
    }

    struct Assertion: Decodable, Sendable, CustomTestStringConvertible {
        let name: String
        let credential: String
        let stored: Stored
        let challenge: String
        let userVerification: String
        let response: AuthenticationResponseJSON
        let expect: Expectation
        let peer: String
        var testDescription: String { name }
    }

    let rp: RelyingPartyFixture
    let registrations: [Registration]
    let assertions: [Assertion]

    var relyingParty: RelyingParty { RelyingParty(id: rp.id, origins: Set(rp.origins)) }

    static func load() -> WebAuthnFixtures {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fixtures/webauthn/fixtures.json")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        // A missing or broken file fails every test that reads it, loudly.
        return try! decoder.decode(WebAuthnFixtures.self, from: Data(contentsOf: url))
    }
}
