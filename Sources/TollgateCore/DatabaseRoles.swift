/// The database roles the migrations create and grant to (SPEC §9), named from
/// `DATABASE_ROLE_PREFIX`: `<prefix>_api`, `<prefix>_worker`, `<prefix>_support` (login roles)
/// and `<prefix>_support_reader` (NOLOGIN, owns the support views). Roles are cluster-wide, so
/// Tollgate databases sharing a cluster (staging beside production) keep apart by prefix.
///
/// The migration files name the default roles (`tollgate_api`, …); `render` swaps each whole
/// name for the configured one. Checksums stay those of the files.
public struct DatabaseRoles: Sendable, Equatable {
    public static let defaultPrefix = "tollgate"
    public static let `default` = DatabaseRoles(checkedPrefix: defaultPrefix)

    public let prefix: String
    public var api: String { prefix + "_api" }
    public var worker: String { prefix + "_worker" }
    public var support: String { prefix + "_support" }
    public var supportReader: String { prefix + "_support_reader" }

    /// Lower-case letters, digits and `_`, starting with a letter, at most 40 characters, so
    /// every derived name is a plain identifier well under PostgreSQL's 63.
    public init(prefix: String) throws {
        let allowed = prefix.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
        guard let first = prefix.utf8.first, first >= 0x61, first <= 0x7A, allowed, prefix.utf8.count <= 40 else {
            throw ConfigurationError(
                variable: "DATABASE_ROLE_PREFIX",
                problem: "is lower-case letters, digits and _, starting with a letter, at most 40 characters"
            )
        }
        self.prefix = prefix
    }

    private init(checkedPrefix: String) { prefix = checkedPrefix }

    /// The migration text for these roles: every whole-word default role name replaced.
    public func render(_ sql: String) -> String {
        if prefix == Self.defaultPrefix { return sql }
        let defaultName = #/\btollgate_(support_reader|support|worker|api)\b/#.wordBoundaryKind(.simple)
        return sql.replacing(defaultName) { match in prefix + "_" + match.output.1 }
    }
}
