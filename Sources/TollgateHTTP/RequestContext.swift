public import Hummingbird
public import NIOCore
public import TollgateCore

/// The context of every request: the client's address for limits and events.
public struct TollgateRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The socket's peer, before `X-Forwarded-For` is considered.
    public let remoteAddress: SocketAddress?
    /// Bodies are read up to 64 KiB (SPEC §4); larger ones answer 413.
    public var maxUploadSize: Int { 64 * 1024 }
    /// Set by the session middleware when the request carries a valid token.
    public var principal: Principal?
    /// Why a live session is not offered to this route (an enrollment-only session anywhere but
    /// where a passkey is added): what a route that needs a session answers instead.
    public var sessionRefusal: DomainError?
    /// Set on `/v1/admin/*` when the request carries a live API key.
    public var apiKey: APIKey?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }
}
