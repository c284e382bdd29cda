import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TollgateCore

/// The client's IP: the socket's peer, or — only when that peer is a trusted proxy — the
/// nearest address in `X-Forwarded-For` that is not itself a trusted proxy.
struct ClientAddress {
    let trustedProxies: [IPNetwork]

    func clientInfo(for request: Request, context: TollgateRequestContext) -> ClientInfo {
        ClientInfo(ip: ip(for: request, context: context), userAgent: request.headers[.userAgent])
    }

    func ip(for request: Request, context: TollgateRequestContext) -> String {
        let peer = context.remoteAddress?.ipAddress ?? "unknown"
        guard !trustedProxies.isEmpty, isTrusted(peer), let forwarded = request.headers[values: .xForwardedFor].last else { return peer }
        // Walk from the right (the hop closest to us) past our own proxies.
        let hops = request.headers[values: .xForwardedFor].flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        _ = forwarded
        for hop in hops.reversed() {
            guard IPNetwork.parse(hop) != nil else { return peer }
            if !isTrusted(hop) { return hop }
        }
        return hops.first ?? peer
    }

    private func isTrusted(_ address: String) -> Bool {
        trustedProxies.contains { $0.contains(address) }
    }
}

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}
