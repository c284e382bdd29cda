public import Foundation

/// The scheme, host and port of a web address, as browsers name an origin
/// (`https://example.com`, `http://localhost:8080`): lower case, the default port left out.
public struct WebOrigin: Sendable, Hashable {
    public let scheme: String
    public let host: String
    public let port: Int?

    /// The origin of an `http` or `https` address with a host; nil for anything else.
    public init?(_ address: String) {
        guard let parts = URLComponents(string: address), let scheme = parts.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = parts.host?.lowercased(), !host.isEmpty
        else { return nil }
        self.scheme = scheme
        self.host = host
        let defaultPort = scheme == "https" ? 443 : 80
        self.port = parts.port == defaultPort ? nil : parts.port
    }

    /// The same origin named `localhost` when its host is a loopback address.
    var loopbackAsLocalhost: WebOrigin {
        ["127.0.0.1", "[::1]", "::1"].contains(host) ? WebOrigin(scheme: scheme, host: "localhost", port: port) : self
    }

    private init(scheme: String, host: String, port: Int?) {
        self.scheme = scheme
        self.host = host
        self.port = port
    }

    /// What `Origin` headers and `clientDataJSON.origin` carry.
    public var serialized: String { scheme + "://" + host + (port.map { ":\($0)" } ?? "") }

    /// A DNS name as a relying party ID must be: letters, digits, hyphens and dots, at most 253
    /// characters, no empty label. (An IP address is no valid RP ID; browsers refuse it.)
    static func isHostName(_ text: String) -> Bool {
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        return text.utf8.count <= 253 && !labels.isEmpty
            && labels.allSatisfy { label in
                (1...63).contains(label.utf8.count) && label.first != "-" && label.last != "-"
                    && label.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") }
            }
    }
}

extension DomainSettings {
    /// A company's relying party (SPEC §13): `WEBAUTHN_RP_ID`, else the host of its dashboard,
    /// else of `PUBLIC_URL` (or the server's own address). Its ceremonies may run on the pages
    /// of `PUBLIC_URL` and of the company's dashboard; the browser itself refuses an RP ID the
    /// page's host is not equal to or under.
    ///
    /// A server on a loopback address (`tollgate dev`, tests) serves its passkeys as
    /// `localhost`: browsers refuse an IP address as an RP ID but treat `http://localhost` as a
    /// secure context, so the dashboard works there.
    public func relyingParty(for company: Company) -> RelyingParty {
        let base = WebOrigin(defaultLinkBase).map { $0.loopbackAsLocalhost }
        let dashboard = company.dashboardURL.flatMap(WebOrigin.init).map { $0.loopbackAsLocalhost }
        let id = webAuthnRPID ?? dashboard?.host ?? base?.host ?? "localhost"
        return RelyingParty(id: id, origins: Set([base, dashboard].compactMap { $0?.serialized }))
    }
}
