public import Foundation
import PQ

/// A second factor a user can sign in with (SPEC §13.1 `Method`): the email every account has,
/// and the authenticator apps (and later passkeys) the user added and confirmed.
public struct SignInMethod: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case email, totp, passkey
    }

    /// `"email"` for the email method, else the method's UUID in lower case.
    public let id: String
    public let kind: Kind
    public let name: String
    /// When it started to count: the account's creation for email, the confirmation for an app.
    public let createdAt: Date
    /// The last login it completed; nil when never used, and always for email (not tracked).
    public let lastUsedAt: Date?

    /// The email method's fixed id: it is no row of `user_methods`.
    public static let emailID = "email"

    /// The kind as people read it, in notices and events ("authenticator app").
    public var kindName: String {
        switch kind {
        case .email: "email"
        case .totp: "authenticator app"
        case .passkey: "passkey"
        }
    }
}

/// A started authenticator-app enrollment (SPEC §13.1): the secret is shown this once, as
/// base32 text and inside the `otpauth://` URI the QR code carries; it is stored sealed.
public struct TOTPEnrollment: Sendable {
    public let id: UUID
    /// The 20-byte secret in base32 (RFC 4648, no padding), as apps take it when typed.
    public let secret: String
    public let otpauthURI: String
}

/// The `otpauth://totp/…` URI authenticator apps read from a QR code (Google Authenticator's
/// Key URI Format): `otpauth://totp/<issuer>:<account>?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`.
/// The issuer is the company's name, which is how people recognise the entry in their app.
public enum OTPAuthURI {
    /// At most this many characters of the company's name: apps show a short line, and the URI
    /// stays well within what one QR code holds (under 2,000 bytes with a 254-byte address).
    static let issuerLength = 40

    public static func make(secret: String, issuer companyName: String, account: String) -> String {
        let issuer = self.issuer(companyName)
        return "otpauth://totp/" + encode(issuer) + ":" + encode(account) + "?secret=" + secret + "&issuer=" + encode(issuer)
            + "&algorithm=SHA1&digits=\(TOTP.digits)&period=\(TOTP.stepSeconds)"
    }

    /// The company's name as the issuer: one line, no colon (it separates issuer and account in
    /// the label, and some apps split on it even when encoded), at most 40 characters; "Tollgate"
    /// when nothing is left.
    static func issuer(_ companyName: String) -> String {
        let kept = EmailTemplates.oneLine(companyName).replacingOccurrences(of: ":", with: " ").trimmingSpaces()
        let short = String(kept.prefix(issuerLength)).trimmingSpaces()
        return short.isEmpty ? "Tollgate" : short
    }

    /// RFC 3986 percent-encoding of everything but the unreserved characters (a space is %20,
    /// never `+`, and `@` is %40), byte by byte of the UTF-8.
    static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let unreserved =
                (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x2D || byte == 0x2E || byte == 0x5F || byte == 0x7E
            if unreserved {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }
}
