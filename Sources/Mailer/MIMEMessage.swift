public import Foundation
public import TollgateCore

/// A mailbox as written in `MAIL_FROM`: `Name <user@example.com>` or a bare address.
public struct Mailbox: Sendable, Equatable {
    public let displayName: String?
    public let address: String

    /// Parses `Name <address>` or `address`; nil when there is no plausible address.
    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let open = trimmed.lastIndex(of: "<"), trimmed.hasSuffix(">") {
            let address = String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)])
            var name = trimmed[..<open].trimmingCharacters(in: .whitespaces)
            if name.hasPrefix("\""), name.hasSuffix("\""), name.count >= 2 { name = String(name.dropFirst().dropLast()) }
            guard Mailbox.isPlausibleAddress(address) else { return nil }
            self.address = address
            self.displayName = name.isEmpty ? nil : name
        } else {
            guard Mailbox.isPlausibleAddress(trimmed) else { return nil }
            self.address = trimmed
            self.displayName = nil
        }
    }

    public init?(address: String) {
        guard Mailbox.isPlausibleAddress(address) else { return nil }
        self.address = address
        self.displayName = nil
    }

    /// An address the accounts would accept (ASCII, one `@`, no spaces, controls or brackets),
    /// written without surrounding spaces: safe on an SMTP command line and in a header.
    static func isPlausibleAddress(_ text: String) -> Bool {
        EmailAddress(text) != nil && !text.unicodeScalars.contains { $0.value <= 0x20 }
    }

    /// The header form, with a non-ASCII display name encoded per RFC 2047.
    var headerValue: String {
        guard let displayName, !displayName.isEmpty else { return address }
        let clean = MIMEMessage.oneLine(displayName)
        let phrase: String
        if clean.unicodeScalars.allSatisfy({ $0.isASCII }) {
            phrase = "\"" + clean.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        } else {
            phrase = MIMEMessage.encodedWords(clean).joined(separator: " ")
        }
        return "\(phrase) <\(address)>"
    }
}

/// One email ready for a transport.
public struct OutgoingEmail: Sendable {
    public var from: Mailbox
    public var to: Mailbox
    /// Without angle brackets.
    public var messageID: String
    public var date: Date
    public var subject: String
    public var text: String
    public var html: String
    public var template: EmailTemplate

    public init(from: Mailbox, to: Mailbox, messageID: String, date: Date, subject: String, text: String, html: String, template: EmailTemplate) {
        self.from = from
        self.to = to
        self.messageID = messageID
        self.date = date
        self.subject = subject
        self.text = text
        self.html = html
        self.template = template
    }
}

/// RFC 5322 / MIME rendering: multipart/alternative with a UTF-8 text and an HTML part,
/// each base64-encoded (so no line is too long and no line starts with a dot), CRLF line ends.
public enum MIMEMessage {
    public static func render(_ email: OutgoingEmail, boundary: String = "tollgate-" + UUID().uuidString.lowercased()) -> [UInt8] {
        var lines: [String] = [
            "Date: \(rfc5322Date(email.date))",
            "From: \(email.from.headerValue)",
            "To: \(email.to.address)",
            "Message-ID: <\(email.messageID)>",
            "Subject: \(encodedHeader(email.subject))",
            "MIME-Version: 1.0",
            "Auto-Submitted: auto-generated",
            "Content-Type: multipart/alternative; boundary=\"\(boundary)\"",
            "",
            "This is a multi-part message in MIME format.",
        ]
        for (type, body) in [("text/plain", email.text), ("text/html", email.html)] {
            lines.append("--\(boundary)")
            lines.append("Content-Type: \(type); charset=UTF-8")
            lines.append("Content-Transfer-Encoding: base64")
            lines.append("")
            lines.append(contentsOf: base64Lines(Array(normalizedNewlines(body).utf8)))
        }
        lines.append("--\(boundary)--")
        lines.append("")
        return Array(lines.joined(separator: "\r\n").utf8)
    }

    /// A header value: plain when it is short printable ASCII, otherwise RFC 2047
    /// encoded-words (UTF-8, base64) folded onto continuation lines.
    static func encodedHeader(_ value: String) -> String {
        let clean = oneLine(value)
        if clean.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) && clean.utf8.count <= 66 && !clean.contains("=?") {
            return clean
        }
        return encodedWords(clean).joined(separator: "\r\n ")
    }

    /// Encoded-words of at most 75 characters, never splitting a scalar's UTF-8 between two.
    /// (Scalars, not characters: one character can be any number of combining marks long, and
    /// RFC 2047 allows a character to continue in the next word.)
    static func encodedWords(_ text: String) -> [String] {
        var words: [String] = []
        var chunk: [UInt8] = []
        for scalar in text.unicodeScalars {
            let bytes = Array(String(scalar).utf8)
            // 45 bytes of UTF-8 become 60 base64 characters; with "=?UTF-8?B?" and "?=", 72.
            if chunk.count + bytes.count > 45 && !chunk.isEmpty {
                words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty || words.isEmpty { words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=") }
        return words
    }

    /// Control characters (line breaks included) become spaces: a value never adds a header.
    static func oneLine(_ text: String) -> String { EmailTemplates.oneLine(text) }

    private static func normalizedNewlines(_ text: String) -> String {
        text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n").replacingOccurrences(of: "\n", with: "\r\n")
    }

    private static func base64Lines(_ bytes: [UInt8]) -> [String] {
        let encoded = Data(bytes).base64EncodedString()
        var lines: [String] = []
        var index = encoded.startIndex
        while index < encoded.endIndex {
            let end = encoded.index(index, offsetBy: 76, limitedBy: encoded.endIndex) ?? encoded.endIndex
            lines.append(String(encoded[index..<end]))
            index = end
        }
        return lines
    }

    /// `Thu, 20 Nov 2026 10:32:05 +0000`, in UTC and English whatever the machine's locale.
    static func rfc5322Date(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let p = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int?) -> String { (value ?? 0) < 10 ? "0\(value ?? 0)" : "\(value ?? 0)" }
        return "\(days[(p.weekday ?? 1) - 1]), \(two(p.day)) \(months[(p.month ?? 1) - 1]) \(p.year ?? 1970) "
            + "\(two(p.hour)):\(two(p.minute)):\(two(p.second)) +0000"
    }
}
