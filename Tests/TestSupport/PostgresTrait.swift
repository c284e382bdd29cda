public import Testing

/// `@Test(.postgres)`: the test runs with a database of its own, a clone of the migrated
/// template on the test PostgreSQL server, dropped afterwards; the test reads it as
/// ``TestDatabase/current``. On a suite, every test of the suite gets one.
public struct PostgresTrait: TestTrait, SuiteTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        // A suite's own scope holds no database; each of its tests gets one.
        guard !test.isSuite else { return try await function() }
        try await TestDatabase.with { database in
            try await TestDatabase.$scoped.withValue(database) { try await function() }
        }
    }
}

extension Trait where Self == PostgresTrait {
    /// A database of the test's own (see ``PostgresTrait``).
    public static var postgres: Self { PostgresTrait() }
}

extension TestDatabase {
    @TaskLocal static var scoped: TestDatabase?

    /// The database of the running `@Test(.postgres)`.
    public static var current: TestDatabase {
        get throws {
            guard let scoped else { throw MissingTrait() }
            return scoped
        }
    }

    public struct MissingTrait: Error, CustomStringConvertible {
        public var description: String { "TestDatabase.current is only set inside a test marked @Test(.postgres)" }
    }
}
