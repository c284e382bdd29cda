public import Foundation
public import Logging
import TollgateCore

/// Development delivery (`MAIL_DIRECTORY`): each email becomes `<message-id>.eml` in a folder.
/// In `tollgate dev` (`logCodes`) the code of a code email is also logged at notice level, so a
/// developer can sign in without opening the file; nowhere else. Never used with an SMTP URL.
public final class FileTransport: MailTransport {
    public let directory: URL
    let logCodes: Bool
    let logger: Logger

    public init(directory: String, logCodes: Bool = false, logger: Logger) throws {
        self.directory = URL(fileURLWithPath: directory, isDirectory: true)
        self.logCodes = logCodes
        self.logger = logger
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
    }

    public func send(_ email: OutgoingEmail) async throws {
        let bytes = MIMEMessage.render(email)
        let file = directory.appendingPathComponent("\(email.messageID).eml")
        do {
            // Written whole under a temporary name, then renamed: a reader never sees half a file.
            try Data(bytes).write(to: file, options: .atomic)
        } catch {
            throw MailDeliveryError(kind: .transient, reason: "could not write \(file.lastPathComponent): \(error.localizedDescription)")
        }
        // Whose email it is, masked as every log line names an address (`o***@demo.example`).
        let to = EmailAddress(email.to.address)?.hint ?? "***"
        var metadata: Logger.Metadata = ["email.message_id": "\(email.messageID)", "email.file": "\(file.path)", "email.to": "\(to)"]
        if logCodes, email.template.carriesCode, let code = Self.code(in: email.text) {
            metadata["dev.code"] = "\(code)"
        }
        logger.notice("dev.email_written", metadata: metadata)
    }

    public func shutdown() async {}

    /// The first run of exactly six digits in a code email's text.
    static func code(in text: String) -> String? {
        var run = ""
        for character in text + " " {
            if character.isASCII && character.isNumber {
                run.append(character)
            } else {
                if run.count == 6 { return run }
                run = ""
            }
        }
        return nil
    }
}
