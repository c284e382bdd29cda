import Dispatch
import Foundation
import PQ
import PostgresTestSupport

/// Runs `body`, failing with ``TimedOut`` when it has not finished within `limit`.
func withTimeout<T: Sendable>(
    _ limit: Duration = .seconds(10),
    _ what: String,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TimedOut(what: what, after: limit) }
        return value
    }
}

/// Runs blocking work (process spawning, a direct libpq connection) on a thread outside
/// Swift's cooperative pool, so that tests do not stall each other.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await offCooperativePool(body)
}

/// A one-shot rendezvous for blocking code on pool threads: each party waits until all
/// have arrived (or the limit passes, which reports false).
final class ThreadBarrier: @unchecked Sendable {
    private let lock = NSLock()
    private var arrivedCount = 0
    private let parties: Int
    private let semaphore = DispatchSemaphore(value: 0)

    init(parties: Int) { self.parties = parties }

    func arriveAndWait(limit: DispatchTimeInterval = .seconds(10)) -> Bool {
        let arrived = lock.withLock {
            arrivedCount += 1
            return arrivedCount
        }
        if arrived == parties {
            for _ in 1..<parties { semaphore.signal() }
            return true
        }
        return semaphore.wait(timeout: .now() + limit) == .success
    }
}

/// A counter shared across tasks and threads.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    @discardableResult
    func increment() -> Int {
        lock.withLock {
            value += 1
            return value
        }
    }

    var current: Int { lock.withLock { value } }
}

/// Reads the listener's events one at a time, each wait bounded by a timeout.
/// `@unchecked` because the iterator is only ever used by one waiting task at a time.
final class EventReader: @unchecked Sendable {
    private var iterator: AsyncStream<PQListenerEvent>.Iterator

    init(_ stream: AsyncStream<PQListenerEvent>) { iterator = stream.makeAsyncIterator() }

    /// The next event, or ``TimedOut`` after `limit`.
    func next(_ what: String, limit: Duration = .seconds(10)) async throws -> PQListenerEvent {
        try await withTimeout(limit, what) {
            guard let event = await self.iterator.next() else { throw TimedOut(what: "\(what) (the stream ended)", after: limit) }
            return event
        }
    }
}

/// A result that should have had a row and had none.
struct NoRows: Error {}

extension PQRows {
    /// The first row, or an error; for transaction bodies, which run on a pool thread where
    /// `#require` has no test to report to.
    func firstRow() throws -> PQRow {
        guard let first else { throw NoRows() }
        return first
    }
}
