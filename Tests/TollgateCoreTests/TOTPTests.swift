import Foundation
import Testing

@testable import TollgateCore

/// Authenticator-app codes are RFC 6238's (SHA-1, 6 digits, 30 s), accept ±1 step of drift and
/// each step once; app secrets are sealed so that only the server's secrets open them.
@Suite struct TOTPTests {
    /// RFC 6238 Appendix B's SHA-1 key.
    static let rfcKey = Array("12345678901234567890".utf8)

    /// RFC 6238 Appendix B, SHA-1: the time and the published 8-digit code, whose last 6 digits
    /// are the 6-digit code (the truncation is modulo a power of ten).
    @Test(
        arguments: [
            (59, "94287082"), (1_111_111_109, "07081804"), (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"), (2_000_000_000, "69279037"), (20_000_000_000, "65353130"),
        ] as [(Int64, String)]
    )
    func rfc6238Vectors(seconds: Int64, eightDigits: String) {
        let step = TOTP.step(at: Date(timeIntervalSince1970: TimeInterval(seconds)))
        #expect(step == seconds / 30)
        #expect(TOTP.code(secret: Self.rfcKey, step: step) == String(eightDigits.suffix(6)))
        let accepted = TOTP.acceptedStep(
            of: String(eightDigits.suffix(6)),
            secret: Self.rfcKey,
            at: Date(timeIntervalSince1970: TimeInterval(seconds)),
            after: nil
        )
        #expect(accepted == step)
    }

    /// RFC 4226 Appendix D: the HOTP values of counters 0–9 under the same key, leading zeros kept.
    @Test func rfc4226Vectors() {
        let expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]
        #expect((0..<10).map { TOTP.code(secret: Self.rfcKey, step: Int64($0)) } == expected)
    }

    @Test func oneStepOfDriftEitherWayIsAcceptedAndTwoAreNot() {
        let secret = SecureRandom.bytes(20)
        let now = Date(timeIntervalSince1970: 1_800_000_015)
        let current = TOTP.step(at: now)
        for offset in -1...1 {
            let code = TOTP.code(secret: secret, step: current + Int64(offset))
            #expect(TOTP.acceptedStep(of: code, secret: secret, at: now, after: nil) == current + Int64(offset))
        }
        for offset: Int64 in [-2, 2, -3, 3] {
            let code = TOTP.code(secret: secret, step: current + offset)
            // A code of a far step could equal a near step's by chance (1 in 10⁶ each).
            let collides = (-1...1).contains { TOTP.code(secret: secret, step: current + Int64($0)) == code }
            if !collides { #expect(TOTP.acceptedStep(of: code, secret: secret, at: now, after: nil) == nil) }
        }
    }

    @Test func aStepIsAcceptedOnceAndEarlierStepsNeverAfterIt() {
        let secret = SecureRandom.bytes(20)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let current = TOTP.step(at: now)
        let code = TOTP.code(secret: secret, step: current)
        let accepted = TOTP.acceptedStep(of: code, secret: secret, at: now, after: nil)
        #expect(accepted == current)
        #expect(TOTP.acceptedStep(of: code, secret: secret, at: now, after: accepted) == nil)
        // The previous step's code, still within the drift, is refused once a later one counted.
        #expect(TOTP.acceptedStep(of: TOTP.code(secret: secret, step: current - 1), secret: secret, at: now, after: current) == nil)
        // The next step's code still counts.
        #expect(TOTP.acceptedStep(of: TOTP.code(secret: secret, step: current + 1), secret: secret, at: now, after: current) == current + 1)
    }

    @Test func entriesAreReadAsTyped() {
        let secret = Self.rfcKey
        let now = Date(timeIntervalSince1970: 59)
        #expect(TOTP.acceptedStep(of: "287 082", secret: secret, at: now, after: nil) == 1)
        #expect(TOTP.acceptedStep(of: "287-082", secret: secret, at: now, after: nil) == 1)
        for wrong in ["", "28708", "2870822", "28708a", "94287082", "２８７０８２"] {
            #expect(TOTP.acceptedStep(of: wrong, secret: secret, at: now, after: nil) == nil, "\(wrong)")
        }
    }

    /// RFC 4648 §10's base32 vectors, without their padding.
    @Test(arguments: [
        ("", ""), ("f", "MY"), ("fo", "MZXQ"), ("foo", "MZXW6"), ("foob", "MZXW6YQ"), ("fooba", "MZXW6YTB"), ("foobar", "MZXW6YTBOI"),
    ])
    func base32Vectors(text: String, encoded: String) {
        #expect(TOTP.base32(Array(text.utf8)) == encoded)
    }

    @Test func aTwentyByteSecretIsThirtyTwoCharacters() {
        #expect(TOTP.base32(Self.rfcKey) == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
        #expect(TOTP.base32([UInt8](repeating: 0xFF, count: 20)) == String(repeating: "7", count: 32))
    }

    static let oldSecret = Array("old-secret-old-secret-old-secret-00".utf8)
    static let newSecret = Array("new-secret-new-secret-new-secret-00".utf8)

    @Test func aSealedSecretOpensAndIsNotThePlaintext() throws {
        let box = MethodSecretBox(secrets: [Self.newSecret])
        let secret = SecureRandom.bytes(20)
        let sealed = box.seal(secret)
        #expect(sealed.count == 24 + 16 + 20)
        #expect(box.open(sealed) == secret)
        #expect(sealed.range(of: Data(secret)) == nil)
        // A random nonce: the same secret never seals to the same bytes.
        #expect(box.seal(secret) != sealed)
    }

    @Test func aRotationKeepsOldSecretsReadableAndSealsUnderTheNewest() {
        let before = MethodSecretBox(secrets: [Self.oldSecret])
        let rotated = MethodSecretBox(secrets: [Self.newSecret, Self.oldSecret])
        let secret = SecureRandom.bytes(20)
        #expect(rotated.open(before.seal(secret)) == secret)
        // Sealed after the rotation: the old secret alone cannot open it, the new one alone can.
        let resealed = rotated.seal(secret)
        #expect(before.open(resealed) == nil)
        #expect(MethodSecretBox(secrets: [Self.newSecret]).open(resealed) == secret)
        // Opened under the old key, it is offered sealed anew under the new one.
        let renewing = rotated.openRenewing(before.seal(secret))
        #expect(renewing?.plaintext == secret)
        #expect(renewing?.renewed.flatMap { MethodSecretBox(secrets: [Self.newSecret]).open($0) } == secret)
        #expect(rotated.openRenewing(resealed)?.renewed == nil)
    }

    @Test func aTamperedOrMalformedBoxOpensToNothing() {
        let box = MethodSecretBox(secrets: [Self.newSecret])
        let sealed = [UInt8](box.seal(SecureRandom.bytes(20)))
        for index in [0, 23, 24, 39, 40, sealed.count - 1] {
            var tampered = sealed
            tampered[index] ^= 0x01
            #expect(box.open(Data(tampered)) == nil, "byte \(index)")
        }
        #expect(box.open(Data(sealed.dropLast())) == nil)
        #expect(box.open(Data()) == nil)
        #expect(box.open(Data(sealed.prefix(39))) == nil)
        // Under an unrelated secret: nothing.
        #expect(MethodSecretBox(secrets: [Self.oldSecret]).open(Data(sealed)) == nil)
    }
}
