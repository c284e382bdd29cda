import Testing

@testable import PQ

/// The pool's bookkeeping without a database: connections are numbers, waiters are names.
@Suite struct PQPoolStateTests {
    typealias State = PQPoolState<Int, String>

    static let start = ContinuousClock.now

    /// A pool of `max` slots whose connections 1…`open` are open, `idle` of them idle and the
    /// rest lent out, with `waiters` queued (each until one second after the start).
    static func pool(max: Int, open: Int = 0, idle: [Int] = [], waiters: [String] = [], closed: Bool = false) -> State {
        var state = State(maxConnections: max)
        for _ in 0..<open { _ = state.acquire() }
        for connection in idle { _ = state.release(connection, reusable: true) }
        for name in waiters {
            _ = state.acquire()
            _ = state.wait(name, id: state.newWaiterID(), deadline: start + .seconds(1), now: start)
        }
        if closed { _ = state.close() }
        return state
    }

    /// Actions as words, in the order the pool carries them out.
    static func describe(_ actions: State.Actions) -> [String] {
        actions.resume.map { "resume \($0.waiter) with " + ($0.connection.map(String.init) ?? "a slot") }
            + actions.fail.map { "fail \($0.waiter): \($0.failure)" }
            + actions.close.map { "close \($0)" }
    }

    static func describe(_ action: State.AcquireAction) -> String {
        switch action {
        case .use(let connection): "use \(connection)"
        case .connect: "connect"
        case .wait: "wait"
        case .fail(let failure): "fail: \(failure)"
        }
    }

    static func describe(_ action: State.WaitAction) -> String {
        switch action {
        case .queued(let startTimer): startTimer ? "queued, start the timer" : "queued"
        case .use(let connection): "use \(connection)"
        case .connect: "connect"
        case .fail(let failure): "fail: \(failure)"
        }
    }

    struct AcquireCase: Sendable, CustomTestStringConvertible {
        let name: String
        let state: @Sendable () -> State
        let action: String
        let open: Int
        let idle: [Int]
        var testDescription: String { name }
    }

    @Test(arguments: [
        AcquireCase(name: "an empty pool opens a connection", state: { PQPoolStateTests.pool(max: 2) }, action: "connect", open: 1, idle: []),
        AcquireCase(
            name: "an idle connection is lent",
            state: { PQPoolStateTests.pool(max: 2, open: 1, idle: [1]) },
            action: "use 1",
            open: 1,
            idle: []
        ),
        AcquireCase(
            name: "the last returned goes first",
            state: { PQPoolStateTests.pool(max: 2, open: 2, idle: [1, 2]) },
            action: "use 2",
            open: 2,
            idle: [1]
        ),
        AcquireCase(name: "a free slot beats waiting", state: { PQPoolStateTests.pool(max: 2, open: 1) }, action: "connect", open: 2, idle: []),
        AcquireCase(name: "every slot in use: wait", state: { PQPoolStateTests.pool(max: 2, open: 2) }, action: "wait", open: 2, idle: []),
        AcquireCase(
            name: "a closed pool refuses",
            state: { PQPoolStateTests.pool(max: 2, open: 1, idle: [1], closed: true) },
            action: "fail: closed",
            open: 0,
            idle: []
        ),
    ])
    func acquire(_ test: AcquireCase) {
        var state = test.state()
        #expect(Self.describe(state.acquire()) == test.action)
        #expect(state.open == test.open)
        #expect(state.idle == test.idle)
    }

    struct WaitCase: Sendable, CustomTestStringConvertible {
        let name: String
        /// What happened between `acquire` saying wait and the caller queueing.
        let meanwhile: @Sendable (inout State) -> Void
        let timeout: Duration
        let action: String
        let waiting: Int
        var testDescription: String { name }
    }

    @Test(arguments: [
        WaitCase(
            name: "still busy: queued, and the first starts the timer",
            meanwhile: { _ in },
            timeout: .seconds(1),
            action: "queued, start the timer",
            waiting: 1
        ),
        WaitCase(
            name: "a second waiter finds the timer running",
            meanwhile: { state in
                _ = state.wait("other", id: state.newWaiterID(), deadline: PQPoolStateTests.start + .seconds(1), now: PQPoolStateTests.start)
            },
            timeout: .seconds(1),
            action: "queued",
            waiting: 2
        ),
        WaitCase(
            name: "a connection came back: use it",
            meanwhile: { state in _ = state.release(1, reusable: true) },
            timeout: .seconds(1),
            action: "use 1",
            waiting: 0
        ),
        WaitCase(
            name: "a slot came free: connect",
            meanwhile: { state in _ = state.release(1, reusable: false) },
            timeout: .seconds(1),
            action: "connect",
            waiting: 0
        ),
        WaitCase(name: "the pool closed", meanwhile: { state in _ = state.close() }, timeout: .seconds(1), action: "fail: closed", waiting: 0),
        WaitCase(name: "a zero timeout fails at once", meanwhile: { _ in }, timeout: .zero, action: "fail: exhausted", waiting: 0),
    ])
    func wait(_ test: WaitCase) {
        var state = Self.pool(max: 1, open: 1)
        guard case .wait = state.acquire() else {
            Issue.record("acquire should have said wait")
            return
        }
        test.meanwhile(&state)
        let action = state.wait("me", id: state.newWaiterID(), deadline: Self.start + test.timeout, now: Self.start)
        #expect(Self.describe(action) == test.action)
        #expect(state.waiting == test.waiting)
    }

    struct ReleaseCase: Sendable, CustomTestStringConvertible {
        let name: String
        let state: @Sendable () -> State
        let reusable: Bool
        let actions: [String]
        let open: Int
        let idle: [Int]
        var testDescription: String { name }
    }

    @Test(arguments: [
        ReleaseCase(name: "kept idle", state: { PQPoolStateTests.pool(max: 2, open: 1) }, reusable: true, actions: [], open: 1, idle: [1]),
        ReleaseCase(
            name: "handed to the first waiter",
            state: { PQPoolStateTests.pool(max: 1, open: 1, waiters: ["a", "b"]) },
            reusable: true,
            actions: ["resume a with 1"],
            open: 1,
            idle: []
        ),
        ReleaseCase(
            name: "broken: closed",
            state: { PQPoolStateTests.pool(max: 2, open: 1) },
            reusable: false,
            actions: ["close 1"],
            open: 0,
            idle: []
        ),
        ReleaseCase(
            name: "broken: closed, its slot to the first waiter",
            state: { PQPoolStateTests.pool(max: 1, open: 1, waiters: ["a", "b"]) },
            reusable: false,
            actions: ["resume a with a slot", "close 1"],
            open: 1,
            idle: []
        ),
        ReleaseCase(
            name: "after close: closed",
            state: { PQPoolStateTests.pool(max: 1, open: 1, closed: true) },
            reusable: true,
            actions: ["close 1"],
            open: 0,
            idle: []
        ),
    ])
    func release(_ test: ReleaseCase) {
        var state = test.state()
        #expect(Self.describe(state.release(1, reusable: test.reusable)) == test.actions)
        #expect(state.open == test.open)
        #expect(state.idle == test.idle)
    }

    @Test func aFailedConnectionTakesTheIdleOnesWithItAndFreesTheirSlots() {
        var idle = Self.pool(max: 3, open: 3, idle: [2, 3])
        #expect(Self.describe(idle.connectionFailed(1)) == ["close 1", "close 2", "close 3"])
        #expect(idle.open == 0)
        #expect(idle.idle.isEmpty)

        var busy = Self.pool(max: 2, open: 2, waiters: ["a", "b", "c"])
        #expect(Self.describe(busy.connectionFailed(1)) == ["resume a with a slot", "close 1"])
        #expect(busy.open == 2)
        #expect(busy.waiting == 2)
    }

    @Test func aConnectThatFailsGivesItsSlotToTheNextWaiter() {
        var waited = Self.pool(max: 1, open: 1, waiters: ["a"])
        #expect(Self.describe(waited.connectFailed()) == ["resume a with a slot"])
        #expect(waited.open == 1)

        var alone = Self.pool(max: 1, open: 1)
        #expect(Self.describe(alone.connectFailed()).isEmpty)
        #expect(alone.open == 0)
    }

    @Test func theTimerFailsOnlyTheWaitersPastTheirDeadline() {
        var state = Self.pool(max: 1, open: 1)
        for (name, seconds) in [("a", 1), ("b", 2), ("c", 3)] {
            _ = state.acquire()
            _ = state.wait(name, id: state.newWaiterID(), deadline: Self.start + .seconds(seconds), now: Self.start)
        }
        let early = state.expire(now: Self.start + .milliseconds(500))
        #expect(Self.describe(early.actions).isEmpty)
        #expect(early.next == Self.start + .seconds(1))

        let (actions, next) = state.expire(now: Self.start + .seconds(2))
        #expect(Self.describe(actions) == ["fail a: exhausted", "fail b: exhausted"])
        #expect(next == Self.start + .seconds(3))
        #expect(state.timerRunning)

        let last = state.expire(now: Self.start + .seconds(5))
        #expect(Self.describe(last.actions) == ["fail c: exhausted"])
        #expect(last.next == nil)
        #expect(!state.timerRunning)
        // The next waiter starts a timer again.
        _ = state.acquire()
        let again = state.wait("d", id: state.newWaiterID(), deadline: Self.start + .seconds(6), now: Self.start + .seconds(5))
        #expect(Self.describe(again) == "queued, start the timer")
    }

    @Test func aCancelledWaiterLeavesTheQueueOnce() {
        var state = Self.pool(max: 1, open: 1, waiters: ["a", "b"])
        #expect(Self.describe(state.cancel(2)) == ["fail b: cancelled"])
        #expect(Self.describe(state.cancel(2)).isEmpty)
        #expect(Self.describe(state.cancel(99)).isEmpty)
        #expect(Self.describe(state.release(1, reusable: true)) == ["resume a with 1"])
    }

    @Test func closingFailsTheWaitersClosesTheIdleAndLaterReturns() {
        var busy = Self.pool(max: 2, open: 2, waiters: ["a", "b"])
        #expect(Self.describe(busy.close()) == ["fail a: closed", "fail b: closed"])
        #expect(busy.open == 2)
        #expect(Self.describe(busy.release(1, reusable: true)) == ["close 1"])
        #expect(Self.describe(busy.connectionFailed(2)) == ["close 2"])
        #expect(busy.open == 0)
        #expect(Self.describe(busy.acquire()) == "fail: closed")

        var idle = Self.pool(max: 2, open: 2, idle: [1, 2])
        #expect(Self.describe(idle.close()) == ["close 1", "close 2"])
        #expect(idle.open == 0)
        #expect(Self.describe(idle.close()).isEmpty)
    }

    /// Thousands of events in a seeded random order, checking after each that every open slot
    /// is accounted for (idle, lent or being opened), the limit holds, and no one waits while
    /// something is free.
    @Test(arguments: [1, 2, 3, 42])
    func randomEventsKeepTheBooksStraight(seed: UInt64) {
        var random = SplitMix(seed: seed)
        let max = 3
        var state = State(maxConnections: max)
        var lent: [Int] = []
        var connecting = 0
        var queued: [Int: String] = [:]
        var nextConnection = 0
        var now = Self.start

        func apply(_ actions: State.Actions) {
            for handover in actions.resume {
                queued = queued.filter { $0.value != handover.waiter }
                if let connection = handover.connection { lent.append(connection) } else { connecting += 1 }
            }
            for (waiter, _) in actions.fail { queued = queued.filter { $0.value != waiter } }
        }

        for step in 0..<5_000 {
            switch random.next(below: 8) {
            case 0, 1:
                let name = "w\(step)"
                switch state.acquire() {
                case .use(let connection): lent.append(connection)
                case .connect: connecting += 1
                case .fail: break
                case .wait:
                    let id = state.newWaiterID()
                    switch state.wait(name, id: id, deadline: now + .milliseconds(random.next(below: 50)), now: now) {
                    case .queued: queued[id] = name
                    case .use(let connection): lent.append(connection)
                    case .connect: connecting += 1
                    case .fail: break
                    }
                }
            case 2 where connecting > 0:
                connecting -= 1
                nextConnection += 1
                lent.append(nextConnection)
            case 3 where connecting > 0:
                connecting -= 1
                apply(state.connectFailed())
            case 4 where !lent.isEmpty:
                let connection = lent.remove(at: random.next(below: lent.count))
                apply(state.release(connection, reusable: random.next(below: 4) != 0))
            case 5 where !lent.isEmpty:
                let connection = lent.remove(at: random.next(below: lent.count))
                apply(state.connectionFailed(connection))
            case 6 where !queued.isEmpty:
                apply(state.cancel(queued.keys.sorted()[random.next(below: queued.count)]))
            case 7:
                now += .milliseconds(10)
                apply(state.expire(now: now).actions)
            default:
                break
            }
            #expect(state.open == state.idle.count + lent.count + connecting, "step \(step)")
            #expect(state.open <= max, "step \(step)")
            #expect(state.waiting == queued.count, "step \(step)")
            if state.waiting > 0 {
                #expect(state.idle.isEmpty && state.open == max, "step \(step): someone waits while something is free")
            }
            if !state.timerRunning {
                #expect(state.waiting == 0, "step \(step): waiters without a timer")
            }
        }
    }
}

/// A small seeded generator (SplitMix64), so a failing sequence can be replayed.
struct SplitMix {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next(below bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Int(z % UInt64(bound))
    }
}
