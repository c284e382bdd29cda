/// Where and how the programs reach PostgreSQL (`DATABASE_*`, SPEC §7, §9).
public struct DatabaseSettings: Sendable {
    /// `DATABASE_URL`, a libpq connection string or URI; nil only in `tollgate dev`, which then
    /// runs a private cluster.
    public var url: String?
    /// A direct (not pooled) connection for the worker's LISTEN (`WORKER_LISTEN_DATABASE_URL`);
    /// nil: `url`.
    public var listenURL: String?
    /// The role names `migrate` grants to (`DATABASE_ROLE_PREFIX`); nil: as first migrated.
    public var roles: DatabaseRoles?
    /// Seconds any one statement of `serve` or `worker` may run (`DATABASE_STATEMENT_TIMEOUT`).
    public var statementTimeout: Int = 10
    /// Connections of `serve`'s pool (`DATABASE_POOL_SIZE`).
    public var poolSize: Int = 4

    public init() {}

    /// `requireURL` is false only for `tollgate dev`.
    public init(environment reader: EnvironmentReader, requireURL: Bool = true) throws {
        url = reader.string("DATABASE_URL")
        if requireURL && url == nil {
            throw ConfigurationError(variable: "DATABASE_URL", problem: "is required (a libpq connection string or URI)")
        }
        listenURL = reader.string("WORKER_LISTEN_DATABASE_URL")
        roles = try reader.string("DATABASE_ROLE_PREFIX").map { try DatabaseRoles(prefix: $0) }
        statementTimeout = try reader.integer("DATABASE_STATEMENT_TIMEOUT", default: statementTimeout, range: 1...3600)
        poolSize = try reader.integer("DATABASE_POOL_SIZE", default: poolSize, range: 1...100)
    }
}
