import Logging
import NIOConcurrencyHelpers

extension PQPool {
    /// Starts the task that looks, every second, for connections lent out whose call has
    /// waited longer than `limit`, and abandons those calls (``PQConnection/abandon(ifWaitingLongerThan:)``):
    /// the borrower sees a lost connection, which the pool drops (SPEC §15).
    func startWatchdog(_ limit: Duration) {
        let task = Task { [weak self] in
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: .seconds(1))
                } catch {
                    return  // cancelled: the pool closed
                }
                guard let self else { return }
                let working = locked.withLockedValue { Array($0.working.values) }
                for connection in working where connection.abandon(ifWaitingLongerThan: limit) {
                    logger.warning("pq.call.abandoned", metadata: ["after": "\(limit)"])
                }
            }
        }
        locked.withLockedValue { $0.watchdog = task }
    }
}
