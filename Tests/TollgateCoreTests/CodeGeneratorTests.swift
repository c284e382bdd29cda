import Crypto
import Foundation
import Testing
import TollgateCore

/// The code generator is uniform (SPEC §2: no modulo bias) and codes are bound to their challenge.
@Suite struct CodeGeneratorTests {
    @Test func aMillionCodesPassAChiSquareUniformityTestPerDigit() {
        var counts = [[Int]](repeating: [Int](repeating: 0, count: 10), count: 6)
        for _ in 0..<1_000_000 {
            let code = SecureRandom.sixDigitCode()
            for (position, character) in code.utf8.enumerated() { counts[position][Int(character) - 48] += 1 }
        }
        // 9 degrees of freedom: P(χ² > 48) = 2.6e-7, so a fair generator fails about once in
        // 600,000 runs (six digits). A gross bias fails always: digits made as
        // `randomByte % 10` favour 0–5 by 4 % (χ² ≈ 366 per digit). The tiny bias of a 32-bit
        // draw modulo 10⁶ is below what a million samples can see; rejection sampling, which
        // avoids it, is in the code, not provable here.
        for position in 0..<6 {
            let expected = 100_000.0
            let chiSquare = counts[position].reduce(0.0) { $0 + pow(Double($1) - expected, 2) / expected }
            #expect(chiSquare < 48, "digit \(position): χ² = \(chiSquare)")
        }
    }

    @Test func codesAreSixDigitsWithLeadingZerosKept() {
        let codes = (0..<10_000).map { _ in SecureRandom.sixDigitCode() }
        #expect(codes.allSatisfy { $0.count == 6 && $0.allSatisfy(\.isNumber) })
        #expect(codes.contains { $0.hasPrefix("0") })
    }

    @Test func spacesAndDashesAreIgnoredAndAnythingElseIsWrong() {
        #expect(normalizedCode("123 456") == "123456")
        #expect(normalizedCode("123-456") == "123456")
        #expect(normalizedCode(" 1-2 3-4 5-6 ") == "123456")
        for bad in ["12345", "1234567", "12a456", "１２３４５６", "123.456", "", "123_456"] { #expect(normalizedCode(bad) == nil, "\(bad)") }
    }

    @Test func aCodeMACIsBoundToItsChallengeAndSurvivesRotation() {
        let old = SecretMAC(secrets: [Array("old-secret-old-secret-old-secret-00".utf8)])
        let rotated = SecretMAC(secrets: [Array("new-secret-new-secret-new-secret-00".utf8), Array("old-secret-old-secret-old-secret-00".utf8)])
        let challenge = UUID()
        let stored = old.code("123456", challengeID: challenge)
        #expect(rotated.codeMatches("123456", challengeID: challenge, stored: stored))
        #expect(!rotated.codeMatches("123457", challengeID: challenge, stored: stored))
        #expect(!rotated.codeMatches("123456", challengeID: UUID(), stored: stored))
    }

    /// The MACs start from prepared HMAC states shared by every request: they are the bytes of
    /// a one-shot HMAC-SHA-256 under each secret, and stay so when many tasks make them at once.
    @Test func preparedMACsAreTheOneShotHMACEvenConcurrently() async {
        let secrets = [Array("new-secret-new-secret-new-secret-00".utf8), Array(repeating: UInt8(7), count: 100)]
        let mac = SecretMAC(secrets: secrets)
        func expected(_ message: String, _ secret: [UInt8]) -> Data {
            Data(HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: SymmetricKey(data: secret)))
        }
        let tokens = (0..<200).map { "tg_\($0)_" + String(repeating: "é", count: $0 % 7) }
        let results = await withTaskGroup(of: (String, [Data]).self) { group in
            for token in tokens {
                group.addTask { (token, mac.tokenCandidates(token)) }
            }
            return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        for token in tokens {
            #expect(results[token] == secrets.map { expected("token:" + token, $0) })
        }
        let challenge = UUID()
        #expect(mac.code("123456", challengeID: challenge) == expected("code:\(challenge.uuidString.lowercased()):123456", secrets[0]))
    }
}
