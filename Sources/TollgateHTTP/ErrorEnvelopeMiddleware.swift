import Hummingbird
import Foundation
import Logging
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
        } catch {
            // The type name only: error descriptions may carry values.
            context.logger.error("http.unexpected_error", metadata: ["error.type": "\(type(of: error))"])
            return try APIError.internalError.response(from: request, context: context)
        }
    }

    private func envelope(for error: HTTPError, request: Request) -> APIError {
        switch error.status {
        case .notFound:
            return routes.knowsPath(request.uri.path) ? .methodNotAllowed : .notFound
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

/// The paths the API serves, so that a known path with the wrong method answers 405.
struct RouteTable: Sendable {
    /// Path patterns split into components; `*` matches one component.
    private(set) var patterns: [[Substring]] = []

    mutating func add(_ path: String) {
        patterns.append(path.split(separator: "/").map { $0.hasPrefix(":") ? "*" : $0 })
    }

    func knowsPath(_ path: String) -> Bool {
        let parts = path.split(separator: "/")
        return patterns.contains { pattern in
            pattern.count == parts.count && zip(pattern, parts).allSatisfy { $0 == "*" || $0 == $1 }
        }
    }
}
