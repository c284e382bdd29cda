public import Logging
public import PQ
public import ServiceLifecycle

/// One kind of row that outlives its use, and the statement that deletes it.
public enum Purge: Sendable {
    /// Rate-limit counters whose window started more than `olderThan` seconds ago (`tollgate_api`'s table).
    case rateLimits(olderThan: Int)
    /// `Idempotency-Key` records past their 24 hours (`tollgate_api`'s table).
    case idempotencyKeys
    /// Ended rows past their retention, through `purge_ended(batch)`: the only way
    /// `tollgate_worker` deletes anything, with the periods `tollgate migrate` stored.
    case retention(RetentionSettings)

    /// What the logs call it.
    public var name: String {
        switch self {
        case .rateLimits: "rate_limits"
        case .idempotencyKeys: "idempotency_keys"
        case .retention: "retention"
        }
    }

    /// Runs the purge once; returns the rows deleted per kind (table, or `purge_ended`'s kinds).
    public func run(on pool: PQPool) async throws -> [String: Int] {
        switch self {
        case .rateLimits(let seconds): ["rate_limits": try await RateLimiter.purge(olderThan: seconds, pool: pool)]
        case .idempotencyKeys: ["idempotency_keys": try await AdminService.purgeIdempotencyKeys(pool: pool)]
        case .retention(let settings): try await Self.purgeEnded(batchSize: settings.batchSize, pool: pool)
        }
    }

    /// Batches until nothing is left past retention (at most `maxBatches`): each call of
    /// `purge_ended()` removes at most one batch per table in one short statement, so no lock
    /// is held for long and the API's requests interleave.
    private static func purgeEnded(batchSize: Int, pool: PQPool, maxBatches: Int = 100) async throws -> [String: Int] {
        var total: [String: Int] = [:]
        for _ in 0..<maxBatches {
            let rows = try await pool.query(
                "retention.purge",
                // The periods are the stored ones (migration 0017): only the batch is ours.
                "SELECT kind, deleted FROM purge_ended(\(batchSize)::integer)"
            )
            var full = false
            for row in rows {
                let deleted: Int = try row.decode("deleted")
                total[try row.decode("kind"), default: 0] += deleted
                if deleted >= batchSize { full = true }
            }
            if !full { break }
        }
        return total
    }
}

/// The one periodic cleanup, a `Service` each process runs with the purges its database role
/// may do: `serve` runs ``api(pool:limits:every:logger:)``, the worker
/// ``worker(pool:retention:logger:)``. Each role deletes only from tables it already writes,
/// so no grant widens for it, and an API running alone still clears its counters. The
/// DELETEs are idempotent: several processes running the same purges do no harm.
public struct Purger: Service {
    public let purges: [Purge]
    let pool: PQPool
    let interval: Duration
    let logger: Logger

    public init(pool: PQPool, purges: [Purge], every interval: Duration, logger: Logger) {
        self.pool = pool
        self.purges = purges
        self.interval = interval
        self.logger = logger
    }

    /// An API process's: counters older than twice the longest window, and idempotency keys
    /// older than a day, every ten minutes.
    public static func api(pool: PQPool, limits: AbuseLimits, every interval: Duration = .seconds(600), logger: Logger) -> Purger {
        Purger(pool: pool, purges: [.rateLimits(olderThan: limits.longestWindow * 2), .idempotencyKeys], every: interval, logger: logger)
    }

    /// A worker's: ended rows past retention, every `RETENTION_INTERVAL`.
    public static func worker(pool: PQPool, retention: RetentionSettings, logger: Logger) -> Purger {
        Purger(pool: pool, purges: [.retention(retention)], every: .seconds(retention.interval), logger: logger)
    }

    /// Runs every purge once, in order; one that fails is logged and the next still runs.
    /// Returns the rows deleted per kind.
    @discardableResult
    public func purgeOnce() async -> [String: Int] {
        var deleted: [String: Int] = [:]
        for purge in purges {
            do {
                deleted.merge(try await purge.run(on: pool), uniquingKeysWith: +)
            } catch {
                logger.warning("purge.failed", metadata: ["purge": "\(purge.name)", "error": "\(error)"])
            }
        }
        if deleted.values.contains(where: { $0 > 0 }) {
            logger.info("purge.done", metadata: deleted.filter { $0.value > 0 }.mapValues { "\($0)" })
        }
        return deleted
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await purgeOnce()
                try? await Task.sleep(for: interval)
            }
        }
    }
}
