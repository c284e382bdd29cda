import Crypto
public import Foundation

/// Authenticator-app codes (RFC 6238 over RFC 4226): HMAC-SHA1, 6 digits, 30-second steps, as
/// every common app computes them by default (SPEC §13). The secret is raw bytes; apps receive
/// it in base32.
public enum TOTP {
    public static let stepSeconds: Int64 = 30
    /// How many digits a code has, and how many steps either side of now a code may be from.
    static let digits = 6
    static let drift: Int64 = 1

    /// The number of whole steps from the Unix epoch to `date` (RFC 6238's T).
    public static func step(at date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 / Double(stepSeconds)).rounded(.down))
    }

    /// The code of `step` (RFC 4226 §5.3: HMAC of the big-endian counter, dynamic truncation),
    /// six digits with leading zeros.
    public static func code(secret: [UInt8], step: Int64) -> String {
        let counter = withUnsafeBytes(of: UInt64(bitPattern: step).bigEndian) { Array($0) }
        let mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: counter, using: SymmetricKey(data: secret)))
        let offset = Int(mac[mac.count - 1] & 0x0F)
        let binary = (UInt32(mac[offset] & 0x7F) << 24) | (UInt32(mac[offset + 1]) << 16) | (UInt32(mac[offset + 2]) << 8) | UInt32(mac[offset + 3])
        let value = String(binary % 1_000_000)
        return String(repeating: "0", count: digits - value.count) + value
    }

    /// The step (within ±1 of `now`'s) whose code is `code`, if later than `lastStep`; constant-time comparison, every candidate compared.
    ///
    /// `code` is read as the user typed it: spaces and dashes are ignored (``normalizedCode(_:)``)
    /// and anything else that is not six digits matches nothing. Of the steps whose code matches,
    /// the earliest not yet used is the one accepted, so a later step stays usable (SPEC §13:
    /// each step is accepted once per user; the caller stores the answer as the last step).
    public static func acceptedStep(of code: String, secret: [UInt8], at now: Date, after lastStep: Int64?) -> Int64? {
        let entered = Array((normalizedCode(code) ?? "").utf8)
        let current = step(at: now)
        var accepted: Int64?
        for candidate in (current - drift)...(current + drift) {
            // Every candidate is computed and compared in full, whatever matched before, so the
            // time taken says nothing of which step (if any) matched.
            let matches = constantTimeEqual(Array(self.code(secret: secret, step: candidate).utf8), entered)
            let unused = lastStep.map { candidate > $0 } ?? true
            if matches && unused && accepted == nil { accepted = candidate }
        }
        return accepted
    }

    /// RFC 4648 §6 base32, upper case and without padding, as `otpauth://` URIs carry secrets.
    public static func base32(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)
        var text: [UInt8] = []
        text.reserveCapacity((bytes.count * 8 + 4) / 5)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                text.append(alphabet[Int((buffer >> UInt32(bits)) & 31)])
            }
        }
        // The last character takes the remaining bits, padded with zero bits on the right.
        if bits > 0 { text.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)]) }
        return String(decoding: text, as: UTF8.self)
    }

    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
