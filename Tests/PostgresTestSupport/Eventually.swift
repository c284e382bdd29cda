public import PQ

/// Polls `condition` until it holds or `timeout` passes; the wait is bounded, the sync is
/// the observed condition, never the pause. Timing out throws ``TimedOut``, which fails the
/// test that waited.
public func eventually(
    _ what: String,
    timeout: Duration = .seconds(20),
    every interval: Duration = .milliseconds(50),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return }
        if ContinuousClock.now > deadline { throw TimedOut(what: what, after: timeout) }
        try await Task.sleep(for: interval)
    }
}

/// What ``eventually`` throws when its condition never held.
public struct TimedOut: Error, CustomStringConvertible {
    public let what: String
    public let after: Duration
    public var description: String { "timed out after \(after) waiting for \(what)" }

    public init(what: String, after: Duration) {
        self.what = what
        self.after = after
    }
}

/// The database's refusal of `work`, or nil when it went through (or failed otherwise): for
/// tests that show a role may not do something.
public func databaseRefusal(_ work: () async throws -> Void) async -> PQError? {
    do {
        try await work()
        return nil
    } catch let error as PQError {
        return error
    } catch {
        return nil
    }
}
