import Foundation
import PQ
import TestSupport
import Testing

@testable import TollgateCore

/// Writes sent with the COMMIT state what they must find (migration 0013): a prediction that
/// does not hold must leave nothing behind, so the service can run the request again.
@Suite struct ExpectedOutcomeTests {
    @Test(.postgres) func aFailedExpectationRollsBackEverythingQueuedWithIt() async throws {
        let database = try TestDatabase.current
        let owner = database.pool(role: nil)
        let tenant = try await RowLevelSecurityTests.createTenant("Alpha", on: owner)
        let api = database.pool(role: "tollgate_api", maxConnections: 1)
        let scope = [("app.company_id", tenant.company.uuidString)]
        let consecutive: PQQuery = "SELECT consecutive_wrong_codes FROM users WHERE id = \(tenant.owner)"
        let failed = await databaseRefusal {
            try await api.withTransaction(settings: scope) { tx in
                tx.queue("UPDATE users SET consecutive_wrong_codes = consecutive_wrong_codes + 1 WHERE id = \(tenant.owner)")
                // Predicts a change of a row that the statement does not change.
                ExpectedOutcome.queue(
                    "test.no_such_row",
                    changingOneRow: "UPDATE users SET consecutive_wrong_codes = 7 WHERE id = \(UUID()) RETURNING id",
                    in: tx
                )
            }
        }
        #expect(failed?.isMispredicted == true)
        #expect(failed?.message.contains("test.no_such_row") == true)
        #expect(try await owner.query(consecutive).first?.decode("consecutive_wrong_codes", as: Int.self) == 0, "nothing of it is kept")

        // A prediction that holds commits like any transaction, on the same connection.
        let pids = try await api.withTransaction(settings: scope) { tx -> [Int] in
            let pid = try tx.query("SELECT pg_backend_pid() AS pid").first?.decode("pid", as: Int.self) ?? -1
            ExpectedOutcome.queue(
                "test.the_owner",
                changingOneRow: "UPDATE users SET consecutive_wrong_codes = 3 WHERE id = \(tenant.owner) RETURNING id",
                in: tx
            )
            return [pid]
        }
        #expect(try await owner.query(consecutive).first?.decode("consecutive_wrong_codes", as: Int.self) == 3)
        let again = try await api.query("SELECT pg_backend_pid() AS pid").first?.decode("pid", as: Int.self)
        #expect(pids == [again ?? -2], "the connection stays in the pool after a failed expectation and a held one")
    }

    @Test func aMispredictionRunsTheWorkAgainReadingAndOtherErrorsPassThrough() async throws {
        let runs = RunLog()
        let answer = try await ExpectedOutcome.predictingFirst("test", logger: TestPostgres.logger) { predicting in
            runs.add(predicting)
            if predicting { throw PQError(kind: .server, sqlState: ExpectedOutcome.sqlState, message: "mispredicted") }
            return "read"
        }
        #expect(answer == "read")
        #expect(runs.all == [true, false])

        let other = RunLog()
        await #expect(throws: PQError.self) {
            try await ExpectedOutcome.predictingFirst("test", logger: TestPostgres.logger) { predicting -> String in
                other.add(predicting)
                throw PQError(kind: .server, sqlState: "40001", message: "serialization failure")
            }
        }
        #expect(other.all == [true], "only a misprediction runs the work again")
    }
}

/// Which runs happened, in order.
final class RunLog: @unchecked Sendable {
    private let lock = NSLock()
    private var runs: [Bool] = []
    func add(_ predicting: Bool) { lock.withLock { runs.append(predicting) } }
    var all: [Bool] { lock.withLock { runs } }
}
