import Foundation
import Mailer
import Testing
import TollgateCore

/// `SMTP_URL` parsing: the security default, the options, and credentials kept out of the URL.
@Suite struct SMTPSettingsTests {
    @Test func credentialsAreDecodedAndKeptOutOfTheURL() throws {
        let settings = try SMTPSettings(url: "smtp://mailer:p%40ss%20word@mail.example:587/tollgate.example?timeout=12")
        #expect(settings.username == "mailer")
        #expect(settings.password == "p@ss word")
        #expect(settings.url == "smtp://mail.example:587/tollgate.example")
        #expect(settings.timeoutSeconds == 12)
        // Credentials never travel in clear: STARTTLS is required by default with them.
        #expect(settings.security == .startTLSRequired)
    }

    @Test func theSecurityModeFollowsTheSchemeAndTheOption() throws {
        // A plain smtp:// URL requires STARTTLS: a path that strips the offer cannot read codes.
        #expect(try SMTPSettings(url: "smtp://relay.local:25").security == .startTLSRequired)
        #expect(try SMTPSettings(url: "smtp://relay.local:25?starttls=optional").security == .startTLSOptional)
        #expect(try SMTPSettings(url: "smtp://relay.local:25?starttls=never").security == SMTPSettings.Security.none)
        #expect(try SMTPSettings(url: "smtps://mail.example").security == .implicitTLS)
        #expect(try SMTPSettings(url: "smtp://relay.local?cafile=/etc/ca.pem").caFile == "/etc/ca.pem")
    }

    @Test func credentialsWithoutTLSAreRefusedNamingTheVariable() throws {
        for url in ["smtp://u:p@relay.local?starttls=never", "smtp://u:p@relay.local?starttls=optional", "smtp://u@relay.local?starttls=never"] {
            let error = try #require(throws: ConfigurationError.self, "\(url)") { try SMTPSettings(url: url) }
            #expect(error.variable == "SMTP_URL")
            #expect(error.description.contains("credentials"))
            #expect(!error.description.contains("u:p"))
        }
    }

    @Test func badURLsNameTheVariable() {
        for url in ["http://mail.example", "smtp://", "smtp://h?starttls=maybe", "smtps://h?starttls=required", "smtp://h?timeout=0", "smtp://h?x=1"]
        {
            #expect(throws: ConfigurationError.self, "\(url)") { try SMTPSettings(url: url) }
            #expect((try? SMTPSettings(url: url)) == nil)
        }
    }

    @Test func theSubjectIsEncodedAndNeverCarriesTheCode() throws {
        let email = EmailTemplates.activationCode(
            code: "123456",
            expiresAt: .now,
            requestedAt: .now,
            client: ClientInfo(ip: "198.51.100.1", userAgent: "a\r\nBcc: x@y.z"),
            companyName: "Ünïcode\r\nBcc: evil@example.com"
        )
        #expect(!email.subject.contains("123456"))
        #expect(!email.subject.contains("\n"))
        #expect(!email.text.contains("\nBcc:"))
        let rendered = String(
            decoding: MIMEMessage.render(
                OutgoingEmail(
                    from: try #require(Mailbox("Tollgate <a@b.example>")),
                    to: try #require(Mailbox(address: "c@d.example")),
                    messageID: "m@tollgate",
                    date: .now,
                    subject: email.subject,
                    text: email.text,
                    html: email.html,
                    template: .activationCode
                )
            ),
            as: UTF8.self
        )
        let headers = rendered.components(separatedBy: "\r\n\r\n")[0]
        #expect(headers.contains("Subject: =?UTF-8?B?"))
        #expect(!headers.contains("\r\nBcc:"))
        #expect(!headers.contains("123456"))
    }

    /// A company name of one letter and 500 combining marks is one character: split by
    /// character it made a single header line far past SMTP's 998-octet limit.
    @Test func longCharactersStillFoldIntoShortEncodedWords() throws {
        let name = "A" + String(repeating: "\u{0301}", count: 500) + " Ltd"
        let rendered = String(
            decoding: MIMEMessage.render(
                OutgoingEmail(
                    from: try #require(Mailbox("Tollgate <a@b.example>")),
                    to: try #require(Mailbox(address: "c@d.example")),
                    messageID: "m@tollgate",
                    date: .now,
                    subject: "Code for " + name,
                    text: "x",
                    html: "x",
                    template: .loginCode
                )
            ),
            as: UTF8.self
        )
        let headers = rendered.components(separatedBy: "\r\n\r\n")[0]
        let lines = headers.components(separatedBy: "\r\n")
        #expect(lines.allSatisfy { $0.utf8.count <= 998 }, "longest header line: \(lines.map(\.utf8.count).max() ?? 0)")
        let words = lines.flatMap { $0.split(separator: " ") }.filter { $0.hasPrefix("=?UTF-8?B?") }
        #expect(words.count > 10 && words.allSatisfy { $0.count <= 75 }, "RFC 2047: encoded-words of at most 75 characters")
        // The words decode back to the subject.
        var subject = [UInt8]()
        var inSubject = false
        for line in lines {
            if line.hasPrefix("Subject: ") { inSubject = true } else if !line.hasPrefix(" ") { inSubject = false }
            guard inSubject else { continue }
            for word in line.split(separator: " ") where word.hasPrefix("=?UTF-8?B?") {
                subject += try #require(Data(base64Encoded: String(word.dropFirst(10).dropLast(2))))
            }
        }
        #expect(String(decoding: subject, as: UTF8.self) == "Code for " + name)
    }
}
