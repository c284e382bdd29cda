import Foundation
import NIOCore
public import TollgateCore

/// What the HTTP server reads from its environment: the listener, TLS, CORS, the proxies whose
/// `X-Forwarded-For` counts, request deadlines, the metrics port and the dashboard's files.
public struct HTTPSettings: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    /// Serve HTTPS directly (`TLS_CERT_PATH` and `TLS_KEY_PATH`, both or neither).
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    public var corsAllowedOrigins: [String] = []
    public var trustedProxies: [IPNetwork] = []
    /// Password hashes computed at once; more wait briefly, then get 503
    /// (`PASSWORD_HASH_CONCURRENCY`). By default one per core this process may use, at most
    /// ``defaultMaxConcurrentHashes``: each Argon2id hash keeps a core busy, and more threads
    /// than cores only share them, slower (bench/RESULTS.md, round four).
    public var maxConcurrentHashes: Int = HTTPSettings.usableCores(atMost: HTTPSettings.defaultMaxConcurrentHashes)
    /// Seconds a client has to send a complete request head (`HTTP_HEADER_TIMEOUT`).
    public var headerTimeout: Int = 10
    /// Where `serve` (and `dev`) serve `/metrics` and health checks (`METRICS_PORT`), on `host`;
    /// nil: nowhere. Never the API's port: the page shows counts across companies.
    public var metricsPort: Int?
    /// Where the reference dashboard's files are read from at each request instead of the
    /// shipped copy (`DASHBOARD_DIRECTORY`, for working on the pages).
    public var dashboardDirectory: String?
    /// The API's origin when the dashboard is served from another one (`DASHBOARD_API_URL`).
    public var dashboardAPIURL: String?

    /// This server's own address, where links in emails point without `PUBLIC_URL`.
    public var serverURL: String { "http://\(host):\(port)" }

    public init() {}

    /// The default's ceiling: each hash holds 19 MiB while it runs, so a process on a large
    /// machine (or in a container that limits its memory but not its CPUs) keeps its hashing
    /// memory at 8 × 19 = 152 MiB unless told otherwise.
    public static let defaultMaxConcurrentHashes = 8

    /// The cores this process may use, at most `limit`: the fewest of the CPUs in its affinity
    /// mask (`taskset`, a cpuset; Linux lists them in /proc/self/status) and NIO's count (which
    /// reads a cgroup's CPU quota, not the mask).
    static func usableCores(atMost limit: Int) -> Int {
        var cores = System.coreCount
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let field = "Cpus_allowed_list:"
        if let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
            let allowed = cpuCount(inList: String(line.dropFirst(field.count)))
        {
            cores = min(cores, allowed)
        }
        return min(limit, max(1, cores))
    }

    /// How many CPUs a Linux CPU list such as "0-3,8,10-11" names; nil when it is not one.
    static func cpuCount(inList list: String) -> Int? {
        var count = 0
        for part in list.split(separator: ",") {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
                .map { Int($0.trimmingCharacters(in: .whitespaces)) }
            switch bounds.count {
            case 1:
                guard bounds[0] != nil else { return nil }
                count += 1
            case 2:
                guard let first = bounds[0], let last = bounds[1], first <= last else { return nil }
                count += last - first + 1
            default:
                return nil
            }
        }
        return count > 0 ? count : nil
    }

    public init(environment reader: EnvironmentReader) throws {
        host = reader.string("HOST") ?? host
        port = try reader.integer("PORT", default: port, range: 0...65535)
        tlsCertificatePath = reader.string("TLS_CERT_PATH")
        tlsKeyPath = reader.string("TLS_KEY_PATH")
        if (tlsCertificatePath == nil) != (tlsKeyPath == nil) {
            throw ConfigurationError(
                variable: tlsCertificatePath == nil ? "TLS_CERT_PATH" : "TLS_KEY_PATH",
                problem: "TLS_CERT_PATH and TLS_KEY_PATH go together"
            )
        }
        corsAllowedOrigins = try reader.list("CORS_ALLOWED_ORIGINS").map { origin in
            // Exact origins only: `*` would let any site drive the API with a stolen token.
            guard origin.hasPrefix("http://") || origin.hasPrefix("https://"), !origin.hasSuffix("/") else {
                throw ConfigurationError(
                    variable: "CORS_ALLOWED_ORIGINS",
                    problem: "each origin is scheme://host[:port], without a path (no wildcard)"
                )
            }
            return origin
        }
        trustedProxies = try reader.list("TRUSTED_PROXIES").map { text in
            guard let network = IPNetwork(text) else {
                throw ConfigurationError(variable: "TRUSTED_PROXIES", problem: "each entry is an IP address or CIDR block")
            }
            return network
        }
        maxConcurrentHashes = try reader.integer("PASSWORD_HASH_CONCURRENCY", default: maxConcurrentHashes, range: 1...64)
        headerTimeout = try reader.integer("HTTP_HEADER_TIMEOUT", default: headerTimeout, range: 1...300)
        dashboardDirectory = reader.string("DASHBOARD_DIRECTORY")
        dashboardAPIURL = try reader.webAddress(
            "DASHBOARD_API_URL",
            problem: "is the API's origin, scheme://host[:port], without a path",
            allowed: { $0 != "\"" && $0 != "'" && $0 != ";" }
        )
        metricsPort = try reader.integer("METRICS_PORT", range: 1...65535)
        if metricsPort == port {
            throw ConfigurationError(variable: "METRICS_PORT", problem: "must differ from PORT (metrics never share the API's port)")
        }
    }
}
