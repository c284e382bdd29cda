import Foundation
import PQ
import TestSupport
import TollgateCore
import Testing

/// The pool bounds its waiters, replaces broken connections, survives a server restart and
/// never blocks Swift's cooperative threads.
@Suite struct PQPoolTests {
    @Test func aCallerGivesUpWithPoolExhaustedWhileTheOnlyConnectionIsBusy() async throws {
        try await TestDatabase.with { database in
            let pool = database.pool(maxConnections: 1, acquireTimeout: .milliseconds(300))
            let (holding, holdingSignal) = AsyncStream<Void>.makeStream()
            let holder = Task {
                try await pool.withConnection { connection in
                    holdingSignal.yield()
                    try connection.query("SELECT pg_sleep(2)")
                }
            }
            // Wait until the holder really has the connection.
            _ = try await withTimeout(.seconds(10), "the holder to get its connection") {
                var iterator = holding.makeAsyncIterator()
                return await iterator.next() != nil
            }
            let clock = ContinuousClock()
            let started = clock.now
            let error = try await #require(throws: PQError.self) { try await pool.query("SELECT 1") }
            let waited = clock.now - started
            #expect(error.kind == .poolExhausted)
            // It gave up before the holder finished (a generous bound: the holder sleeps 2 s).
            #expect(waited < .milliseconds(1800))
            try await holder.value
            // Once the holder is done the pool serves again.
            #expect(try await pool.query("SELECT 1 AS one").first?.decode("one", as: Int.self) == 1)
            await pool.close()
        }
    }

    @Test func aTerminatedConnectionIsReplacedAndTheNextQuerySucceeds() async throws {
        try await TestDatabase.with { database in
            let pool = database.pool(maxConnections: 1)
            let admin = database.pool(role: nil, maxConnections: 1)
            let first = try #require(try await pool.query("SELECT pg_backend_pid() AS pid").first).decode("pid", as: Int.self)
            // Waits (up to 5 s) until the backend has really gone.
            let terminated = try #require(
                try await admin.query("SELECT pg_terminate_backend(\(Int32(first)), 5000) AS done").first
            ).decode("done", as: Bool.self)
            #expect(terminated)
            let second = try #require(try await pool.query("SELECT pg_backend_pid() AS pid").first).decode("pid", as: Int.self)
            #expect(second != first)
            // A transaction on the replacement works too.
            let value = try await pool.withTransaction { tx in try tx.query("SELECT 2 AS two").firstRow().decode("two", as: Int.self) }
            #expect(value == 2)
            #expect(pool.usage.open == 1)
            await admin.close()
            await pool.close()
        }
    }

    @Test func thePoolSurvivesAServerRestartWithoutBeingRecreated() async throws {
        let folder = NSTemporaryDirectory() + "tollgate-restart-\(UUID().uuidString.prefix(8))"
        let cluster = EmbeddedPostgres(dataDirectory: folder, fast: true, logger: TestPostgres.logger)
        defer {
            cluster.stop()
            try? FileManager.default.removeItem(atPath: folder)
        }
        try await blocking { try cluster.start() }
        let pool = PQPool(configuration: PQPoolConfiguration(conninfo: cluster.conninfo(), maxConnections: 2), logger: TestPostgres.logger)
        // Two connections, so that more than one idle connection is left dead by the restart.
        async let a = pool.withConnection { connection in try connection.query("SELECT pg_backend_pid() AS pid, pg_sleep(0.1)") }
        async let b = pool.withConnection { connection in try connection.query("SELECT pg_backend_pid() AS pid, pg_sleep(0.1)") }
        _ = try await (a, b)
        let before = try #require(try await pool.query("SELECT pg_postmaster_start_time() AS started").first).decode("started", as: Date.self)

        try await blocking { try cluster.restart() }

        let after = try #require(try await pool.query("SELECT pg_postmaster_start_time() AS started").first).decode("started", as: Date.self)
        #expect(after > before)
        let value = try await pool.withTransaction { tx in try tx.query("SELECT 3 AS three").firstRow().decode("three", as: Int.self) }
        #expect(value == 3)
        await pool.close()
    }

    /// 100 slow queries on a pool of 4 take about 5 s; an unrelated async task must finish
    /// while they are still running, because the blocking libpq calls stay on the pool's own
    /// threads. The signal is the count of finished queries when the other task is done.
    @Test func slowQueriesDoNotStarveTheCooperativePool() async throws {
        try await TestDatabase.with { database in
            let pool = database.pool(maxConnections: 4, acquireTimeout: .seconds(60))
            let finished = Counter()
            let started = Counter()
            let (firstStarted, firstStartedSignal) = AsyncStream<Void>.makeStream()
            let finishedWhenOtherWorkDone = try await withThrowingTaskGroup(of: Int?.self) { group in
                for _ in 0..<100 {
                    group.addTask {
                        try await pool.withConnection { connection in
                            if started.increment() == 1 { firstStartedSignal.yield() }
                            try connection.query("SELECT pg_sleep(0.2)")
                        }
                        finished.increment()
                        return nil
                    }
                }
                group.addTask {
                    // Start once the slow queries occupy the pool's threads.
                    var iterator = firstStarted.makeAsyncIterator()
                    _ = await iterator.next()
                    var sum = 0
                    for step in 0..<2_000 {
                        await Task.yield()
                        sum &+= step
                    }
                    // A small child-task workload too.
                    let squares = await withTaskGroup(of: Int.self) { inner in
                        for value in 0..<50 { inner.addTask { value * value } }
                        return await inner.reduce(0, +)
                    }
                    #expect(sum == 1_999_000)
                    #expect(squares == 40_425)
                    return finished.current
                }
                var snapshot: Int?
                for try await result in group {
                    if let result { snapshot = result }
                }
                return snapshot
            }
            let doneAt = try #require(finishedWhenOtherWorkDone)
            #expect(doneAt < 100, "the other task only finished after \(doneAt) of 100 queries")
            #expect(finished.current == 100)
            await pool.close()
        }
    }
}
