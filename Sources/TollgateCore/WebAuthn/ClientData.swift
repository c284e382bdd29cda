import Foundation

/// The client data a browser hands the authenticator to sign over (WebAuthn §5.8.1), read from
/// `clientDataJSON`. Members other than these four are ignored, as the spec asks.
struct CollectedClientData: Decodable {
    /// `webauthn.create` or `webauthn.get`.
    enum CeremonyType: String {
        case create = "webauthn.create"
        case get = "webauthn.get"
    }

    let type: String
    /// The challenge as the browser encoded it: unpadded base64url.
    let challenge: String
    let origin: String
    let crossOrigin: Bool?

    /// Far more than any browser sends (a few hundred bytes); bounds what JSON parsing reads.
    static let maxLength = 16_384

    /// Parses `json` and checks it against the ceremony (WebAuthn Level 3 §7.1 steps 7–10,
    /// §7.2 steps 11–14): its type, the challenge (compared in constant time), an allowed origin,
    /// and not a cross-origin frame.
    static func verify(
        _ json: [UInt8],
        type expectedType: CeremonyType,
        challenge expectedChallenge: [UInt8],
        origins: Set<String>
    ) throws(PasskeyRejection) {
        guard json.count <= maxLength else { throw PasskeyRejection(.malformedClientData, detail: "longer than 16 KiB") }
        let data: CollectedClientData
        do {
            data = try JSONDecoder().decode(CollectedClientData.self, from: Data(json))
        } catch {
            throw PasskeyRejection(.malformedClientData, detail: "not a JSON object with string type, challenge and origin")
        }
        guard data.type == expectedType.rawValue else {
            throw PasskeyRejection(.wrongCeremonyType, detail: "expected \(expectedType.rawValue)")
        }
        guard let challenge = Base64URL.decode(data.challenge), !expectedChallenge.isEmpty,
            constantTimeEqual(challenge, expectedChallenge)
        else { throw PasskeyRejection(.challengeMismatch) }
        // Origins are compared as the browser serialized them (scheme://host[:port]), exactly.
        guard origins.contains(data.origin) else { throw PasskeyRejection(.originNotAllowed, detail: "origin \(data.origin.prefix(200))") }
        guard data.crossOrigin != true else { throw PasskeyRejection(.crossOrigin) }
    }

    /// Equal bytes, in a time that depends on the lengths only.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
