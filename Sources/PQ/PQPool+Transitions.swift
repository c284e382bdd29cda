import Foundation
import NIOPosix

// What the pool's transitions ask for, carried out: resuming waiters, closing connections.
extension PQPool {
    /// Resumes and fails the waiters a transition named (never under the lock). Closing the
    /// connections it dropped is left to the caller, who knows which thread it is on.
    func resumeAndFail(_ actions: State.Actions) {
        for handover in actions.resume { handover.waiter.resume(returning: handover.connection) }
        for (waiter, failure) in actions.fail { waiter.resume(throwing: poolError(failure)) }
    }

    /// Closes connections dropped while on a cooperative thread: on one of the pool's threads,
    /// or, once those have stopped, on a thread of its own (PQfinish writes to the socket).
    /// Returns when they are closed.
    func finishOffCooperativeThreads(_ connections: [PQConnection]) async {
        guard !connections.isEmpty else { return }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let finish: @Sendable () -> Void = {
                for connection in connections { connection.finish() }
                done.resume()
            }
            threadPool.submit { state in
                if case .active = state { finish() } else { Thread(block: finish).start() }
            }
        }
    }

    func poolError(_ failure: State.Failure) -> any Error {
        switch failure {
        case .closed: PQError(kind: .poolClosed, message: "the pool is closed")
        case .exhausted: PQError(kind: .poolExhausted, message: "no database connection came free within \(configuration.acquireTimeout)")
        case .cancelled: CancellationError()
        }
    }
}
