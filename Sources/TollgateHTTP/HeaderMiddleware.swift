import HTTPTypes
import Hummingbird

/// `Cache-Control: no-store` on every API answer (they carry tokens and account state),
/// HSTS when serving HTTPS, and CORS for exactly the allowed origins (``AllowedOrigins``;
/// preflights answered; `Retry-After` exposed, so a dashboard on another origin can show when to
/// try again).
struct HeaderMiddleware<Context: RequestContext>: RouterMiddleware {
    let allowedOrigins: AllowedOrigins
    let hsts: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let origin = request.headers[.origin]
        var originAllowed = false
        if let origin { originAllowed = await allowedOrigins.allows(origin) }
        if request.method == .options, originAllowed, request.headers[.accessControlRequestMethod] != nil {
            var response = Response(status: .noContent)
            decorate(&response, origin: origin)
            response.headers[.accessControlAllowMethods] = "GET, POST, PATCH, DELETE, OPTIONS"
            response.headers[.accessControlAllowHeaders] = "Authorization, Content-Type"
            response.headers[.accessControlMaxAge] = "600"
            return response
        }
        var response = try await next(request, context)
        if originAllowed { decorate(&response, origin: origin) }
        if request.uri.path.hasPrefix("/v1/") { response.headers[.cacheControl] = "no-store" }
        if hsts { response.headers[.strictTransportSecurity] = "max-age=31536000; includeSubDomains" }
        return response
    }

    private func decorate(_ response: inout Response, origin: String?) {
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.accessControlExposeHeaders] = "Retry-After"
        response.headers[.vary] = "Origin"
    }
}
