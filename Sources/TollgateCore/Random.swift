import Crypto
import Foundation

/// Cryptographically secure randomness (the system generator, through swift-crypto's
/// `SystemRandomNumberGenerator`, which reads getrandom(2) on Linux).
public enum SecureRandom {
    public static func bytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// A 6-digit code, uniform over 000000–999999 by rejection sampling (no modulo bias):
    /// 32-bit draws at or above the largest multiple of 10⁶ are thrown away.
    public static func sixDigitCode() -> String {
        var generator = SystemRandomNumberGenerator()
        let range: UInt32 = 1_000_000
        let limit = UInt32.max - (UInt32.max % range)  // a multiple of 10⁶
        var draw: UInt32
        repeat { draw = generator.next() } while draw >= limit
        let value = Int(draw % range)
        let digits = String(value)
        return String(repeating: "0", count: 6 - digits.count) + digits
    }
}

/// Unpadded base64url (RFC 4648 §5).
public enum Base64URL {
    public static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    public static func decode(_ text: String) -> [UInt8]? {
        guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64).map { Array($0) }
    }
}
