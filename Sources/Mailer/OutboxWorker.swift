import Foundation
public import Logging
import Metrics
import NIOConcurrencyHelpers
public import PQ
public import ServiceLifecycle
import TollgateCore

/// Drains the outbound email queue (SPEC §8) as a `Service`.
///
/// It claims small batches with `FOR UPDATE SKIP LOCKED` under a lease, so many workers share
/// one queue and a dead worker's emails come back when its lease runs out. It wakes on
/// `NOTIFY tollgate_outbox` (sent at commit by the insert trigger), when the next retry falls
/// due, and on a fallback poll; after the listener (re)connects it rescans, since
/// notifications sent while it was away are lost.
///
/// At graceful shutdown it finishes the message in hand, hands the rest of its batch back to
/// the queue and stops.
public final class OutboxWorker: Service {
    public let workerID: String
    let pool: PQPool
    let transport: any MailTransport
    let settings: WorkerSettings
    let mailFrom: Mailbox
    let listen: (conninfo: String, overrides: [(String, String)])?
    let logger: Logger
    private let doorbell = Doorbell()
    private let stopping = NIOLockedValueBox(false)
    private let metrics = WorkerMetrics()

    /// - Parameters:
    ///   - listen: where to `LISTEN` (a direct connection, never a transaction pooler); nil
    ///     relies on the fallback poll alone.
    public init(
        pool: PQPool,
        transport: any MailTransport,
        settings: WorkerSettings,
        mailFrom: Mailbox,
        listen: (conninfo: String, overrides: [(String, String)])?,
        logger: Logger,
        workerID: String = OutboxWorker.makeWorkerID()
    ) {
        self.pool = pool
        self.transport = transport
        self.settings = settings
        self.mailFrom = mailFrom
        self.listen = listen
        self.logger = logger
        self.workerID = workerID
    }

    /// `host:pid:random`, so support can tell workers apart in `email_attempts`.
    public static func makeWorkerID() -> String {
        let host = ProcessInfo.processInfo.hostName
        return "\(host):\(getpid()):\(UInt16.random(in: .min ... .max))"
    }

    public func run() async throws {
        logger.info("worker.started", metadata: ["worker.id": "\(workerID)"])
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                if let listen {
                    group.addTask { await self.listenForWork(listen) }
                }
                await self.drainUntilStopped()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.stopping.withLockedValue { $0 = true }
            self.doorbell.ring()
        }
        await transport.shutdown()
        logger.info("worker.stopped", metadata: ["worker.id": "\(workerID)"])
    }

    /// Stops the worker as graceful shutdown would (for embedding without a ServiceGroup).
    public func stop() {
        stopping.withLockedValue { $0 = true }
        doorbell.ring()
    }

    private var isStopping: Bool { stopping.withLockedValue { $0 } || Task.isCancelled }

    private func listenForWork(_ listen: (conninfo: String, overrides: [(String, String)])) async {
        do {
            let listener = try PQListener(conninfo: listen.conninfo, overrides: listen.overrides, channels: ["tollgate_outbox"], logger: logger)
            // Both a notification and a (re)connection mean "look at the queue".
            for await event in listener.events() {
                if event == .listening { logger.debug("worker.listening") }
                doorbell.ring()
            }
        } catch {
            logger.error("worker.listen_failed", metadata: ["error": "\(error)"])
        }
    }

    private func drainUntilStopped() async {
        let poll = Duration.seconds(settings.pollIntervalSeconds)
        while !isStopping {
            var wait = poll
            do {
                var claimed = 0
                repeat {
                    claimed = try await drainBatch()
                } while claimed == settings.batchSize && !isStopping
                if let nextDue = try await observeQueue() { wait = min(poll, nextDue) }
            } catch {
                logger.warning("worker.database_error", metadata: ["error": "\(error)"])
            }
            if isStopping { break }
            await doorbell.wait(timeout: wait)
        }
    }

    /// Updates the queue gauges and says when the next email falls due (nil: nothing waits).
    private func observeQueue() async throws -> Duration? {
        let stats = try await pool.withTransaction { tx in try OutboxQueue.depth(in: tx) }
        metrics.depth.record(stats.count)
        metrics.oldestAge.record(stats.oldestAgeSeconds)
        guard let seconds = stats.nextDueSeconds else { return nil }
        // A little after the due time, so the row is due by the database's clock too.
        return .milliseconds(Int(max(0, seconds) * 1000) + 20)
    }

    /// Claims one batch and works through it; returns how many emails were claimed.
    private func drainBatch() async throws -> Int {
        let worker = workerID
        let limit = settings.batchSize
        let lease = Duration.seconds(settings.leaseSeconds)
        let claimed = try await pool.withTransaction { tx in try OutboxQueue.claim(worker: worker, limit: limit, lease: lease, in: tx) }
        guard !claimed.isEmpty else { return 0 }
        let clock = ContinuousClock()
        let claimedAt = clock.now
        var leaseRenewedAt = claimedAt
        for (index, email) in claimed.enumerated() {
            let rest = claimed[index...].map(\.id)
            if isStopping {
                try await pool.withTransaction { tx in try OutboxQueue.release(rest, worker: worker, in: tx) }
                logger.info("worker.released", metadata: ["count": "\(rest.count)"])
                break
            }
            // A long batch (slow server) must not lose the emails it has not reached yet.
            if clock.now - leaseRenewedAt > lease / 3 {
                try await pool.withTransaction { tx in try OutboxQueue.renewLease(rest, worker: worker, lease: lease, in: tx) }
                leaseRenewedAt = clock.now
            }
            await deliver(email, elapsedSinceClaim: clock.now - claimedAt)
        }
        return claimed.count
    }

    private func deliver(_ email: ClaimedEmail, elapsedSinceClaim: Duration) async {
        let elapsed = elapsedSinceClaim.seconds
        var metadata: Logger.Metadata = [
            "email.id": "\(email.id)", "company.id": "\(email.companyID)", "email.to": "\(Self.hint(email.recipient))",
            "email.template": "\(email.template.rawValue)",
        ]
        let codeLeft = email.codeSecondsLeft.map { $0 - elapsed }
        if let codeLeft, codeLeft <= 0 {
            await record(email, .expired(reason: "the code expired before the email could be sent"), startedAt: nil, metadata: metadata)
            return
        }
        // Claims abandoned by stopped workers count as attempts: an email that kills every
        // worker that sends it must not be sent for ever.
        if email.previousAttempts >= settings.maxAttempts {
            let reason = "gave up after \(email.previousAttempts) attempts, the last abandoned by a stopped worker"
            await record(email, .failed(smtpStatus: nil, reason: reason), startedAt: nil, metadata: metadata)
            return
        }
        guard let recipient = Mailbox(address: email.recipient) else {
            await record(email, .failed(smtpStatus: nil, reason: "the recipient address is not valid"), startedAt: nil, metadata: metadata)
            return
        }
        let outgoing = OutgoingEmail(
            from: mailFrom,
            to: recipient,
            messageID: email.messageID,
            date: email.createdAt,
            subject: email.subject,
            text: email.text,
            html: email.html,
            template: email.template
        )
        let startedAt = Date()
        let start = ContinuousClock.now
        do {
            try await transport.send(outgoing)
            metrics.latency.recordNanoseconds(Int64((email.ageSeconds + elapsed + (ContinuousClock.now - start).seconds) * 1e9))
            await record(email, .sent, startedAt: startedAt, metadata: metadata)
        } catch {
            let failure =
                error as? MailDeliveryError ?? MailDeliveryError(kind: .transient, reason: "unexpected transport error: \(error)")
            metadata["smtp.status"] = "\(failure.smtpStatus.map(String.init) ?? "none")"
            metadata["error"] = "\(failure.reason)"
            let attempt = email.previousAttempts + 1
            let outcome: DeliveryOutcome
            if failure.kind == .permanent {
                outcome = .failed(smtpStatus: failure.smtpStatus, reason: failure.reason)
            } else if attempt >= settings.maxAttempts {
                outcome = .failed(smtpStatus: failure.smtpStatus, reason: "gave up after \(attempt) attempts: \(failure.reason)")
            } else {
                let delay = backoff(attempt: attempt)
                let codeLeftNow = codeLeft.map { $0 - (ContinuousClock.now - start).seconds }
                if let codeLeftNow, codeLeftNow <= delay.seconds {
                    outcome = .expired(reason: "the code expires before the next attempt; last failure: \(failure.reason)")
                } else {
                    outcome = .retry(after: delay, smtpStatus: failure.smtpStatus, reason: failure.reason)
                }
            }
            await record(email, outcome, startedAt: startedAt, metadata: metadata)
        }
    }

    /// Writes the outcome, retrying briefly if the database is away. If it never comes back
    /// the lease runs out and another attempt follows (at least once, never lost).
    private func record(_ email: ClaimedEmail, _ outcome: DeliveryOutcome, startedAt: Date?, metadata: Logger.Metadata) async {
        let worker = workerID
        for attempt in 1...5 {
            do {
                let held = try await pool.withTransaction { tx in
                    try OutboxQueue.finish(email, outcome: outcome, worker: worker, startedAt: startedAt, in: tx)
                }
                if !held { logger.warning("worker.lease_lost", metadata: metadata) }
                break
            } catch {
                logger.warning("worker.record_failed", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                if attempt == 5 { return }
                try? await Task.sleep(for: .milliseconds(100 * attempt * attempt))
            }
        }
        switch outcome {
        case .sent:
            metrics.sent.increment()
            logger.info("email.sent", metadata: metadata)
        case .retry(let after, _, _):
            metrics.retries.increment()
            logger.notice("email.retry", metadata: metadata.merging(["retry.after": "\(after)"]) { $1 })
        case .failed(_, let reason):
            metrics.failed.increment()
            logger.error("email.failed", metadata: metadata.merging(["reason": "\(reason)"]) { $1 })
        case .expired:
            metrics.expired.increment()
            logger.warning("email.expired", metadata: metadata)
        }
    }

    /// base × 2^(attempt−1), capped, with jitter (between half and all of it) so that
    /// workers retrying after one outage do not return in step.
    func backoff(attempt: Int) -> Duration {
        let base = Double(settings.retryBaseSeconds)
        let capped = min(Double(settings.retryMaxSeconds), base * pow(2, Double(min(attempt - 1, 30))))
        return .milliseconds(Int(capped * Double.random(in: 0.5...1.0) * 1000))
    }

    /// `j***@acme.com`: logs never carry a full address.
    static func hint(_ address: String) -> String {
        EmailAddress(address)?.hint ?? "***"
    }
}
