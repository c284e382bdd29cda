public import Hummingbird
public import Logging
public import PQ
public import TollgateCore
public import ServiceLifecycle

/// Builds the HTTP application: the routes of SPEC §4 over the given database pool.
///
/// `tollgate serve` and `tollgate dev` call this with the environment's configuration; tests
/// call it with theirs and drive it through `app.test(...)`.
public func buildApplication(
    configuration: TollgateConfiguration,
    pool: PQPool,
    logger: Logger,
    services: [any Service] = []
) throws -> some ApplicationProtocol {
    let router = try buildRouter(configuration: configuration, pool: pool, logger: logger)
    return Application(
        router: router,
        server: .http1(configuration: .init(idleTimeout: .seconds(60))),
        configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port), serverName: "tollgate"),
        services: [pool] + services,
        logger: logger
    )
}

/// The router alone (tests use it with `.router` test framework).
public func buildRouter(configuration: TollgateConfiguration, pool: PQPool, logger: Logger) throws -> Router<TollgateRequestContext> {
    let router = Router(context: TollgateRequestContext.self)
    var routes = RouteTable()
    routes.add("/health/live")
    routes.add("/health/ready")
    router.add(middleware: ErrorEnvelopeMiddleware(routes: routes))
    let migrationsVersion = try Migration.bundled().last?.version ?? 0
    HealthRoutes(pool: pool, expectedMigration: migrationsVersion).register(on: router)
    return router
}
