import Dispatch
import EmbeddedPostgres
import Foundation
import PQ
import PostgresTestSupport
import Testing

/// The pool bounds its waiters, replaces broken connections, survives a server restart and
/// never blocks Swift's cooperative threads.
@Suite struct PQPoolTests {
    /// The holder sleeps 2 s after taking the only connection (and, so that a slow machine
    /// cannot let it finish first, also waits for a lock released only after the check).
    @Test func aCallerGivesUpWithPoolExhaustedWhileTheOnlyConnectionIsBusy() async throws {
        try await ScratchDatabase.with { database in
            let gate = try await blocking { try LockGate(conninfo: database.conninfo(as: .owner), key: 4545) }
            gate.openAfter(seconds: 30)
            let pool = database.pool(maxConnections: 1, acquireTimeout: .milliseconds(300))
            let (holding, holdingSignal) = AsyncStream<Void>.makeStream()
            let holder = Task {
                try await pool.withConnection { connection in
                    holdingSignal.yield()
                    try connection.query("SELECT pg_sleep(2), pg_advisory_xact_lock_shared(4545)")
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
            // Bounded: the holder cannot finish before the gate opens (after this check), so
            // `.poolExhausted` already shows the caller gave up; the loose bound says it did not
            // hang either, without timing the machine (a loaded CI delays timers by seconds).
            #expect(waited < .seconds(10))
            try await blocking { gate.open(byValve: false) }
            _ = try await holder.value
            // Once the holder is done the pool serves again.
            #expect(try await pool.query("SELECT 1 AS one").first?.decode("one", as: Int.self) == 1)
            await pool.close()
        }
    }

    /// Holds the only connection of `pool` until `gate` opens; returns once it is held.
    static func occupy(_ pool: PQPool, until gate: LockGate, key: Int) async throws -> Task<Void, any Error> {
        let (holding, holdingSignal) = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await pool.withConnection { connection in
                holdingSignal.yield()
                try connection.query("SELECT pg_advisory_xact_lock_shared(\(key))")
            }
        }
        _ = try await withTimeout(.seconds(10), "the holder to get its connection") {
            var iterator = holding.makeAsyncIterator()
            return await iterator.next() != nil
        }
        return holder
    }

    /// A caller whose task is already cancelled when it starts to wait must not wait for the
    /// acquire timeout (nor run its query once a connection frees up).
    @Test func aCancelledCallerStopsWaitingForAConnection() async throws {
        try await ScratchDatabase.with { database in
            let gate = try await blocking { try LockGate(conninfo: database.conninfo(as: .owner), key: 4343) }
            gate.openAfter(seconds: 30)
            let pool = database.pool(maxConnections: 1, acquireTimeout: .seconds(20))
            let holder = try await Self.occupy(pool, until: gate, key: 4343)
            let ran = Counter()
            let caller = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                _ = try await pool.withConnection { _ in ran.increment() }
            }
            let outcome = try await withTimeout(.seconds(10), "the cancelled caller to give up") { () -> String in
                do {
                    try await caller.value
                    return "ran"
                } catch is CancellationError {
                    return "cancelled"
                } catch {
                    return "\(error)"
                }
            }
            #expect(outcome == "cancelled")
            try await blocking { gate.open(byValve: false) }
            try await holder.value
            #expect(ran.current == 0)
            // The pool still works, with its one connection.
            #expect(try await pool.query("SELECT 1 AS one").first?.decode("one", as: Int.self) == 1)
            #expect(pool.usage.waiting == 0)
            await pool.close()
        }
    }

    /// With a zero acquire timeout a caller fails at once instead of waiting forever (the timer
    /// could fire before the waiter was queued).
    @Test func aZeroAcquireTimeoutFailsAtOnceWhenBusy() async throws {
        try await ScratchDatabase.with { database in
            let gate = try await blocking { try LockGate(conninfo: database.conninfo(as: .owner), key: 4444) }
            // The valve only matters when the test fails; on a machine so busy that twenty attempts
            // take half a minute, a shorter one would let the holder go before they are done.
            gate.openAfter(seconds: 120)
            let pool = database.pool(maxConnections: 1, acquireTimeout: .zero)
            let holder = try await Self.occupy(pool, until: gate, key: 4444)
            for attempt in 1...20 {
                let kind = try await withTimeout(.seconds(10), "attempt \(attempt) to give up") { () -> PQError.Kind? in
                    do {
                        try await pool.query("SELECT 1")
                        return nil
                    } catch let error as PQError {
                        return error.kind
                    }
                }
                #expect(kind == .poolExhausted)
            }
            try await blocking { gate.open(byValve: false) }
            try await holder.value
            await pool.close()
        }
    }

    /// A borrower that leaves a transaction open must not hand it to the next one.
    @Test func aConnectionReturnedInsideATransactionIsNotReused() async throws {
        try await ScratchDatabase.with { database in
            let pool = database.pool(as: .owner, maxConnections: 1)
            try await pool.query("CREATE TABLE drafts (body text)")
            let leaked = try await pool.withConnection { connection in
                try connection.execute(unsafeSQL: "BEGIN")
                try connection.query("INSERT INTO drafts VALUES (\("never committed"))")
                return connection.backendPID
            }
            let row = try #require(
                try await pool.query("SELECT pg_backend_pid() AS pid, (SELECT count(*) FROM drafts) AS n")
                    .first
            )
            #expect(try row.decode("pid", as: Int.self) != leaked)
            #expect(try row.decode("n", as: Int.self) == 0)
            await pool.close()
        }
    }

    @Test func aClosedPoolFailsItsWaitersAndLaterCallers() async throws {
        try await ScratchDatabase.with { database in
            let gate = try await blocking { try LockGate(conninfo: database.conninfo(as: .owner), key: 4646) }
            gate.openAfter(seconds: 30)
            let pool = database.pool(maxConnections: 1, acquireTimeout: .seconds(20))
            let holder = try await Self.occupy(pool, until: gate, key: 4646)
            let (queued, queuedSignal) = AsyncStream<Void>.makeStream()
            let waiter = Task { () -> PQError.Kind? in
                queuedSignal.yield()
                do {
                    try await pool.query("SELECT 1")
                    return nil
                } catch let error as PQError {
                    return error.kind
                }
            }
            _ = try await withTimeout(.seconds(10), "the waiter to start") {
                var iterator = queued.makeAsyncIterator()
                return await iterator.next() != nil
            }
            // The waiter may not have queued yet; either way it must end with .poolClosed.
            let closing = Task { await pool.close() }
            let kind = try await withTimeout(.seconds(10), "the waiter to be failed") { try await waiter.value }
            #expect(kind == .poolClosed)
            try await blocking { gate.open(byValve: false) }
            _ = try await holder.value
            await closing.value
            let later = try await #require(throws: PQError.self) { try await pool.query("SELECT 1") }
            #expect(later.kind == .poolClosed)
        }
    }

    /// A shutdown that stops waiting (its task cancelled) must not hang on a statement stuck
    /// behind a lock: the pool asks the server to cancel it.
    @Test func aCancelledCloseCancelsTheStatementsStillRunning() async throws {
        try await ScratchDatabase.with { database in
            let gate = try await blocking { try LockGate(conninfo: database.conninfo(as: .owner), key: 4747) }
            gate.openAfter(seconds: 30)
            let pool = database.pool(maxConnections: 1, acquireTimeout: .seconds(20))
            let holder = try await Self.occupy(pool, until: gate, key: 4747)
            // Wait until the holder's statement really waits for the lock, not merely about to.
            let observer = database.pool(as: .owner, maxConnections: 1)
            _ = try await withTimeout(.seconds(10), "the statement to wait for the lock") {
                while try await observer.query(
                    "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = 4747 AND NOT granted"
                ).first?.decode("n", as: Int.self) != 1 {
                    try await Task.sleep(for: .milliseconds(50))
                }
                return true
            }
            await observer.close()
            let closing = Task { await pool.close() }
            closing.cancel()
            let error = try await #require(throws: PQError.self) { try await holder.value }
            #expect(error.sqlState == "57014", "\(error)")
            await closing.value
            #expect(gate.openedByValve == nil, "the lock was still held: the statement was cancelled, not released")
            try await blocking { gate.open(byValve: false) }
        }
    }

    @Test func aTerminatedConnectionIsReplacedAndTheNextQuerySucceeds() async throws {
        try await ScratchDatabase.with { database in
            let pool = database.pool(maxConnections: 1)
            let admin = database.pool(as: .owner, maxConnections: 1)
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

    /// 100 slow queries on a pool of 4 first wait for an advisory lock that only a pure-Swift
    /// async task releases, after it has done its work. If the blocking libpq calls ran on a
    /// strictly sized cooperative pool (as on Darwin), the queries stuck on the lock would occupy
    /// it, the task could never run, and only the safety valve (60 s) would open the lock: the
    /// test checks who did. Linux's libdispatch adds threads when its workers block, which hides
    /// that, so the bodies also check that they run outside any Swift task.
    @Test func slowQueriesDoNotStarveTheCooperativePool() async throws {
        try await ScratchDatabase.with { database in
            let gate = try await blocking { try LockGate(conninfo: database.conninfo(as: .owner), key: 4242) }
            // The valve only guards against a deadlock; a healthy run opens the gate in well under a
            // second, but the whole suite on two cores can delay it far past ten.
            gate.openAfter(seconds: 60)
            let pool = database.pool(maxConnections: 4, acquireTimeout: .seconds(180))
            let finished = Counter()
            let started = Counter()
            let bodiesOnSwiftTasks = Counter()
            let (firstStarted, firstStartedSignal) = AsyncStream<Void>.makeStream()
            let finishedWhenOtherWorkDone = try await withThrowingTaskGroup(of: Int?.self) { group in
                for _ in 0..<100 {
                    group.addTask {
                        try await pool.withConnection { connection in
                            if started.increment() == 1 { firstStartedSignal.yield() }
                            // A body running inside a Swift task would be blocking a cooperative thread.
                            if withUnsafeCurrentTask(body: { $0 != nil }) { bodiesOnSwiftTasks.increment() }
                            try connection.query("SELECT pg_advisory_xact_lock_shared(4242), pg_sleep(0.2)")
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
                    let snapshot = finished.current
                    try await blocking { gate.open(byValve: false) }
                    return snapshot
                }
                var snapshot: Int?
                for try await result in group {
                    if let result { snapshot = result }
                }
                return snapshot
            }
            #expect(bodiesOnSwiftTasks.current == 0, "libpq calls ran on Swift's cooperative threads")
            #expect(gate.openedByValve == false, "the async task could not run while the queries waited")
            #expect(try #require(finishedWhenOtherWorkDone) == 0)
            #expect(finished.current == 100)
            await pool.close()
        }
    }
}

/// An exclusive advisory lock held on a connection of its own, released once, either by the
/// test or by a safety valve; it remembers which.
final class LockGate: @unchecked Sendable {
    private let lock = NSLock()
    private var connection: PQConnection?
    private var valve: Bool?

    init(conninfo: String, key: Int) throws {
        let connection = try PQConnection.connect(conninfo)
        try connection.query("SELECT pg_advisory_lock(\(key))")
        self.connection = connection
    }

    /// Opens the gate from a dispatch thread after `seconds`, so a starved test still ends.
    func openAfter(seconds: Int) {
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(seconds)) { self.open(byValve: true) }
    }

    func open(byValve: Bool) {
        lock.withLock {
            guard let connection else { return }
            _ = try? connection.query("SELECT pg_advisory_unlock_all()")
            self.connection = nil
            valve = byValve
        }
    }

    var openedByValve: Bool? { lock.withLock { valve } }
}
