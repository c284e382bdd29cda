public import Foundation

/// What a request tells us about its client, for limits, events and emails.
public struct ClientInfo: Sendable, Equatable {
    public var ip: String
    public var userAgent: String?

    public init(ip: String, userAgent: String?) {
        self.ip = ip
        // Stored and mailed, so bounded.
        self.userAgent = userAgent.map { String($0.prefix(512)) }
    }
}
