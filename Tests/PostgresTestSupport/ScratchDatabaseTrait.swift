public import Testing

/// A kind of test database a trait can give each test: ``ScratchDatabase`` (empty) here,
/// Tollgate's migrated `TestDatabase` in TestSupport.
public protocol ScopedTestDatabase: Sendable {
    /// Runs `body` with a database of this kind of its own as the task's current one, dropped
    /// afterwards.
    static func withScoped(_ body: @Sendable () async throws -> Void) async throws
}

/// `@Test(.scratchDatabase)` or `@Test(.postgres)`: the test runs with a database of its own,
/// which it reads as `current` on the database's type. On a suite, every test of the suite
/// gets one.
public struct DatabaseTrait<Database: ScopedTestDatabase>: TestTrait, SuiteTrait, TestScoping {
    public init() {}

    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        // A suite's own scope holds no database; each of its tests gets one.
        guard !test.isSuite else { return try await function() }
        try await Database.withScoped(function)
    }
}

/// `current` read outside a test marked with the database's trait.
public struct MissingDatabaseTrait: Error, CustomStringConvertible {
    public let trait: String
    public init(trait: String) { self.trait = trait }
    public var description: String { "the test database is only set inside a test marked @Test(.\(trait))" }
}

extension Trait where Self == DatabaseTrait<ScratchDatabase> {
    /// An empty database of the test's own (see ``DatabaseTrait``).
    public static var scratchDatabase: Self { DatabaseTrait() }
}

extension ScratchDatabase: ScopedTestDatabase {
    @TaskLocal static var scoped: ScratchDatabase?

    public static func withScoped(_ body: @Sendable () async throws -> Void) async throws {
        try await with { database in try await $scoped.withValue(database) { try await body() } }
    }

    /// The database of the running `@Test(.scratchDatabase)`.
    public static var current: ScratchDatabase {
        get throws {
            guard let scoped else { throw MissingDatabaseTrait(trait: "scratchDatabase") }
            return scoped
        }
    }
}
