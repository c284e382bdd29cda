import CSodium
import Crypto
public import Foundation

/// Seals the secrets of sign-in methods (an authenticator app's key) for storage: libsodium's
/// secretbox (XSalsa20-Poly1305) with a random nonce, stored as nonce ‖ box (SPEC §13: encrypted
/// at rest under a key derived from `TOLLGATE_SECRET`). A database backup alone reads nothing.
///
/// One key is derived from each configured secret, newest first, as HMAC-SHA-256 of a label
/// that names this use, so the key is never one the MACs of codes and tokens use. The first key
/// seals; every key opens, so rotating `TOLLGATE_SECRET` keeps existing apps working for as long
/// as the old secret stays in the list.
public struct MethodSecretBox: Sendable {
    static let label = Array("tollgate totp secretbox v1".utf8)
    static let nonceBytes = Int(crypto_secretbox_NONCEBYTES)
    static let tagBytes = Int(crypto_secretbox_MACBYTES)

    /// The derived keys, 32 bytes each (`crypto_secretbox_KEYBYTES`), newest first.
    private let keys: [[UInt8]]

    public init(secrets: [[UInt8]]) {
        precondition(!secrets.isEmpty, "at least one secret is required")
        precondition(sodium_init() >= 0, "libsodium failed to initialise")
        keys = secrets.map { secret in
            Array(HMAC<SHA256>.authenticationCode(for: Self.label, using: SymmetricKey(data: secret)))
        }
    }

    public func seal(_ plaintext: [UInt8]) -> Data {
        var nonce = [UInt8](repeating: 0, count: Self.nonceBytes)
        randombytes_buf(&nonce, nonce.count)
        var box = [UInt8](repeating: 0, count: Self.tagBytes + plaintext.count)
        let result = crypto_secretbox_easy(&box, plaintext, UInt64(plaintext.count), nonce, keys[0])
        precondition(result == 0, "crypto_secretbox_easy failed")
        return Data(nonce + box)
    }

    /// nil when no key opens it or it is malformed
    public func open(_ sealed: Data) -> [UInt8]? {
        opened(sealed)?.plaintext
    }

    /// The plaintext, and the same sealed anew under the first key when an older one opened it
    /// (nil when the first did): a caller that writes it back, after a successful use, moves
    /// secrets off a rotated-out `TOLLGATE_SECRET` as they are used.
    public func openRenewing(_ sealed: Data) -> (plaintext: [UInt8], renewed: Data?)? {
        guard let (plaintext, keyIndex) = opened(sealed) else { return nil }
        return (plaintext, keyIndex == 0 ? nil : seal(plaintext))
    }

    private func opened(_ sealed: Data) -> (plaintext: [UInt8], keyIndex: Int)? {
        let bytes = [UInt8](sealed)
        guard bytes.count >= Self.nonceBytes + Self.tagBytes else { return nil }
        let nonce = Array(bytes[..<Self.nonceBytes])
        let box = Array(bytes[Self.nonceBytes...])
        for (index, key) in keys.enumerated() {
            var plaintext = [UInt8](repeating: 0, count: box.count - Self.tagBytes)
            if crypto_secretbox_open_easy(&plaintext, box, UInt64(box.count), nonce, key) == 0 { return (plaintext, index) }
        }
        return nil
    }
}
