import Foundation
import Mailer
import Testing
import TollgateCore

/// `tollgate dev`'s mail folder: each email a file, and a code email's code logged with whose
/// it is (the masked address), never the whole address.
@Suite struct FileTransportTests {
    @Test func aCodeEmailIsWrittenAndItsCodeLoggedWithTheMaskedRecipient() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-mail-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let captured = CapturedLog()
        let transport = try FileTransport(directory: folder.path, logCodes: true, logger: captured.logger())
        let email = OutgoingEmail(
            from: try #require(Mailbox("Tollgate <no-reply@demo.example>")),
            to: try #require(Mailbox("owner@demo.example")),
            messageID: "\(UUID().uuidString.lowercased())@tollgate",
            date: Date(),
            subject: "Your login code",
            text: "Your code is 482913. It expires at 10:42.",
            html: "<p>482913</p>",
            template: .loginCode
        )
        try await transport.send(email)
        let file = folder.appendingPathComponent("\(email.messageID).eml")
        #expect(try String(contentsOf: file, encoding: .utf8).contains("To: owner@demo.example"))
        let line = try #require(captured.text.split(separator: "\n").first { $0.contains("dev.email_written") })
        #expect(line.contains("482913"))
        #expect(line.contains("o***@demo.example"), "\(line)")
        #expect(!line.contains("owner@demo.example"), "the whole address never reaches a log line")
    }
}
