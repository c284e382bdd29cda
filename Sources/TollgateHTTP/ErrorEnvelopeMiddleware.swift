import Foundation
import Hummingbird
import Logging
import Metrics
import NIOConcurrencyHelpers
import PQ
import TollgateCore

/// Turns every failure into the SPEC §4 envelope: our `APIError`s as they are, Hummingbird's
/// own errors (unknown route, wrong method, body too large) into their envelope, and
/// anything else into a bodiless-of-detail 500 and one log line.
struct ErrorEnvelopeMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as DomainError {
            return try APIError(error).response(from: request, context: context)
        } catch let error as HTTPError {
            return try envelope(for: error, request: request).response(from: request, context: context)
        } catch let error as PQError where error.meansTryAgain {
            // The database is down, failing over (no primary, or only a read-only one), out of
            // connections, too slow, or the transaction lost a race: the transaction was rolled
            // back (or, when the connection broke at COMMIT, its outcome is unknown and a retry
            // finds it), and the same request may succeed soon. SPEC §15: 503, never 500.
            context.logger.warning(
                "http.database_unavailable",
                metadata: ["pq.kind": "\(error.kind)", "pq.sqlstate": "\(error.sqlState ?? "-")", "pq.reason": "\(error.unavailableReason)"]
            )
            Counter(label: "tollgate_db_unavailable_total", dimensions: [("reason", error.unavailableReason)]).increment()
            return try APIError.unavailable(retryAfter: 1).response(from: request, context: context)
        } catch {
            // The type name only: error descriptions may carry values.
            context.logger.error("http.unexpected_error", metadata: ["error.type": "\(type(of: error))"])
            return try APIError.internalError.response(from: request, context: context)
        }
    }

    private func envelope(for error: HTTPError, request: Request) -> APIError {
        switch error.status {
        case .notFound:
            guard let methods = routes.methods(forPath: request.uri.path) else { return .notFound }
            var answer = APIError.methodNotAllowed
            answer.allow = methods
            return answer
        case .contentTooLarge:
            return .payloadTooLarge
        case .unsupportedMediaType:
            return .unsupportedMediaType
        case .badRequest:
            return .invalidRequest(field: "body", "The request could not be read.")
        default:
            return APIError(error.status, error.status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_"), error.status.reasonPhrase)
        }
    }
}

extension PQError {
    /// A failure of the moment rather than of the request: answered 503 with Retry-After.
    var meansTryAgain: Bool {
        isConnectionFailure || isReadOnly || isRetryableTransactionFailure || kind == .poolExhausted || kind == .poolClosed
            || sqlState == "57014"  // statement timeout
    }

    /// Why a request was refused 503, for the log and `tollgate_db_unavailable_total{reason}`:
    /// `connection` and `read_only` are what a failover looks like.
    var unavailableReason: String {
        if isReadOnly { return "read_only" }
        if isConnectionFailure || kind == .poolClosed { return "connection" }
        if kind == .poolExhausted { return "pool_exhausted" }
        if sqlState == "57014" { return "timeout" }
        return "conflict"
    }
}

/// The paths a router serves with their methods, so that a known path with the wrong method
/// answers 405 with `Allow` (RFC 9110) rather than 404. Read from the router itself once
/// every route is registered (``fill(from:)``): the middleware that asks must be added
/// before the routes it wraps, so it holds the table before the table is known.
final class RouteTable: Sendable {
    /// Path patterns split into components (`*` matches one component) and their methods.
    private let routes = NIOLockedValueBox<[(pattern: [Substring], methods: [String])]>([])

    func fill<Context>(from router: Router<Context>) {
        var table: [(pattern: [Substring], methods: [String])] = []
        for route in router.routes {
            let pattern = route.path.description.split(separator: "/").map { $0.hasPrefix("{") ? "*" : $0 }
            if let index = table.firstIndex(where: { $0.pattern == pattern }) {
                table[index].methods.append(route.method.rawValue)
            } else {
                table.append((pattern, [route.method.rawValue]))
            }
        }
        routes.withLockedValue { $0 = table }
    }

    /// The methods a path accepts (`GET` implies `HEAD`), or nil for an unknown path. Where a
    /// literal path and a pattern both match (`/v1/me/sessions/end-others` and
    /// `/v1/me/sessions/{id}`), the router takes the literal one, and so does this answer.
    func methods(forPath path: String) -> String? {
        let parts = path.split(separator: "/")
        let known = routes.withLockedValue { routes in
            routes.filter { route in
                route.pattern.count == parts.count && zip(route.pattern, parts).allSatisfy { $0 == "*" || $0 == $1 }
            }
            .max { $0.pattern.filter { $0 != "*" }.count < $1.pattern.filter { $0 != "*" }.count }?.methods
        }
        guard let known else { return nil }
        let methods = known.contains("GET") && !known.contains("HEAD") ? known + ["HEAD"] : known
        return methods.joined(separator: ", ")
    }
}
