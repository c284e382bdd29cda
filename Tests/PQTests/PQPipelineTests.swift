import PQ
import PostgresTestSupport
import Testing

/// `pipeline` sends statements together: every result comes back in order, in one round
/// trip, and a failure stops the rest and leaves the connection usable.
@Suite struct PQPipelineTests {
    @Test(.scratchDatabase) func statementsRunInOrderAndAnswerInOneRoundTrip() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool(as: .owner, maxConnections: 1)
        try await pool.query("CREATE TABLE notes (n int PRIMARY KEY, body text)")
        let before = pool.roundTrips
        let results = try await pool.withConnection { connection in
            try connection.pipeline([
                "INSERT INTO notes VALUES (\(1), \("one"))",
                "INSERT INTO notes VALUES (\(2), \("two")) RETURNING n",
                "SELECT body FROM notes ORDER BY n",
            ])
        }
        #expect(pool.roundTrips - before == 1)
        #expect(results.count == 3)
        #expect(results[0].affectedRows == 1)
        #expect(try results[1].firstRow().decode("n", as: Int.self) == 2)
        #expect(try results[2].map { try $0.decode("body", as: String.self) } == ["one", "two"])
        await pool.close()
    }

    /// Outside a transaction block the pipeline is one implicit transaction: the failure of
    /// the second statement undoes the first and skips the third.
    @Test(.scratchDatabase) func aFailureStopsThePipelineAndUndoesIt() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool(as: .owner, maxConnections: 1)
        try await pool.query("CREATE TABLE notes (n int PRIMARY KEY)")
        try await pool.query("INSERT INTO notes VALUES (\(2))")
        let error = try await #require(throws: PQError.self) {
            try await pool.withConnection { connection in
                try connection.pipeline([
                    "INSERT INTO notes VALUES (\(1))",
                    "INSERT INTO notes VALUES (\(2))",
                    "INSERT INTO notes VALUES (\(3))",
                ])
            }
        }
        #expect(error.sqlState == "23505")
        let rows = try await pool.query("SELECT n FROM notes ORDER BY n")
        #expect(try rows.map { try $0.decode("n", as: Int.self) } == [2])
        await pool.close()
    }

    /// Inside a transaction, a failed pipeline leaves the block failed; withTransaction rolls
    /// it back and the connection serves the next borrower.
    @Test(.scratchDatabase) func aFailedPipelineInATransactionRollsBackAndTheConnectionIsReused() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool(as: .owner, maxConnections: 1)
        try await pool.query("CREATE TABLE notes (n int PRIMARY KEY)")
        await #expect(throws: PQError.self) {
            try await pool.withTransaction { tx in
                try tx.query("INSERT INTO notes VALUES (\(7))")
                // Queued, it goes in one pipeline with the failing statement.
                tx.queue("INSERT INTO notes VALUES (\(8))")
                try tx.query("SELECT 1 / \(0) AS boom")
            }
        }
        #expect(try await pool.query("SELECT count(*) AS n FROM notes").firstRow().decode("n", as: Int.self) == 0)
        let two = try await pool.withTransaction { tx in
            tx.queue("INSERT INTO notes VALUES (\(1))")
            return try tx.query("SELECT count(*) + \(1) AS two FROM notes")
        }
        #expect(try two.firstRow().decode("two", as: Int.self) == 2)
        await pool.close()
    }

    /// A transaction costs its statements plus one: BEGIN and the settings travel with the
    /// first statement, queued writes with the COMMIT; a read costs one round trip in all.
    @Test(.scratchDatabase) func transactionsSendTheirOpeningAndQueuedWritesWithOtherStatements() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool(as: .owner, maxConnections: 1)
        try await pool.query("CREATE TABLE notes (n int PRIMARY KEY)")
        var before = pool.roundTrips
        let setting = try await pool.withTransaction(settings: [("app.note", "it's set")]) { tx in
            tx.queue("INSERT INTO notes VALUES (\(1))")
            let value = try tx.query("SELECT current_setting('app.note') AS v").firstRow().decode("v", as: String.self)
            tx.queue("INSERT INTO notes VALUES (\(2))")
            return value
        }
        #expect(setting == "it's set")
        #expect(pool.roundTrips - before == 2, "BEGIN, settings, a write and the SELECT; then a write and COMMIT")
        #expect(try await pool.query("SELECT count(*) AS n FROM notes").firstRow().decode("n", as: Int.self) == 2)

        before = pool.roundTrips
        let read = try await pool.read(settings: [("app.note", "read")], "SELECT current_setting('app.note') AS v")
        #expect(try read.firstRow().decode("v", as: String.self) == "read")
        #expect(pool.roundTrips - before == 1)

        before = pool.roundTrips
        try await pool.withTransaction { _ in }
        #expect(pool.roundTrips == before, "a transaction that sends nothing costs nothing")
        await pool.close()
    }

    /// A queued write that fails at COMMIT rolls the whole transaction back, and says why.
    @Test(.scratchDatabase) func aQueuedWriteThatFailsRollsTheTransactionBack() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool(as: .owner, maxConnections: 1)
        try await pool.query("CREATE TABLE notes (n int PRIMARY KEY)")
        try await pool.query("INSERT INTO notes VALUES (\(5))")
        let error = try await #require(throws: PQError.self) {
            try await pool.withTransaction { tx in
                try tx.query("INSERT INTO notes VALUES (\(6))")
                tx.queue("INSERT INTO notes VALUES (\(5))")
            }
        }
        #expect(error.sqlState == "23505")
        let rows = try await pool.query("SELECT n FROM notes ORDER BY n")
        #expect(try rows.map { try $0.decode("n", as: Int.self) } == [5])
        #expect(try await pool.withTransaction { tx in try tx.query("SELECT 1 AS one").firstRow().decode("one", as: Int.self) } == 1)
        await pool.close()
    }

    /// A statement embedded in another keeps its binds, renumbered after those before it.
    @Test(.scratchDatabase) func anEmbeddedStatementKeepsItsBinds() async throws {
        let database = try ScratchDatabase.current
        let inner: PQQuery = "SELECT \(5) AS a, \("five") AS b"
        let outer: PQQuery = "SELECT \(7) AS c, i.a, i.b, \(9) AS d FROM (\(statement: inner)) i"
        #expect(outer.sql == "SELECT $1 AS c, i.a, i.b, $2 AS d FROM (SELECT $3 AS a, $4 AS b) i")
        // Ten or more binds before it, non-ASCII text beside the placeholders, a `$` that is no
        // placeholder, and a placeholder at the very end.
        let tail: PQQuery = "SELECT 'é' || \("x") AS e, '$' AS dollar, \(true) = \(false)"
        let many: PQQuery = "SELECT \(1), \(2), \(3), \(4), \(5), \(6), \(7), \(8), \(9), \(10), \(statement: tail) x"
        #expect(many.sql == "SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, SELECT 'é' || $11 AS e, '$' AS dollar, $12 = $13 x")
        #expect(many.binds.count == 13)
        let first: PQQuery = "\(statement: inner)"
        #expect(first.sql == inner.sql && first.binds.count == 2)
        let pool = database.pool(as: .owner, maxConnections: 1)
        let row = try await pool.query(outer).firstRow()
        #expect(try row.decode("c", as: Int.self) == 7 && row.decode("d", as: Int.self) == 9)
        #expect(try row.decode("a", as: Int.self) == 5 && row.decode("b", as: String.self) == "five")
        await pool.close()
    }
}
