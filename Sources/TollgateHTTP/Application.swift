public import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
import NIOCore
public import PQ
public import ServiceLifecycle
public import TollgateCore

/// Builds the HTTP application: the routes of SPEC §4 over the given database pool.
///
/// `tollgate serve` and `tollgate dev` call this with the environment's settings; tests call
/// it with theirs and drive it through `app.test(...)`.
public func buildApplication(
    http: HTTPSettings,
    domain: DomainSettings,
    pool: PQPool,
    logger: Logger,
    services: [any Service] = []
) throws -> some ApplicationProtocol {
    let router = try buildRouter(http: http, domain: domain, pool: pool, logger: logger)
    // Slow or idle clients cannot hold a connection: a deadline for each request head, an idle
    // timeout, and far smaller header limits than the defaults (80 KiB, 1000 fields).
    let headerDeadline = TimeAmount.seconds(Int64(http.headerTimeout))
    var server: HTTPServerBuilder = .http1(
        configuration: .init(
            additionalChannelHandlers: [HeaderDeadlineHandler(deadline: headerDeadline)],
            idleTimeout: .seconds(60),
            httpDecoderConfiguration: .init(maxHeaderFieldSize: 16 * 1024, maxHeaderListSize: 32 * 1024, maxHeaderFieldCount: 100)
        )
    )
    if let certificatePath = http.tlsCertificatePath, let keyPath = http.tlsKeyPath {
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificatePath).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: keyPath, format: .pem))
        )
        server = try .tls(server, tlsConfiguration: tls)
    }
    return Application(
        router: router,
        server: server,
        configuration: ApplicationConfiguration(address: .hostname(http.host, port: http.port), serverName: "tollgate"),
        services: [pool, Purger.api(pool: pool, limits: domain.limits, logger: logger)] + services,
        logger: logger
    )
}

/// The operations listener: `/metrics` and the two health checks, on a port of its own so
/// that cross-tenant counts never reach the public API port. `serve` runs it on
/// `METRICS_PORT` (with `countsChallenges`), the worker on `WORKER_METRICS_PORT`, both on
/// `HOST`; `services` run with it (the worker's pool and drain), none for `serve`, whose
/// API application owns the pool.
public func buildMetricsApplication(
    host: String,
    port: Int,
    pool: PQPool,
    countsChallenges: Bool,
    serverName: String,
    logger: Logger,
    services: [any Service]
) throws -> some ApplicationProtocol {
    Application(
        router: try buildMetricsRouter(pool: pool, countsChallenges: countsChallenges, logger: logger),
        configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: serverName),
        services: services,
        logger: logger
    )
}

/// The email worker's own small HTTP server (`WORKER_METRICS_PORT`), with the worker as one
/// of `services`, stopped after the server.
public func buildWorkerApplication(
    host: String,
    port: Int,
    pool: PQPool,
    logger: Logger,
    services: [any Service]
) throws -> some ApplicationProtocol {
    try buildMetricsApplication(
        host: host,
        port: port,
        pool: pool,
        countsChallenges: false,
        serverName: "tollgate-worker",
        logger: logger,
        services: [pool] + services
    )
}

/// The operations router alone (metrics and health); tests drive it directly.
public func buildMetricsRouter(pool: PQPool, countsChallenges: Bool, logger: Logger) throws -> Router<TollgateRequestContext> {
    let router = Router(context: TollgateRequestContext.self)
    let routes = RouteTable()
    router.add(middleware: ErrorEnvelopeMiddleware(routes: routes))
    HealthRoutes(pool: pool, migrator: Migrator(migrations: try Migration.bundled(), logger: logger)).register(on: router)
    MetricsRoute(pool: pool, countsChallenges: countsChallenges).register(on: router)
    routes.fill(from: router)
    return router
}

/// The router alone; tests drive it with Hummingbird's router test framework.
public func buildRouter(http: HTTPSettings, domain: DomainSettings, pool: PQPool, logger: Logger) throws -> Router<TollgateRequestContext> {
    let router = Router(context: TollgateRequestContext.self)
    let dependencies = DomainDependencies(
        pool: pool,
        settings: domain,
        hasher: PasswordHasher(concurrency: http.maxConcurrentHashes),
        logger: logger
    )
    let challenges = ChallengeService(dependencies)
    let login = LoginService(dependencies, challenges: challenges)
    let services = AppServices(
        pool: pool,
        login: login,
        challenges: challenges,
        twoFactor: TwoFactorService(dependencies),
        passwords: PasswordService(dependencies, login: login),
        clientAddress: ClientAddress(trustedProxies: http.trustedProxies)
    )
    let routes = RouteTable()
    // One line per request with its request id (`hb.request.id`); no headers, so no tokens.
    router.add(middleware: LogRequestsMiddleware(.info))
    let origins = AllowedOrigins(fixed: http.corsAllowedOrigins, publicURL: domain.defaultLinkBase, pool: pool)
    router.add(middleware: HeaderMiddleware(allowedOrigins: origins, hsts: http.tlsCertificatePath != nil))
    router.add(middleware: ErrorEnvelopeMiddleware(routes: routes))
    router.add(middleware: MetricsMiddleware())
    HealthRoutes(pool: pool, migrator: Migrator(migrations: try Migration.bundled(), logger: logger)).register(on: router)
    OperationsRoutes(pool: pool, openAPI: try OperationsRoutes.loadOpenAPI()).register(on: router)
    try DashboardRoutes(settings: http).register(on: router)

    let v1 = router.group("v1").add(middleware: SessionMiddleware(pool: pool))
    let authenticated = v1.group(context: AuthenticatedContext.self)
    AuthRoutes(services: services).register(public: v1, authenticated: authenticated)
    SecurityRoutes(services: services).register(on: v1.group(context: DashboardContext.self))
    SessionRoutes(services: services, sessions: SessionList(dependencies)).register(
        authenticated: authenticated,
        dashboard: v1.group(context: DashboardContext.self)
    )
    let methods = MethodService(dependencies, login: login)
    MethodRoutes(methods: methods, clientAddress: services.clientAddress).register(on: v1.group(context: DashboardContext.self))
    PasskeyRoutes(methods: methods, challenges: challenges, clientAddress: services.clientAddress)
        .register(public: v1, dashboard: v1.group(context: DashboardContext.self))
    TeamRoutes(methods: methods, clientAddress: services.clientAddress).register(on: v1.group(context: DashboardContext.self))
    let admin = AdminService(dependencies)
    AdminRoutes(admin: admin, clientAddress: services.clientAddress).register(
        on: v1.group("admin").add(middleware: APIKeyMiddleware(admin: admin, clientAddress: services.clientAddress)).group(context: AdminContext.self)
    )
    routes.fill(from: router)
    return router
}
