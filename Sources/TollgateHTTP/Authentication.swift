import Hummingbird
import Logging
import PQ
import TollgateCore

/// Finds the session of a `Bearer` token and keeps it on the request context; the child
/// contexts below then guarantee it to their handlers.
struct SessionMiddleware: RouterMiddleware {
    typealias Context = TollgateRequestContext
    let pool: PQPool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let token = bearerToken(of: request) {
            // A stale token only matters where a session is required (the child contexts
            // refuse there); public routes such as login must not fail because of it.
            do {
                context.principal = try await SessionStore.authenticate(token: token, pool: pool)
            } catch let error as DomainError where error.code == .unauthenticated {
                // No live session: left unset. Any other failure (the database is away)
                // must not look like a revoked token to the dashboard.
            }
            if let principal = context.principal, principal.session.enrollmentOnly, !Self.enrollmentRoutes.contains(request.uri.path) {
                // Offered to no route here: routes that need a session say why (SPEC §13.1).
                context.principal = nil
                context.sessionRefusal = .passkeyEnrollmentRequired
            }
            if let principal = context.principal {
                // Ids (never emails or tokens) on every log line of this request.
                context.logger[metadataKey: "company.id"] = "\(principal.company.id)"
                context.logger[metadataKey: "user.id"] = "\(principal.user.id)"
            }
        }
        return try await next(request, context)
    }

    /// All an enrollment-only session may do: read who it is, add a passkey, log out.
    static let enrollmentRoutes: Set<String> = ["/v1/me", "/v1/me/methods/passkeys/options", "/v1/me/methods/passkeys", "/v1/auth/logout"]
}

/// The token of an `Authorization: Bearer …` header of sane length, or nil.
func bearerToken(of request: Request) -> String? {
    guard let header = request.headers[.authorization], header.count <= 512 else { return nil }
    let parts = header.split(separator: " ", maxSplits: 1)
    guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
    return String(parts[1])
}

/// A request with a live session whose client `Clients` admits; its handlers get the principal
/// unwrapped. The two kinds in use are named below.
struct SessionContext<Clients: SessionClients>: ChildRequestContext {
    var coreContext: CoreRequestContextStorage
    let principal: Principal
    let parent: TollgateRequestContext
    var maxUploadSize: Int { parent.maxUploadSize }

    init(context: TollgateRequestContext) throws {
        guard let principal = context.principal else { throw context.sessionRefusal ?? DomainError.unauthenticated }
        // Defence in depth: with 2FA on, a dashboard session must have passed the code.
        if principal.session.client == .dashboard && principal.company.twoFactorEnabled && !principal.session.twoFactorVerified {
            throw DomainError.unauthenticated
        }
        try Clients.admit(principal.session.client)
        self.coreContext = context.coreContext
        self.principal = principal
        self.parent = context
    }
}

/// A request with a live session of either kind.
typealias AuthenticatedContext = SessionContext<EitherClient>

/// A request with a dashboard session: phone-app sessions are refused here, in one place.
typealias DashboardContext = SessionContext<DashboardClientOnly>

/// Which clients' sessions a `SessionContext` admits.
protocol SessionClients {
    /// Throws the refusal of a live session made by `client`.
    static func admit(_ client: SessionClient) throws
}

/// The dashboard's and the phone app's.
enum EitherClient: SessionClients {
    static func admit(_ client: SessionClient) {}
}

/// The dashboard's alone.
enum DashboardClientOnly: SessionClients {
    static func admit(_ client: SessionClient) throws {
        guard client == .dashboard else { throw DomainError.dashboardSessionRequired }
    }
}
