import DequeModule
import Dispatch
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
/// of work (as after a server restart) is retried once on a fresh connection.
public final class PQPool: Service, Sendable {
    public let configuration: PQPoolConfiguration
    let logger: Logger
    let threadPool: NIOThreadPool
    private let state: NIOLockedValueBox<State>

    private struct Waiter {
        let id: Int
        let continuation: CheckedContinuation<PQConnection?, any Error>
    }

    private struct State {
        var idle: [PQConnection] = []
        var open = 0
        var waiters: Deque<Waiter> = []
        var nextWaiterID = 0
        /// Connections running a caller's work right now, cancelled if the pool closes meanwhile.
        var working: [ObjectIdentifier: PQConnection] = [:]
        var closed = false
        var roundTrips = 0
        var inUse: Int { open - idle.count }
    }

    public init(configuration: PQPoolConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.threadPool = NIOThreadPool(numberOfThreads: configuration.maxConnections)
        self.state = NIOLockedValueBox(State())
        threadPool.start()
    }

    /// Round trips to the server made through this pool so far (every statement, BEGIN and
    /// COMMIT included): what tests count to hold hot paths to their budget.
    public var roundTrips: Int {
        state.withLockedValue { $0.roundTrips }
    }

    /// Connections borrowed right now and callers waiting for one (for metrics).
    public var usage: (inUse: Int, waiting: Int, open: Int) {
        state.withLockedValue { ($0.inUse, $0.waiters.count, $0.open) }
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
        let (waiters, idle) = state.withLockedValue { state -> (Deque<Waiter>, [PQConnection]) in
            state.closed = true
            let waiters = state.waiters
            let idle = state.idle
            state.waiters.removeAll()
            state.open -= state.idle.count
            state.idle.removeAll()
            return (waiters, idle)
        }
        for waiter in waiters { waiter.continuation.resume(throwing: PQError(kind: .poolClosed, message: "the pool is closed")) }
        _ = idle
        await withTaskCancellationHandler {
            try? await threadPool.shutdownGracefully()
        } onCancel: {
            self.cancelRunningStatements()
        }
    }

    /// Asks the server to cancel every statement the pool's connections are running.
    private func cancelRunningStatements() {
        let working = state.withLockedValue { Array($0.working.values) }
        guard !working.isEmpty else { return }
        logger.warning("pq.pool.cancelling", metadata: ["statements": "\(working.count)"])
        // Not on the pool's threads, which the statements occupy; PQcancel blocks briefly.
        DispatchQueue.global().async { for connection in working { connection.cancelRunningStatement() } }
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
            let roundTripsBefore = connection.roundTrips
            do {
                state.withLockedValue { $0.working[ObjectIdentifier(connection)] = connection }
                defer {
                    _ = state.withLockedValue { state in
                        state.roundTrips += connection.roundTrips - roundTripsBefore
                        state.working.removeValue(forKey: ObjectIdentifier(connection))
                    }
                }
                let value = try await threadPool.runIfActive { try body(connection) }
                release(connection)
                return value
            } catch let error as PQError where error.isConnectionFailure {
                release(connection, broken: true)
                dropIdleConnections()
                // Only a failure on a connection that was never used successfully by this
                // call is safe to retry: nothing reached the server.
                guard !retried, connection.statementsSucceeded == 0 else { throw error }
                retried = true
                logger.warning("pq.connection.lost", metadata: ["pq.error": "\(error)"])
            } catch {
                release(connection, broken: connection.isBroken)
                throw error
            }
        }
    }

    // MARK: Acquire and release

    private enum AcquireAction {
        case use(PQConnection)
        case connect
        case wait
        case closed
    }

    private func acquire() async throws -> PQConnection {
        let action = state.withLockedValue { state -> AcquireAction in
            if state.closed { return .closed }
            if let connection = state.idle.popLast() { return .use(connection) }
            if state.open < configuration.maxConnections {
                state.open += 1
                return .connect
            }
            return .wait
        }
        switch action {
        case .closed: throw PQError(kind: .poolClosed, message: "the pool is closed")
        case .use(let connection):
            connection.statementsSucceeded = 0
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
            return try await threadPool.runIfActive { try PQConnection.connect(conninfo, overrides: overrides, applicationName: name) }
        } catch {
            state.withLockedValue { $0.open -= 1 }
            serveWaiterWithNewConnection()
            throw error
        }
    }

    private func waitForConnection() async throws -> PQConnection {
        let id = state.withLockedValue { state -> Int in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        let timeout = configuration.acquireTimeout
        let deadline = ContinuousClock.now + timeout
        let exhausted = PQError(kind: .poolExhausted, message: "no database connection came free within \(timeout)")
        let timer = Task {
            try await Task.sleep(until: deadline)
            self.failWaiter(id, with: exhausted)
        }
        defer { timer.cancel() }
        let connection = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<PQConnection?, any Error>) in
                let enqueued = state.withLockedValue { state -> Bool in
                    if state.closed { return false }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return true
                }
                if !enqueued {
                    continuation.resume(throwing: PQError(kind: .poolClosed, message: "the pool is closed"))
                    return
                }
                // The timer and the cancellation handler may both have fired before the waiter
                // was queued, when there was nothing for them to fail yet.
                if Task.isCancelled {
                    failWaiter(id, with: CancellationError())
                } else if ContinuousClock.now >= deadline {
                    failWaiter(id, with: exhausted)
                }
            }
        } onCancel: {
            self.failWaiter(id, with: CancellationError())
        }
        // nil means "a slot was freed for you: open a connection".
        if let connection {
            connection.statementsSucceeded = 0
            return connection
        }
        return try await openConnection()
    }

    private func failWaiter(_ id: Int, with error: any Error) {
        let waiter = state.withLockedValue { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.continuation.resume(throwing: error)
    }

    private func release(_ connection: PQConnection, broken: Bool = false) {
        let isBroken = broken || connection.isBroken || connection.isInTransaction
        if isBroken {
            state.withLockedValue { $0.open -= 1 }
            serveWaiterWithNewConnection()
            return
        }
        let waiter = state.withLockedValue { state -> Waiter? in
            if state.closed {
                state.open -= 1
                return nil
            }
            if let waiter = state.waiters.popFirst() { return waiter }
            state.idle.append(connection)
            return nil
        }
        waiter?.continuation.resume(returning: connection)
    }

    /// When a slot freed up and someone waits, hand the slot over (they open a connection).
    private func serveWaiterWithNewConnection() {
        let waiter = state.withLockedValue { state -> Waiter? in
            guard !state.closed, state.open < configuration.maxConnections, let waiter = state.waiters.popFirst() else { return nil }
            state.open += 1
            return waiter
        }
        waiter?.continuation.resume(returning: nil)
    }

    /// After one connection failed, the idle ones most likely point at the same dead server.
    private func dropIdleConnections() {
        let dropped = state.withLockedValue { state -> [PQConnection] in
            let idle = state.idle
            state.open -= idle.count
            state.idle.removeAll()
            return idle
        }
        if !dropped.isEmpty {
            for _ in dropped { serveWaiterWithNewConnection() }
        }
    }
}
