public import Testing

/// `@Test(.scratchDatabase)`: the test runs with an empty database of its own on the test
/// server, dropped afterwards; the test reads it as ``ScratchDatabase/current``. On a suite,
/// every test of the suite gets one.
public struct ScratchDatabaseTrait: TestTrait, SuiteTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        // A suite's own scope holds no database; each of its tests gets one.
        guard !test.isSuite else { return try await function() }
        try await ScratchDatabase.with { database in
            try await ScratchDatabase.$scoped.withValue(database) { try await function() }
        }
    }
}

extension Trait where Self == ScratchDatabaseTrait {
    /// An empty database of the test's own (see ``ScratchDatabaseTrait``).
    public static var scratchDatabase: Self { ScratchDatabaseTrait() }
}

extension ScratchDatabase {
    @TaskLocal static var scoped: ScratchDatabase?

    /// The database of the running `@Test(.scratchDatabase)`.
    public static var current: ScratchDatabase {
        get throws {
            guard let scoped else { throw MissingTrait() }
            return scoped
        }
    }

    public struct MissingTrait: Error, CustomStringConvertible {
        public var description: String { "ScratchDatabase.current is only set inside a test marked @Test(.scratchDatabase)" }
    }
}
