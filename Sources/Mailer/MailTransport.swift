/// Something that delivers one email at a time: SMTP in production, files in development.
public protocol MailTransport: Sendable {
    /// Delivers `email`, or throws ``MailDeliveryError``. Returning means the next hop
    /// accepted the message (it is then the receiver's responsibility).
    func send(_ email: OutgoingEmail) async throws
    /// Releases connections and threads; called once, when the worker stops.
    func shutdown() async
}

/// Why a delivery failed, and whether trying again may help.
public struct MailDeliveryError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The server or the network may be better later (timeouts, refused connections, 4xx).
        case transient
        /// The server refused this message for good (5xx to MAIL, RCPT or DATA).
        case permanent
    }

    public let kind: Kind
    /// The SMTP reply code, when the server gave one.
    public let smtpStatus: Int?
    /// What went wrong, safe to store and log: no credentials, no message content.
    public let reason: String

    public init(kind: Kind, smtpStatus: Int? = nil, reason: String) {
        self.kind = kind
        self.smtpStatus = smtpStatus
        self.reason = reason
    }

    public var description: String { "\(kind) delivery failure: \(reason)" }
}
