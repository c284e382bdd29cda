import Logging
import PQ

/// Writes sent with the COMMIT before their answers are read, each stating what it must find
/// (migration 0013, `expect_outcome`). A transaction whose locked rows already tell what its
/// writes will do needs no round trip per write: it queues them with their expectations and
/// answers from the prediction. If an expectation does not hold, the database raises
/// ``sqlState``, nothing of the transaction is kept, and the caller runs it again reading
/// each answer (``PQError/isMispredicted``). A wrong prediction costs time, never a wrong result.
enum ExpectedOutcome {
    /// The SQLSTATE `expect_outcome` raises.
    static let sqlState = "TG001"

    /// Queues `update` (an UPDATE … RETURNING) with the expectation that it changes exactly one row.
    static func queue(_ name: String, changingOneRow update: PQQuery, in tx: PQTransaction) {
        queue(name, update, rows: 1, in: tx)
    }

    /// Queues `update` (an UPDATE … RETURNING) with the expectation that it changes nothing.
    static func queue(_ name: String, changingNoRow update: PQQuery, in tx: PQTransaction) {
        queue(name, update, rows: 0, in: tx)
    }

    /// Queues `statement` with the expectation that it answers `rows` rows for which
    /// `condition` (SQL over its columns) holds.
    static func queue(_ name: String, _ statement: PQQuery, rows: Int, where condition: String = "true", in tx: PQTransaction) {
        tx.queue(
            name,
            """
            WITH done AS (\(statement: statement))
            SELECT expect_outcome((SELECT count(*) FROM done WHERE \(unsafeSQL: condition)) = \(rows), \(name))
            """
        )
    }
}

extension PQError {
    /// A queued write's expected outcome did not hold (``ExpectedOutcome``): the transaction
    /// was rolled back, and may be run again reading each answer.
    var isMispredicted: Bool { sqlState == ExpectedOutcome.sqlState }
}

extension ExpectedOutcome {
    /// Runs `work` predicting (`true`), and once more reading each answer (`false`) when a
    /// prediction proved wrong; `logger` notes the second run at debug level.
    static func predictingFirst<T>(_ what: String, logger: Logger, _ work: (_ predicting: Bool) async throws -> T) async throws -> T {
        do {
            return try await work(true)
        } catch let error as PQError where error.isMispredicted {
            logger.debug("\(what).reread", metadata: ["statement": "\(error.statement ?? "")"])
            return try await work(false)
        }
    }
}
