import Foundation
import PQ
import TestSupport
import Testing

/// Writes sent with the COMMIT state what they must find (migration 0013): a prediction that
/// does not hold must leave nothing behind, so the service can run the request again.
@Suite struct ExpectedOutcomeTests {
    @Test(.postgres) func aFailedExpectationRollsBackEverythingQueuedWithIt() async throws {
        let database = try TestDatabase.current
        let owner = database.pool(role: nil)
        let tenant = try await RowLevelSecurityTests.createTenant("Alpha", on: owner)
        let api = database.pool(role: "tollgate_api", maxConnections: 1)
        let scope = [("app.company_id", tenant.company.uuidString)]
        let failedLock = await databaseRefusal {
            try await api.withTransaction(settings: scope) { tx in
                tx.queue("UPDATE users SET consecutive_wrong_codes = consecutive_wrong_codes + 1 WHERE id = \(tenant.owner)")
                // The statement the service queues for "this wrong code does not lock the account",
                // here with a limit the count has already reached.
                tx.queue(
                    """
                    WITH done AS (UPDATE users SET consecutive_wrong_codes = consecutive_wrong_codes + 1
                                  WHERE id = \(tenant.owner) AND consecutive_wrong_codes + 1 < 1 RETURNING id)
                    SELECT expect_outcome((SELECT count(*) FROM done) = 1, 'code_limits.count_wrong_code')
                    """
                )
            }
        }
        #expect(failedLock?.sqlState == "TG001")
        #expect(failedLock?.message.contains("code_limits.count_wrong_code") == true)
        let count = try await owner.query("SELECT consecutive_wrong_codes FROM users WHERE id = \(tenant.owner)")
        #expect(try count.first?.decode("consecutive_wrong_codes", as: Int.self) == 0, "nothing of the transaction is kept")

        // A prediction that holds commits like any transaction, and the connection is reused.
        try await api.withTransaction(settings: scope) { tx in
            tx.queue("SELECT expect_outcome(true, 'holds')")
            tx.queue("UPDATE users SET consecutive_wrong_codes = 3 WHERE id = \(tenant.owner)")
        }
        let after = try await owner.query("SELECT consecutive_wrong_codes FROM users WHERE id = \(tenant.owner)")
        #expect(try after.first?.decode("consecutive_wrong_codes", as: Int.self) == 3)
    }
}
