public import PostgresTestSupport
public import Testing

extension Trait where Self == DatabaseTrait<TestDatabase> {
    /// A database of the test's own, a clone of the migrated template on the test PostgreSQL
    /// server (see ``DatabaseTrait``).
    public static var postgres: Self { DatabaseTrait() }
}

extension TestDatabase: ScopedTestDatabase {
    @TaskLocal static var scoped: TestDatabase?

    public static func withScoped(_ body: @Sendable () async throws -> Void) async throws {
        try await with { database in try await $scoped.withValue(database) { try await body() } }
    }

    /// The database of the running `@Test(.postgres)`.
    public static var current: TestDatabase {
        get throws {
            guard let scoped else { throw MissingDatabaseTrait(trait: "postgres") }
            return scoped
        }
    }
}
