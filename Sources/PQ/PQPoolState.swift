import DequeModule

/// The pool's bookkeeping as a value: the idle connections, how many are open, who waits and
/// until when.
///
/// Each event is a transition that returns what the pool must do next (lend a connection,
/// open one, close some, resume or fail a waiter); the pool carries that out after leaving
/// its lock. Generic over the connection and the waiter so that the tests drive it without
/// a database. Between transitions, an open pool never keeps a waiter waiting while it has
/// an idle connection or a free slot.
struct PQPoolState<Connection, Waiter> {
    /// Why a caller gets no connection.
    enum Failure: Equatable, Sendable {
        case closed
        /// The acquire timeout passed.
        case exhausted
        case cancelled
    }

    /// What a caller that wants a connection does next.
    enum AcquireAction {
        /// Use this idle connection.
        case use(Connection)
        /// A slot is reserved for the caller: open a connection.
        case connect
        /// Every slot is in use: queue with ``wait(_:id:deadline:now:)``.
        case wait
        case fail(Failure)
    }

    /// What happens to a caller that asked to wait.
    enum WaitAction {
        /// Queued; when `startTimer`, no timer runs yet: start one for this deadline.
        case queued(startTimer: Bool)
        /// Something came free since ``acquire()`` said wait.
        case use(Connection)
        case connect
        case fail(Failure)
    }

    /// A waiter's turn: a connection to use, or nil for a reserved slot to open one in.
    struct Handover {
        let waiter: Waiter
        let connection: Connection?
    }

    /// What the pool does after a transition, outside its lock.
    struct Actions {
        var resume: [Handover] = []
        var fail: [(waiter: Waiter, failure: Failure)] = []
        /// Connections the pool no longer keeps; to be closed off Swift's cooperative threads.
        var close: [Connection] = []
    }

    fileprivate struct Queued {
        let id: Int
        let deadline: ContinuousClock.Instant
        let waiter: Waiter
    }

    let maxConnections: Int
    /// Open connections that nobody borrows; the last returned is lent first.
    private(set) var idle: [Connection] = []
    /// Connections open or being opened.
    private(set) var open = 0
    private var waiters: Deque<Queued> = []
    private var nextWaiterID = 0
    private(set) var isClosed = false
    /// True from the moment a timer is asked for until one wakes to an empty queue.
    private(set) var timerRunning = false

    init(maxConnections: Int) {
        self.maxConnections = max(1, maxConnections)
    }

    var inUse: Int { open - idle.count }
    var waiting: Int { waiters.count }

    // MARK: Transitions

    mutating func acquire() -> AcquireAction {
        if isClosed { return .fail(.closed) }
        if let connection = idle.popLast() { return .use(connection) }
        if open < maxConnections {
            open += 1
            return .connect
        }
        return .wait
    }

    /// An id for a caller about to wait, known before it is queued so that a cancellation
    /// arriving first can name it.
    mutating func newWaiterID() -> Int {
        nextWaiterID += 1
        return nextWaiterID
    }

    /// Queues `waiter` until `deadline`, unless the pool closed, something came free, or the
    /// deadline already passed (a zero acquire timeout) since ``acquire()`` said wait.
    mutating func wait(_ waiter: Waiter, id: Int, deadline: ContinuousClock.Instant, now: ContinuousClock.Instant) -> WaitAction {
        switch acquire() {
        case .fail(let failure): return .fail(failure)
        case .use(let connection): return .use(connection)
        case .connect: return .connect
        case .wait: break
        }
        if deadline <= now { return .fail(.exhausted) }
        waiters.append(Queued(id: id, deadline: deadline, waiter: waiter))
        if timerRunning { return .queued(startTimer: false) }
        timerRunning = true
        return .queued(startTimer: true)
    }

    /// A borrower gives `connection` back; one that is broken or inside a transaction is
    /// not `reusable` and is closed.
    mutating func release(_ connection: Connection, reusable: Bool) -> Actions {
        var actions = Actions()
        if reusable && !isClosed {
            idle.append(connection)
        } else {
            open -= 1
            actions.close.append(connection)
        }
        serveWaiters(&actions)
        return actions
    }

    /// `connection` failed: it is closed, and so are the idle ones, which most likely point
    /// at the same dead server. Their slots go to the waiters.
    mutating func connectionFailed(_ connection: Connection) -> Actions {
        var actions = Actions()
        actions.close = [connection] + idle
        open -= 1 + idle.count
        idle.removeAll()
        serveWaiters(&actions)
        return actions
    }

    /// Opening a connection in a reserved slot failed: the slot is free again.
    mutating func connectFailed() -> Actions {
        var actions = Actions()
        open -= 1
        serveWaiters(&actions)
        return actions
    }

    /// The caller waiting as `id` was cancelled (nothing to do when it is no longer queued).
    mutating func cancel(_ id: Int) -> Actions {
        var actions = Actions()
        if let index = waiters.firstIndex(where: { $0.id == id }) {
            actions.fail.append((waiters.remove(at: index).waiter, .cancelled))
        }
        return actions
    }

    /// The timer woke: fails the waiters whose deadline passed. `next` is when to wake again,
    /// nil when nobody waits (the timer stops).
    mutating func expire(now: ContinuousClock.Instant) -> (actions: Actions, next: ContinuousClock.Instant?) {
        var actions = Actions()
        var remaining: Deque<Queued> = []
        for queued in waiters {
            if queued.deadline <= now {
                actions.fail.append((queued.waiter, .exhausted))
            } else {
                remaining.append(queued)
            }
        }
        waiters = remaining
        let next = waiters.lazy.map(\.deadline).min()
        timerRunning = next != nil
        return (actions, next)
    }

    /// Refuses new work from now on, fails the waiters and closes the idle connections.
    /// Connections still lent out are closed as they come back.
    mutating func close() -> Actions {
        var actions = Actions()
        isClosed = true
        actions.fail = waiters.map { ($0.waiter, .closed) }
        waiters.removeAll()
        timerRunning = false
        actions.close = idle
        open -= idle.count
        idle.removeAll()
        return actions
    }

    /// Hands idle connections, then free slots, to the waiters in the order they came.
    private mutating func serveWaiters(_ actions: inout Actions) {
        guard !isClosed else { return }
        while let first = waiters.first {
            if let connection = idle.popLast() {
                actions.resume.append(Handover(waiter: first.waiter, connection: connection))
            } else if open < maxConnections {
                open += 1
                actions.resume.append(Handover(waiter: first.waiter, connection: nil))
            } else {
                return
            }
            waiters.removeFirst()
        }
    }
}

extension PQPoolState: Sendable where Connection: Sendable, Waiter: Sendable {}
extension PQPoolState.Queued: Sendable where Connection: Sendable, Waiter: Sendable {}
