import Crypto
public import Foundation
import PQ

/// HMAC-SHA-256 under the server secrets (`TOLLGATE_SECRET`, newest first): the first signs,
/// every one verifies, so a secret can be rotated without voiding codes in flight.
public struct SecretMAC: Sendable {
    /// One prepared HMAC per secret, in the same order.
    private let keys: [PreparedHMAC]

    public init(secrets: [[UInt8]]) {
        precondition(!secrets.isEmpty, "at least one secret is required")
        self.keys = secrets.map(PreparedHMAC.init(secret:))
    }

    /// The MAC of a code, bound to its challenge: a code of one challenge can never match
    /// another's.
    public func code(_ code: String, challengeID: UUID) -> Data {
        mac("code:\(challengeID.lowercasedString):\(code)", key: keys[0])
    }

    /// True when `code` is the one `stored` was made from, under any key; constant-time.
    public func codeMatches(_ code: String, challengeID: UUID, stored: Data) -> Bool {
        var matched = false
        for key in keys {
            let candidate = mac("code:\(challengeID.lowercasedString):\(code)", key: key)
            // Every key is tried, whatever matched, so timing does not say which.
            matched = Self.constantTimeEqual(candidate, stored) || matched
        }
        return matched
    }

    /// The MACs a token may be stored under, one per key (for the lookup).
    public func tokenCandidates(_ token: String) -> [Data] {
        keys.map { mac("token:\(token)", key: $0) }
    }

    /// The WebAuthn challenge to send for a stored seed, under the first key. The database
    /// keeps only the seed, so reading it does not tell an issued challenge.
    func webAuthnChallenge(seed: Data) -> [UInt8] {
        webAuthnChallenge(seed: seed, key: keys[0])
    }

    /// The WebAuthn challenges a stored seed may have been sent as, one per key, the first
    /// key's first (for the answer's check).
    func webAuthnChallenges(seed: Data) -> [[UInt8]] {
        keys.map { webAuthnChallenge(seed: seed, key: $0) }
    }

    private func webAuthnChallenge(seed: Data, key: PreparedHMAC) -> [UInt8] {
        Array(mac("webauthn:" + Base64URL.encode(Array(seed)), key: key))
    }

    public func token(_ token: String) -> Data {
        mac("token:\(token)", key: keys[0])
    }

    /// The "this wasn't me" token of a login challenge (SPEC §10): derived from the challenge
    /// under the first secret, so every code email of the challenge carries a link without the
    /// token being kept anywhere. Shaped like a bearer token, 48 bytes: the company (so the
    /// tenant is set before the lookup), the challenge, and a 128-bit tag over the challenge.
    public func reportToken(companyID: UUID, challengeID: UUID) -> String {
        reportToken(companyID: companyID, challengeID: challengeID, key: keys[0])
    }

    private func reportToken(companyID: UUID, challengeID: UUID, key: PreparedHMAC) -> String {
        let company = withUnsafeBytes(of: companyID.uuid) { Array($0) }
        let challenge = withUnsafeBytes(of: challengeID.uuid) { Array($0) }
        return Base64URL.encode(company + challenge + Array(reportTag(challengeID, key: key)))
    }

    private func reportTag(_ challengeID: UUID, key: PreparedHMAC) -> Data {
        mac("not-me:\(challengeID.lowercasedString)", key: key).prefix(16)
    }

    /// The MACs a "this wasn't me" token's challenge may be stored under. The stored MAC is of
    /// the token as made when the challenge began, under the first secret then; after a
    /// rotation its later emails carry the token made under the new first secret. So a token
    /// whose tag is right under any secret stands for its challenge's token as made under each
    /// secret, and each of those is a candidate. Anything else (a link of an earlier version,
    /// or made up) is looked up as itself.
    public func reportTokenCandidates(_ token: String) -> [Data] {
        guard let bytes = Base64URL.decode(token), bytes.count == 48 else { return tokenCandidates(token) }
        let companyID = UUID(uuid: Self.uuidBytes(bytes, from: 0))
        let challengeID = UUID(uuid: Self.uuidBytes(bytes, from: 16))
        let tag = Data(bytes[32..<48])
        var authentic = false
        for key in keys {
            // Every key is tried, whatever matched, so timing does not say which.
            authentic = Self.constantTimeEqual(reportTag(challengeID, key: key), tag) || authentic
        }
        guard authentic else { return tokenCandidates(token) }
        return keys.map { key in mac("token:" + reportToken(companyID: companyID, challengeID: challengeID, key: key), key: key) }
    }

    private static func uuidBytes(_ bytes: [UInt8], from start: Int) -> uuid_t {
        let b = Array(bytes[start..<(start + 16)])
        return (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15])
    }

    private func mac(_ message: String, key: PreparedHMAC) -> Data {
        key.authenticationCode(for: message)
    }

    static func constantTimeEqual(_ a: Data, _ b: Data) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}

/// An HMAC-SHA-256 with its key already absorbed: `HMAC(key:)` pads the key and hashes a block
/// for each of the inner and outer hashes (and allocates on the way), some 6,000 instructions,
/// and a verify makes two to four MACs. Each MAC starts from a copy of this one instead, which
/// gives the same bytes as `HMAC.authenticationCode(for:using:)`.
///
/// `@unchecked Sendable`: swift-crypto's `HMAC` is a value whose hash states are classes copied
/// on write (`isKnownUniquelyReferenced`, checked by every update); `start` is never updated,
/// only copied, so threads sharing it only read it.
private struct PreparedHMAC: @unchecked Sendable {
    let start: HMAC<SHA256>

    init(secret: [UInt8]) {
        start = HMAC<SHA256>(key: SymmetricKey(data: secret))
    }

    func authenticationCode(for message: String) -> Data {
        var hmac = start
        hmac.update(data: Array(message.utf8))
        return Data(hmac.finalize())
    }
}

/// What the user typed, with spaces and dashes ignored (SPEC §2); nil when it is not six
/// digits after that, which counts as a wrong code.
public func normalizedCode(_ entry: String) -> String? {
    let kept = entry.filter { $0 != " " && $0 != "-" }
    guard kept.count == 6, kept.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
    return kept
}
