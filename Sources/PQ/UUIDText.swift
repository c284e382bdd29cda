public import struct Foundation.UUID

extension UUID {
    /// The canonical lowercase text, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`: what PostgreSQL
    /// prints, and what the API, events and logs show. Foundation's `uuidString` goes through
    /// `snprintf` (some 6,000 instructions, and `lowercased()` copies it again); a verify formats
    /// several ids, so this one walks the 16 bytes itself.
    public var lowercasedString: String {
        withUnsafeBytes(of: uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { text in
                var at = 0
                for (index, byte) in bytes.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        text[at] = UInt8(ascii: "-")
                        at += 1
                    }
                    text[at] = Self.hexDigit(byte >> 4)
                    text[at + 1] = Self.hexDigit(byte & 0x0f)
                    at += 2
                }
                return at
            }
        }
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }
}
