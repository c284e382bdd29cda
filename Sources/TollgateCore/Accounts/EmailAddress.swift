/// An email address normalised once, here: trimmed and lower-cased, so that uniqueness and
/// login compare case-insensitively (SPEC §1).
public struct EmailAddress: Hashable, Sendable, CustomStringConvertible {
    /// The normalised address.
    public let value: String

    /// Accepts plausible addresses only: ASCII (so look-alike characters from other scripts
    /// cannot pose as another account), one `@`, a local part of 1–64 and a dotted domain.
    public init?(_ text: String) {
        let trimmed = text.trimmingSpaces().lowercased()
        guard trimmed.utf8.count >= 3, trimmed.utf8.count <= 254 else { return nil }
        guard trimmed.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F }) else { return nil }
        let parts = trimmed.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, (1...64).contains(parts[0].count) else { return nil }
        let domain = parts[1]
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, labels.allSatisfy({ !$0.isEmpty && $0.count <= 63 }) else { return nil }
        guard domain.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }) else { return nil }
        guard !parts[0].contains(where: { "()<>[]\\,;:\"".contains($0) }) else { return nil }
        value = trimmed
    }

    /// `j***@acme.com`: enough for a person to recognise their address, no more.
    public var hint: String {
        guard let at = value.firstIndex(of: "@") else { return "***" }
        return "\(value.first.map(String.init) ?? "")***\(value[at...])"
    }

    /// Logs carry the hint, never the full address.
    public var description: String { hint }
}

extension String {
    func trimmingSpaces() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}
