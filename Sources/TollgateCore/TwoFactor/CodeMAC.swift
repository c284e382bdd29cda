import Crypto
public import Foundation

/// HMAC-SHA-256 under the server secrets (`TOLLGATE_SECRET`, newest first): the first signs,
/// every one verifies, so a secret can be rotated without voiding codes in flight.
public struct CodeMAC: Sendable {
    /// The raw secrets; a `SymmetricKey` is made per use (it is not `Sendable`).
    let secrets: [[UInt8]]

    public init(secrets: [[UInt8]]) {
        precondition(!secrets.isEmpty, "at least one secret is required")
        self.secrets = secrets
    }

    private var keys: [SymmetricKey] { secrets.map { SymmetricKey(data: $0) } }

    /// The MAC of a code, bound to its challenge: a code of one challenge can never match
    /// another's.
    public func code(_ code: String, challengeID: UUID) -> Data {
        mac("code:\(challengeID.uuidString.lowercased()):\(code)", key: keys[0])
    }

    /// True when `code` is the one `stored` was made from, under any key; constant-time.
    public func codeMatches(_ code: String, challengeID: UUID, stored: Data) -> Bool {
        var matched = false
        for key in keys {
            let candidate = mac("code:\(challengeID.uuidString.lowercased()):\(code)", key: key)
            // Every key is tried, whatever matched, so timing does not say which.
            matched = Self.constantTimeEqual(candidate, stored) || matched
        }
        return matched
    }

    /// The MACs a token may be stored under, one per key (for the lookup).
    public func tokenCandidates(_ token: String) -> [Data] {
        keys.map { mac("token:\(token)", key: $0) }
    }

    public func token(_ token: String) -> Data {
        mac("token:\(token)", key: keys[0])
    }

    /// The "this wasn't me" token of a login challenge (SPEC §10): derived from the challenge
    /// under the first secret, so every code email of the challenge carries the same link
    /// without the token being kept anywhere; shaped like a bearer token (it names its company).
    public func reportToken(companyID: UUID, challengeID: UUID) -> String {
        let bytes = withUnsafeBytes(of: companyID.uuid) { Array($0) } + Array(mac("not-me:\(challengeID.uuidString.lowercased())", key: keys[0]))
        return Base64URL.encode(bytes)
    }

    private func mac(_ message: String, key: SymmetricKey) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: key))
    }

    static func constantTimeEqual(_ a: Data, _ b: Data) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}

/// What the user typed, with spaces and dashes ignored (SPEC §2); nil when it is not six
/// digits after that, which counts as a wrong code.
public func normalizedCode(_ entry: String) -> String? {
    let kept = entry.filter { $0 != " " && $0 != "-" }
    guard kept.count == 6, kept.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
    return kept
}
