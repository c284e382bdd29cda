import CCurl
import Foundation
public import Logging
import NIOPosix
import TollgateCore

/// What `SMTP_URL` says, parsed once.
///
///     smtp://[user:password@]host[:port][/ehlo-name][?starttls=required|optional|never][&timeout=S][&cafile=PATH]
///     smtps://[user:password@]host[:port][...]
///
/// - `smtps://` is TLS from the first byte (usually port 465).
/// - `smtp://` upgrades with STARTTLS: `starttls=required` (the default) refuses to go on
///   without it, `optional` uses it when the server offers it (anyone on the path can strip
///   the offer), `never` stays in clear text. Codes are live secrets, so only an explicit
///   `optional` or `never` sends them unencrypted, and never together with credentials: a URL
///   that would send a password without TLS is refused at start.
/// - `timeout` bounds each message, connection included (seconds, default 30).
/// - `cafile` names a PEM bundle to trust instead of the system's (a private relay's CA).
/// User and password are percent-decoded and given to libcurl apart from the URL, so the URL
/// that is logged never holds them.
public struct SMTPSettings: Sendable, Equatable {
    public enum Security: String, Sendable {
        case implicitTLS = "smtps"
        case startTLSRequired = "required"
        case startTLSOptional = "optional"
        case none = "never"
    }

    /// scheme://host:port/path, without credentials or our options.
    public let url: String
    public let username: String?
    public let password: String?
    public let security: Security
    public let timeoutSeconds: Int
    public let caFile: String?

    public init(url text: String) throws {
        func bad(_ problem: String) -> ConfigurationError { ConfigurationError(variable: "SMTP_URL", problem: problem) }
        guard var components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "smtp" || scheme == "smtps", let host = components.host, !host.isEmpty
        else { throw bad("must be smtp://host[:port] or smtps://host[:port]") }
        username = components.user.flatMap { $0.isEmpty ? nil : $0 }
        password = components.password
        var security: Security = scheme == "smtps" ? .implicitTLS : .startTLSRequired
        var timeout = 30
        var caFile: String?
        for item in components.queryItems ?? [] {
            switch item.name {
            case "starttls":
                guard scheme == "smtp", let value = item.value, let parsed = Security(rawValue: value), parsed != .implicitTLS else {
                    throw bad("starttls is required, optional or never, and only for smtp://")
                }
                security = parsed
            case "timeout":
                guard let value = item.value.flatMap({ Int($0) }), (1...600).contains(value) else {
                    throw bad("timeout is a whole number of seconds from 1 to 600")
                }
                timeout = value
            case "cafile":
                guard let value = item.value, !value.isEmpty else { throw bad("cafile needs a path") }
                caFile = value
            default:
                throw bad("unknown option \(item.name) (known: starttls, timeout, cafile)")
            }
        }
        if username != nil || password != nil, security == .startTLSOptional || security == .none {
            throw bad("carries credentials but allows no TLS (starttls=\(security.rawValue)): use starttls=required or smtps://")
        }
        components.user = nil
        components.password = nil
        components.query = nil
        guard let url = components.string else { throw bad("cannot be rebuilt without its options") }
        self.url = url
        self.security = security
        self.timeoutSeconds = timeout
        self.caFile = caFile
    }
}

/// SMTP through libcurl.
///
/// libcurl blocks, so every call runs on a thread of this transport's own (never Swift's
/// cooperative pool). One easy handle lives as long as the transport, which keeps the SMTP
/// connection open between messages (libcurl's connection cache), so a batch goes over one
/// connection.
public final class SMTPTransport: MailTransport {
    public let settings: SMTPSettings
    let logger: Logger
    private let thread: NIOThreadPool
    private let session: CurlSession

    public init(settings: SMTPSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        self.thread = NIOThreadPool(numberOfThreads: 1)
        self.session = CurlSession(settings: settings)
        thread.start()
    }

    public convenience init(url: String, logger: Logger) throws {
        self.init(settings: try SMTPSettings(url: url), logger: logger)
    }

    public func send(_ email: OutgoingEmail) async throws {
        let session = self.session
        do {
            try await thread.runIfActive { try session.send(email) }
        } catch let error as MailDeliveryError {
            throw error
        } catch {
            throw MailDeliveryError(kind: .transient, reason: "the SMTP transport is shut down")
        }
    }

    public func shutdown() async {
        let session = self.session
        _ = try? await thread.runIfActive { session.close() }
        try? await thread.shutdownGracefully()
    }
}

/// The easy handle and what one transfer needs. Used by one thread at a time (the
/// transport's own), hence `@unchecked Sendable`.
final class CurlSession: @unchecked Sendable {
    private static let globalInit: Void = { _ = curl_global_init(Int(CURL_GLOBAL_ALL)) }()

    let settings: SMTPSettings
    private var handle: UnsafeMutableRawPointer?

    init(settings: SMTPSettings) {
        _ = Self.globalInit
        self.settings = settings
    }

    deinit { close() }

    func close() {
        if let handle {
            curl_easy_cleanup(handle)
            self.handle = nil
        }
    }

    /// What libcurl's debug callback saw: the server's first refusal (4xx/5xx) and the verb
    /// of the command it answered (libcurl goes on to QUIT, whose reply would hide it).
    final class Transcript {
        var lastVerb = ""
        var refusal: String?
        var refusedVerb: String?
    }

    /// The message being uploaded and how far libcurl has read it.
    final class Upload {
        let bytes: [UInt8]
        var offset = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
    }

    func send(_ email: OutgoingEmail) throws {
        if handle == nil { handle = curl_easy_init() }
        guard let curl = handle else { throw MailDeliveryError(kind: .transient, reason: "libcurl could not allocate a handle") }
        let upload = Upload(MIMEMessage.render(email))
        let transcript = Transcript()
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let recipients: UnsafeMutablePointer<curl_slist>? = curl_slist_append(nil, "<\(email.to.address)>")
        defer { curl_slist_free_all(recipients) }

        var responseCode = 0
        let result: CURLcode = withExtendedLifetime((upload, transcript)) {
            errorBuffer.withUnsafeMutableBufferPointer { errorPointer in
                // reset keeps the connection cache: the next message reuses the connection.
                curl_easy_reset(curl)
                tg_curl_setopt_string(curl, CURLOPT_URL, settings.url)
                tg_curl_setopt_string(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps")
                if let username = settings.username { tg_curl_setopt_string(curl, CURLOPT_USERNAME, username) }
                if let password = settings.password { tg_curl_setopt_string(curl, CURLOPT_PASSWORD, password) }
                let useSSL: curl_usessl =
                    switch settings.security {
                    case .implicitTLS, .startTLSRequired: CURLUSESSL_ALL
                    case .startTLSOptional: CURLUSESSL_TRY
                    case .none: CURLUSESSL_NONE
                    }
                tg_curl_setopt_long(curl, CURLOPT_USE_SSL, Int(useSSL.rawValue))
                if let caFile = settings.caFile { tg_curl_setopt_string(curl, CURLOPT_CAINFO, caFile) }
                tg_curl_setopt_long(curl, CURLOPT_TIMEOUT_MS, settings.timeoutSeconds * 1000)
                tg_curl_setopt_long(curl, CURLOPT_CONNECTTIMEOUT_MS, min(settings.timeoutSeconds, 10) * 1000)
                tg_curl_setopt_long(curl, CURLOPT_NOSIGNAL, 1)
                tg_curl_setopt_string(curl, CURLOPT_MAIL_FROM, "<\(email.from.address)>")
                tg_curl_setopt_slist(curl, CURLOPT_MAIL_RCPT, recipients)
                tg_curl_setopt_long(curl, CURLOPT_UPLOAD, 1)
                tg_curl_setopt_long(curl, CURLOPT_INFILESIZE_LARGE, upload.bytes.count)
                tg_curl_setopt_read_function(curl) { buffer, size, count, userdata in
                    guard let buffer, let userdata else { return 0 }
                    let upload = Unmanaged<Upload>.fromOpaque(userdata).takeUnretainedValue()
                    let room = size * count
                    let chunk = min(room, upload.bytes.count - upload.offset)
                    if chunk > 0 {
                        upload.bytes.withUnsafeBufferPointer { source in
                            UnsafeMutableRawPointer(buffer).copyMemory(from: source.baseAddress! + upload.offset, byteCount: chunk)
                        }
                        upload.offset += chunk
                    }
                    return chunk
                }
                tg_curl_setopt_pointer(curl, CURLOPT_READDATA, Unmanaged.passUnretained(upload).toOpaque())
                // The debug callback sees the dialogue; it keeps the server's last reply (for
                // the failure reason) and the verb of our last command, never its arguments
                // (AUTH carries the credentials).
                tg_curl_setopt_long(curl, CURLOPT_VERBOSE, 1)
                tg_curl_setopt_debug_function(curl) { _, type, data, size, userdata in
                    guard let data, let userdata else { return 0 }
                    let transcript = Unmanaged<Transcript>.fromOpaque(userdata).takeUnretainedValue()
                    if type == CURLINFO_HEADER_IN || type == CURLINFO_HEADER_OUT {
                        let text = String(decoding: UnsafeRawBufferPointer(start: data, count: size), as: UTF8.self)
                        let line = text.split(whereSeparator: { $0 == "\r" || $0 == "\n" }).last.map(String.init) ?? ""
                        if type == CURLINFO_HEADER_IN {
                            if transcript.refusal == nil, let first = line.first, first == "4" || first == "5" {
                                transcript.refusal = String(MIMEMessage.oneLine(line).prefix(300))
                                transcript.refusedVerb = transcript.lastVerb
                            }
                        } else {
                            transcript.lastVerb = line.split(separator: " ").first.map { String($0.prefix(10)).uppercased() } ?? ""
                        }
                    }
                    return 0
                }
                tg_curl_setopt_pointer(curl, CURLOPT_DEBUGDATA, Unmanaged.passUnretained(transcript).toOpaque())
                tg_curl_setopt_pointer(curl, CURLOPT_ERRORBUFFER, errorPointer.baseAddress)
                let result = curl_easy_perform(curl)
                tg_curl_getinfo_long(curl, CURLINFO_RESPONSE_CODE, &responseCode)
                // The options point at this call's objects: clear them before the objects go (a
                // QUIT at shutdown would otherwise run the debug callback on freed memory).
                curl_easy_reset(curl)
                return result
            }
        }
        if result == CURLE_OK { return }

        let curlText = String(decoding: errorBuffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let detail = curlText.isEmpty ? String(cString: curl_easy_strerror(result)) : curlText
        var reason = detail
        if let refusal = transcript.refusal {
            // Servers repeat the recipient when they refuse it ("550 <bob@acme.com>: …"); the
            // reason reaches the logs, which carry only the address's hint.
            let hint = EmailAddress(email.to.address)?.hint ?? "***"
            let redacted = refusal.replacingOccurrences(of: email.to.address, with: hint, options: .caseInsensitive)
            reason = "\(detail) (server said: \(redacted.trimmingCharacters(in: .whitespaces)))"
        }
        let status = (400...599).contains(responseCode) ? responseCode : nil
        // Only a 5xx to one of this message's own commands condemns the message; a 5xx to
        // EHLO, STARTTLS or AUTH is the server's or our configuration's problem and may pass.
        let messageVerbs: Set<String> = ["MAIL", "RCPT", "DATA"]
        // 530 to MAIL means "authenticate first" or "STARTTLS first": SMTP_URL is wrong, not the message.
        if let status, (500...599).contains(status), status != 530, result != CURLE_LOGIN_DENIED,
            messageVerbs.contains(transcript.refusedVerb ?? "")
        {
            throw MailDeliveryError(kind: .permanent, smtpStatus: status, reason: reason)
        }
        throw MailDeliveryError(kind: .transient, smtpStatus: status, reason: reason)
    }
}
