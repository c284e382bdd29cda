import Foundation
import PQ
import PostgresTestSupport
import Testing

/// `withTransaction` commits on return, rolls back on throw, scopes its settings to itself,
/// and `withRetryingTransaction` survives a real serialization failure.
@Suite struct PQTransactionTests {
    struct Abandon: Error {}

    static func count(_ table: String, on pool: PQPool) async throws -> Int {
        try #require(try await pool.query("SELECT count(*) AS n FROM \(unsafeSQL: table)").first).decode("n", as: Int.self)
    }

    @Test(.scratchDatabase) func aThrowingBodyRollsBackAndAReturningBodyCommits() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool(as: .owner)
        try await pool.query("CREATE TABLE notes (body text)")
        await #expect(throws: Abandon.self) {
            try await pool.withTransaction { tx in
                try tx.query("INSERT INTO notes VALUES (\("rolled back"))")
                throw Abandon()
            }
        }
        #expect(try await Self.count("notes", on: pool) == 0)
        let inserted = try await pool.withTransaction { tx in
            try tx.query("INSERT INTO notes VALUES (\("kept"))").affectedRows
        }
        #expect(inserted == 1)
        let rows = try await pool.query("SELECT body FROM notes")
        #expect(try rows.map { try $0.decode("body", as: String.self) } == ["kept"])
        await pool.close()
    }

    /// A body that swallows a failed statement and returns must not be reported as committed:
    /// PostgreSQL answers COMMIT of an aborted transaction with a quiet ROLLBACK.
    @Test(.scratchDatabase) func aBodyThatSwallowsAFailedStatementDoesNotReportACommit() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool(as: .owner, maxConnections: 1)
        try await pool.query("CREATE TABLE notes (body text UNIQUE)")
        try await pool.query("INSERT INTO notes VALUES (\("taken"))")
        let error = try await #require(throws: PQError.self) {
            try await pool.withTransaction { tx in
                try tx.query("INSERT INTO notes VALUES (\("first write"))")
                // "Already there? Fine." — but the transaction is now aborted.
                _ = try? tx.query("INSERT INTO notes VALUES (\("taken"))")
            }
        }
        #expect(error.sqlState == "25P02")
        #expect(try await Self.count("notes", on: pool) == 1)
        // The connection is clean for the next borrower.
        #expect(try await pool.withTransaction { tx in try tx.query("SELECT 1 AS one").firstRow().decode("one", as: Int.self) } == 1)
        await pool.close()
    }

    @Test(.scratchDatabase) func settingsAreVisibleInsideAndGoneInTheNextTransaction() async throws {
        let database = try ScratchDatabase.current
        // One connection, so the second transaction reuses the first one's session.
        let pool = database.pool(maxConnections: 1)
        let (inside, pid) = try await pool.withTransaction(settings: [("app.company_id", "c-1"), ("app.note", "it's \"quoted\"")]) { tx in
            let row = try tx.query(
                "SELECT current_setting('app.company_id', true) AS company, current_setting('app.note', true) AS note, pg_backend_pid() AS pid"
            ).firstRow()
            return ([try row.decode("company", as: String.self), try row.decode("note", as: String.self)], try row.decode("pid", as: Int.self))
        }
        #expect(inside == ["c-1", "it's \"quoted\""])
        let (after, samePID) = try await pool.withTransaction { tx in
            let row = try tx.query("SELECT current_setting('app.company_id', true) AS company, pg_backend_pid() AS pid").firstRow()
            return (try row.decode("company", as: String?.self), try row.decode("pid", as: Int.self))
        }
        #expect(samePID == pid)
        #expect(after == nil || after == "")
        await pool.close()
    }

    @Test(.scratchDatabase) func theIsolationLevelIsTheOneAskedFor() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool()
        for (isolation, shown) in [
            (PQIsolation.readCommitted, "read committed"), (.repeatableRead, "repeatable read"), (.serializable, "serializable"),
        ] {
            let level = try await pool.withTransaction(isolation: isolation) { tx in
                try tx.query("SHOW transaction_isolation").firstRow().decode("transaction_isolation", as: String.self)
            }
            #expect(level == shown)
        }
        let timeout = try await pool.withTransaction { tx in
            try tx.query("SHOW statement_timeout").firstRow().decode("statement_timeout", as: String.self)
        }
        #expect(timeout == "10s")
        await pool.close()
    }

    /// Two SERIALIZABLE transactions each read the ledger's maximum and append the next number.
    /// A barrier makes both read before either writes, so one of them must fail with 40001; the
    /// retry reads again and the ledger ends as 1, 2 (without serializability it would be 1, 1).
    @Test(.scratchDatabase) func aRealSerializationFailureIsRetriedToTheRightResult() async throws {
        let database = try ScratchDatabase.current
        let owner = database.pool(as: .owner)
        try await owner.query("CREATE TABLE ledger (n int NOT NULL)")
        await owner.close()
        let pool = database.pool(as: .owner, maxConnections: 2)
        let barrier = ThreadBarrier(parties: 2)
        let runs = Counter()
        let barrierFailures = Counter()
        let firstRun = [Counter(), Counter()]

        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<2 {
                group.addTask {
                    try await pool.withRetryingTransaction(isolation: .serializable) { tx in
                        runs.increment()
                        let next = try tx.query("SELECT coalesce(max(n), 0) + 1 AS next FROM ledger").firstRow().decode("next", as: Int.self)
                        // Only the first run of each body waits for the other to have read.
                        if firstRun[index].increment() == 1, !barrier.arriveAndWait() { barrierFailures.increment() }
                        try tx.query("INSERT INTO ledger VALUES (\(Int32(next)))")
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(barrierFailures.current == 0)
        #expect(runs.current >= 3)
        let ledger = try await pool.query("SELECT n FROM ledger ORDER BY n")
        #expect(try ledger.map { try $0.decode("n", as: Int.self) } == [1, 2])
        await pool.close()
    }

    @Test(.scratchDatabase) func aNonRetryableErrorIsNotRetried() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool()
        let runs = Counter()
        let error = try await #require(throws: PQError.self) {
            try await pool.withRetryingTransaction { tx in
                runs.increment()
                try tx.query("SELEC 1")
            }
        }
        #expect(error.sqlState == "42601")
        #expect(runs.current == 1)
        await pool.close()
    }
}
