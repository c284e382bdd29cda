import Foundation

/// An IPv4 or IPv6 address block (`10.0.0.0/8`, `::1`), for `TRUSTED_PROXIES`.
public struct IPNetwork: Sendable, Equatable {
    let address: [UInt8]
    let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPNetwork.parse(String(parts[0])) else { return nil }
        let maximum = address.count * 8
        if parts.count == 2 {
            guard let length = Int(parts[1]), (0...maximum).contains(length) else { return nil }
            prefixLength = length
        } else {
            prefixLength = maximum
        }
        self.address = address
    }

    /// True when `text` is an address inside this block.
    public func contains(_ text: String) -> Bool {
        guard let candidate = IPNetwork.parse(text), candidate.count == address.count else { return false }
        var remaining = prefixLength
        for index in address.indices where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if candidate[index] & mask != address[index] & mask { return false }
            remaining -= bits
        }
        return true
    }

    /// Parses an address into its bytes (4 or 16), or nil. An IPv4-mapped IPv6 address
    /// (`::ffff:10.0.0.1`, as a dual-stack socket reports IPv4 peers) is its IPv4 address.
    public static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            let bytes = withUnsafeBytes(of: &v6) { Array($0) }
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF { return Array(bytes[12...]) }
            return bytes
        }
        return nil
    }

    /// Who a per-IP limit counts: an IPv4 address, or the /64 of an IPv6 one (a subscriber
    /// holds a whole /64, so counting single addresses would let one client use billions).
    public static func rateLimitSubject(_ text: String) -> String {
        guard let bytes = parse(text) else { return text }
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 8, by: 2).map { String(format: "%02x%02x", bytes[$0], bytes[$0 + 1]) }.joined(separator: ":") + "::/64"
    }
}
