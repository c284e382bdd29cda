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

/// Unpadded base64url (RFC 4648 §5), over bytes. Every authenticated request and every code
/// entered decodes a token: Foundation's padded alphabet with string replacements around it
/// took 2 % of the server's CPU in a verify load (bench/RESULTS.md, round four).
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    /// Each byte's value in the alphabet, or 0xFF for a byte outside it.
    private static let values: [UInt8] = {
        var values = [UInt8](repeating: 0xFF, count: 256)
        for (value, byte) in alphabet.enumerated() { values[Int(byte)] = UInt8(value) }
        return values
    }()

    public static func encode(_ bytes: [UInt8]) -> String {
        var text: [UInt8] = []
        text.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index < bytes.count {
            // Up to three bytes make up to four characters; a short group makes two or three.
            let count = min(3, bytes.count - index)
            var group: UInt32 = 0
            for offset in 0..<3 { group = group << 8 | UInt32(offset < count ? bytes[index + offset] : 0) }
            for character in 0...count { text.append(alphabet[Int(group >> UInt32(18 - 6 * character) & 63)]) }
            index += count
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// nil for anything but the alphabet without padding, a length no encoding has, or a last
    /// character whose unused bits are set (so each byte string has exactly one text).
    public static func decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 4 != 1 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(characters.count * 3 / 4)
        var pending: UInt32 = 0
        var pendingBits = 0
        for character in characters {
            let value = values[Int(character)]
            guard value != 0xFF else { return nil }
            pending = (pending << 6 | UInt32(value)) & 0xFFF
            pendingBits += 6
            if pendingBits >= 8 {
                pendingBits -= 8
                bytes.append(UInt8(truncatingIfNeeded: pending >> UInt32(pendingBits)))
            }
        }
        guard pending & ((1 << UInt32(pendingBits)) - 1) == 0 else { return nil }
        return bytes
    }
}
