import Foundation
public import Logging
import NIOConcurrencyHelpers
import NIOPosix
public import ServiceLifecycle

/// How a pool connects and how far it stretches.
public struct PQPoolConfiguration: Sendable {
    /// A libpq connection string or URI.
    public var conninfo: String
    /// Keywords that replace parts of `conninfo` (for example `user` or `dbname`).
    public var overrides: [(String, String)]
    /// The most connections open at once (and the size of the thread pool that runs them).
    public var maxConnections: Int
    /// How long a caller waits for a free connection before ``PQError/Kind/poolExhausted``.
    public var acquireTimeout: Duration
    /// `statement_timeout` for every transaction, in milliseconds (0 = none).
    public var statementTimeoutMilliseconds: Int
    public var applicationName: String
    /// A call that has waited this long for the server is abandoned (its connection shut
    /// down, the caller told the connection was lost); nil: never. Set it somewhat above the
    /// statement timeout, so that only a server that stopped answering meets it.
    public var abandonCallsAfter: Duration?

    public init(
        conninfo: String,
        overrides: [(String, String)] = [],
        maxConnections: Int = 4,
        acquireTimeout: Duration = .seconds(5),
        statementTimeoutMilliseconds: Int = 10_000,
        applicationName: String = "tollgate"
    ) {
        self.conninfo = conninfo
        self.overrides = overrides
        self.maxConnections = max(1, maxConnections)
        self.acquireTimeout = acquireTimeout
        self.statementTimeoutMilliseconds = max(0, statementTimeoutMilliseconds)
        self.applicationName = applicationName
    }
}

/// Transaction isolation levels.
public enum PQIsolation: String, Sendable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}

/// A bounded pool of libpq connections whose calls run on a thread pool of its own.
///
/// Waiting for a connection is asynchronous and bounded by the acquire timeout; broken
/// connections are dropped and replaced, and a connection failure at the start of a unit
/// of work (as after a server restart) is retried once on a fresh connection. Who gets what
/// is decided by ``PQPoolState``; this class runs its answers: libpq calls, closing
/// connections included, on the pool's threads, and the waiters' continuations.
public final class PQPool: Service, Sendable {
    public let configuration: PQPoolConfiguration
    let logger: Logger
    let threadPool: NIOThreadPool
    let locked: NIOLockedValueBox<Locked>

    /// A waiter is resumed with a connection, or with nil: a slot was freed for it to open one.
    typealias Waiter = CheckedContinuation<PQConnection?, any Error>
    typealias State = PQPoolState<PQConnection, Waiter>

    struct Locked {
        var state: State
        /// Connections running a caller's work right now, cancelled if the pool closes meanwhile.
        var working: [ObjectIdentifier: PQConnection] = [:]
        var roundTrips = 0
        /// Connections dropped because they broke or reached a read-only server, and
        /// connections opened since to replace them (what a failover looks like from here).
        var lost = 0
        var reconnects = 0
        /// The one task that fails the waiters whose acquire timeout passed.
        var timer: Task<Void, Never>?
        /// Abandons calls stuck on a server that stopped answering (``PQPoolConfiguration/abandonCallsAfter``).
        var watchdog: Task<Void, Never>?
    }

    public init(configuration: PQPoolConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.threadPool = NIOThreadPool(numberOfThreads: configuration.maxConnections)
        self.locked = NIOLockedValueBox(Locked(state: State(maxConnections: configuration.maxConnections)))
        threadPool.start()
        if let limit = configuration.abandonCallsAfter { startWatchdog(limit) }
    }

    /// Round trips to the server made through this pool so far (every statement, BEGIN and
    /// COMMIT included): what tests count to hold hot paths to their budget.
    public var roundTrips: Int {
        locked.withLockedValue { $0.roundTrips }
    }

    /// Connections lost (broken, or on a server that turned read-only) and replacements opened
    /// since, over the pool's life (for metrics: a failover shows as a step in both).
    public var failoverCounts: (lost: Int, reconnects: Int) {
        locked.withLockedValue { ($0.lost, $0.reconnects) }
    }

    /// Connections borrowed right now and callers waiting for one (for metrics).
    public var usage: (inUse: Int, waiting: Int, open: Int) {
        locked.withLockedValue { ($0.state.inUse, $0.state.waiting, $0.state.open) }
    }

    /// Runs until graceful shutdown, then closes the pool.
    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }

    /// Refuses new work, fails the waiters, closes idle connections and stops the threads once
    /// the statements still running end. If the closing task is cancelled meanwhile (a
    /// shutdown past its deadline), the server is asked to cancel those statements.
    public func close() async {
        let (actions, timer, watchdog) = locked.withLockedValue { ($0.state.close(), $0.timer, $0.watchdog) }
        timer?.cancel()
        watchdog?.cancel()
        resumeAndFail(actions)
        await finishOffCooperativeThreads(actions.close)
        await withTaskCancellationHandler {
            try? await threadPool.shutdownGracefully()
        } onCancel: {
            self.cancelRunningStatements()
        }
    }

    /// Asks the server to cancel every statement the pool's connections are running.
    private func cancelRunningStatements() {
        let working = locked.withLockedValue { Array($0.working.values) }
        guard !working.isEmpty else { return }
        logger.warning("pq.pool.cancelling", metadata: ["statements": "\(working.count)"])
        // Not on the pool's threads, which the statements occupy, nor on a dispatch queue (on
        // Linux, the threads Swift's tasks run on): PQcancel blocks while it reaches the server.
        Thread { for connection in working { connection.cancelRunningStatement() } }.start()
    }

    // MARK: Units of work

    /// Runs one statement in autocommit mode. For reads and idempotent writes only: if the
    /// connection drops after the server ran it, the retry of ``withConnection`` runs it again.
    @discardableResult
    public func query(_ query: PQQuery) async throws -> PQRows {
        try await withConnection { try $0.query(query) }
    }

    /// ``query(_:)`` with the statement's name for errors and logs.
    @discardableResult
    public func query(_ name: String, _ query: PQQuery) async throws -> PQRows {
        try await self.query(query.named(name))
    }

    /// Lends a connection to `body`, on the pool's thread. The connection goes back to the
    /// pool afterwards, or is dropped when broken. A connection failure is retried once on a
    /// fresh connection when `body` had not yet changed anything (it failed before a commit).
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PQConnection) throws -> T) async throws -> T {
        var retried = false
        while true {
            let connection = try await acquire()
            let loan: Loan<T>
            do {
                loan = try await threadPool.runIfActive { self.lend(connection, to: body) }
            } catch {
                // The body never ran (the caller was cancelled, or the pool is stopping): the
                // connection goes back as it came.
                let actions = locked.withLockedValue { $0.state.release(connection, reusable: true) }
                resumeAndFail(actions)
                await finishOffCooperativeThreads(actions.close)
                throw error
            }
            switch loan.result {
            case .success(let value):
                return value
            case .failure(let error as PQError) where error.discardsConnection && loan.retryable && !retried:
                retried = true
                logger.warning("pq.connection.lost", metadata: ["pq.error": "\(error)"])
            case .failure(let error):
                throw error
            }
        }
    }

    /// What one loan of a connection came to.
    private struct Loan<T: Sendable>: Sendable {
        let result: Result<T, any Error>
        /// The connection failed before any statement of the loan succeeded: nothing reached
        /// the server, so the work may run again on a fresh connection.
        let retryable: Bool
    }

    /// Runs `body` on the pool's thread, then gives the connection back from that thread too:
    /// telling whether it can be reused, and closing it when not, are libpq calls.
    private func lend<T: Sendable>(_ connection: PQConnection, to body: (PQConnection) throws -> T) -> Loan<T> {
        let roundTripsBefore = connection.roundTrips
        locked.withLockedValue { $0.working[ObjectIdentifier(connection)] = connection }
        let result = Result { try body(connection) }
        let lost: Bool
        // A read-only server is as useless as a gone one: dropping the connection lets the
        // next one find the new primary (`target_session_attrs=read-write`).
        if case .failure(let error as PQError) = result, error.discardsConnection { lost = true } else { lost = false }
        let retryable = lost && connection.statementsSucceeded == 0 && !connection.commitSentUnread
        let reusable = !lost && !connection.isBroken && !connection.isInTransaction
        // Counted before the connection can go to the next borrower, whose thread then owns it.
        let actions = locked.withLockedValue { locked in
            locked.roundTrips += connection.roundTrips - roundTripsBefore
            locked.working.removeValue(forKey: ObjectIdentifier(connection))
            guard lost else { return locked.state.release(connection, reusable: reusable) }
            // The idle connections go too (most likely on the same server): all count as lost.
            let actions = locked.state.connectionFailed(connection)
            locked.lost += actions.close.count
            return actions
        }
        resumeAndFail(actions)
        for dropped in actions.close { dropped.finish() }
        return Loan(result: result, retryable: retryable)
    }

    // MARK: Acquire

    private func acquire() async throws -> PQConnection {
        switch locked.withLockedValue({ $0.state.acquire() }) {
        case .fail(let failure): throw poolError(failure)
        case .use(let connection):
            connection.statementsSucceeded = 0
            connection.commitSentUnread = false
            return connection
        case .connect: return try await openConnection()
        case .wait: return try await waitForConnection()
        }
    }

    private func openConnection() async throws -> PQConnection {
        do {
            let conninfo = configuration.conninfo
            let overrides = configuration.overrides
            let name = configuration.applicationName
            let connection = try await threadPool.runIfActive {
                try PQConnection.connect(conninfo, overrides: overrides, applicationName: name)
            }
            locked.withLockedValue { if $0.reconnects < $0.lost { $0.reconnects += 1 } }
            return connection
        } catch {
            resumeAndFail(locked.withLockedValue { $0.state.connectFailed() })
            throw error
        }
    }

    private func waitForConnection() async throws -> PQConnection {
        let id = locked.withLockedValue { $0.state.newWaiterID() }
        let deadline = ContinuousClock.now + configuration.acquireTimeout
        let lent = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (waiter: Waiter) in
                let action = locked.withLockedValue { locked in
                    let action = locked.state.wait(waiter, id: id, deadline: deadline, now: .now)
                    if case .queued(startTimer: true) = action { locked.timer = startTimer(until: deadline) }
                    return action
                }
                switch action {
                case .queued:
                    // The cancellation handler may have run before the waiter was queued.
                    if Task.isCancelled { resumeAndFail(locked.withLockedValue { $0.state.cancel(id) }) }
                case .use(let connection): waiter.resume(returning: connection)
                case .connect: waiter.resume(returning: nil)
                case .fail(let failure): waiter.resume(throwing: poolError(failure))
                }
            }
        } onCancel: {
            self.resumeAndFail(self.locked.withLockedValue { $0.state.cancel(id) })
        }
        guard let lent else { return try await openConnection() }
        lent.statementsSucceeded = 0
        lent.commitSentUnread = false
        return lent
    }

    /// The one timer of the pool: sleeps until the first waiter's deadline, fails whoever is
    /// past theirs, and goes on while anyone waits. Every wait is as long, so the waiter that
    /// starts the timer has the earliest deadline.
    private func startTimer(until first: ContinuousClock.Instant) -> Task<Void, Never> {
        Task {
            var next: ContinuousClock.Instant? = first
            while let deadline = next {
                do {
                    try await Task.sleep(until: deadline)
                } catch {
                    return  // cancelled: the pool closed
                }
                let (actions, following) = locked.withLockedValue { $0.state.expire(now: .now) }
                resumeAndFail(actions)
                next = following
            }
        }
    }
}
