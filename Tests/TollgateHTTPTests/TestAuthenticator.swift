import Crypto
import Foundation
import Testing
import TollgateCore

/// A software passkey for the API tests: one P-256 key, `none` attestation, answering the
/// server's options JSON the way a browser's `toJSON()` would. Its counter is settable, so a
/// clone (the same key with a lower counter) is one copy away. (The ceremonies' table tests use
/// the richer builder in TollgateCoreTests; `Tests/browser` uses Python's soft-webauthn and
/// Chromium's virtual authenticator, independent implementations.)
struct TestAuthenticator: Sendable {
    /// The private key's raw bytes (the swift-crypto key type is not `Sendable`).
    let privateKey = Array(P256.Signing.PrivateKey().rawRepresentation)
    var key: P256.Signing.PrivateKey { try! P256.Signing.PrivateKey(rawRepresentation: privateKey) }
    let credentialID = SecureRandom.bytes(16)
    var signCount: UInt32 = 0
    var origin: String

    init(origin: String) { self.origin = origin }

    /// The COSE_Key of the public key: EC2, ES256, P-256, x and y (RFC 9053 §7.1.1).
    var coseKey: [UInt8] {
        let point = Array(key.publicKey.rawRepresentation)
        return [0xA5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20] + point[..<32] + [0x22, 0x58, 0x20] + point[32...]
    }

    /// `navigator.credentials.create()`'s JSON for creation `options` (from the server).
    mutating func register(_ options: [String: Any]) throws -> [String: any Sendable] {
        let rpID = try #require(((options["rp"] as? [String: Any])?["id"]) as? String)
        let challenge = try #require(options["challenge"] as? String)
        let clientData = clientDataJSON("webauthn.create", challenge)
        var authData = self.authData(rpID: rpID, flags: 0x45)
        authData += [UInt8](repeating: 0, count: 16) + [0, UInt8(credentialID.count)]
        authData += credentialID + coseKey
        // {"fmt": "none", "attStmt": {}, "authData": …}
        var attestation: [UInt8] = [0xA3, 0x63] + Array("fmt".utf8)
        attestation += [0x64] + Array("none".utf8)
        attestation += [0x67] + Array("attStmt".utf8) + [0xA0]
        attestation += [0x68] + Array("authData".utf8)
        // A byte string's length in its shortest form, as the strict decoder requires.
        attestation += (authData.count < 256 ? [0x58, UInt8(authData.count)] : [0x59, UInt8(authData.count >> 8), UInt8(authData.count & 0xFF)])
        attestation += authData
        let id = Base64URL.encode(credentialID)
        return [
            "id": id, "rawId": id, "type": "public-key", "clientExtensionResults": [String: String](), "authenticatorAttachment": "platform",
            "response": [
                "clientDataJSON": Base64URL.encode(clientData), "attestationObject": Base64URL.encode(attestation), "transports": ["internal"],
            ] as [String: any Sendable],
        ]
    }

    /// `navigator.credentials.get()`'s JSON for request `options`: signs with the next counter.
    mutating func assert(_ options: [String: Any], userHandle: [UInt8]? = nil) throws -> [String: any Sendable] {
        let rpID = try #require(options["rpId"] as? String)
        let challenge = try #require(options["challenge"] as? String)
        signCount += 1
        let clientData = clientDataJSON("webauthn.get", challenge)
        let authData = self.authData(rpID: rpID, flags: 0x05)
        let signature = try key.signature(for: authData + Array(SHA256.hash(data: clientData))).derRepresentation
        let id = Base64URL.encode(credentialID)
        var response: [String: any Sendable] = [
            "clientDataJSON": Base64URL.encode(clientData), "authenticatorData": Base64URL.encode(authData),
            "signature": Base64URL.encode(Array(signature)),
        ]
        if let userHandle { response["userHandle"] = Base64URL.encode(userHandle) }
        return ["id": id, "rawId": id, "type": "public-key", "clientExtensionResults": [String: String](), "response": response]
    }

    private func clientDataJSON(_ type: String, _ challenge: String) -> [UInt8] {
        Array(#"{"type":"\#(type)","challenge":"\#(challenge)","origin":"\#(origin)","crossOrigin":false}"#.utf8)
    }

    /// RP ID hash ‖ flags (UP 0x01, UV 0x04, AT 0x40) ‖ the counter, big-endian.
    private func authData(rpID: String, flags: UInt8) -> [UInt8] {
        Array(SHA256.hash(data: Array(rpID.utf8))) + [flags] + (0..<4).reversed().map { UInt8(truncatingIfNeeded: signCount >> (8 * $0)) }
    }
}
