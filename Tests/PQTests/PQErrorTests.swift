import Foundation
import PQ
import PostgresTestSupport
import Testing

/// Server errors arrive as `PQError` with their SQLSTATE, and never carry a bound value.
@Suite struct PQErrorTests {
    @Test(.scratchDatabase) func aSyntaxErrorIsAServerErrorWith42601() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool()
        let error = try await #require(throws: PQError.self) { try await pool.query("SELEC 1") }
        #expect(error.kind == .server)
        #expect(error.sqlState == "42601")
        // The pool is still usable afterwards.
        #expect(try await pool.query("SELECT 1 AS one").first?.decode("one", as: Int.self) == 1)
        await pool.close()
    }

    @Test(.scratchDatabase) func aUniqueViolationNamesItsConstraint() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool(as: .owner)
        try await pool.query("CREATE TABLE people (email text CONSTRAINT people_email_unique UNIQUE)")
        try await pool.query("INSERT INTO people VALUES (\("ann@example.com"))")
        let error = try await #require(throws: PQError.self) {
            try await pool.query("INSERT INTO people VALUES (\("ann@example.com"))")
        }
        #expect(error.kind == .server)
        #expect(error.sqlState == "23505")
        #expect(error.isUniqueViolation)
        #expect(error.constraint == "people_email_unique")
        #expect(!error.message.contains("ann@example.com"))
        #expect(!error.description.contains("ann@example.com"))
        await pool.close()
    }

    @Test(.scratchDatabase) func aDataExceptionDoesNotRepeatTheBoundValue() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool()
        let secret = "s3cret-not-a-uuid"
        let error = try await #require(throws: PQError.self) { try await pool.query("SELECT \(secret)::uuid") }
        #expect(error.sqlState == "22P02")
        #expect(!error.message.contains(secret))
        #expect(!error.description.contains(secret))
        #expect(error.message.contains("uuid"))
        await pool.close()
    }

    /// Other data exceptions quote the value without a colon before it ("value "…" is out of range").
    @Test(.scratchDatabase) func everyKindOfDataExceptionIsRedacted() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool()
        let probes: [(String, PQQuery)] = [
            ("22003", "SELECT \("98765432109")::int4"),
            ("22P02", "SELECT \("9876xyz")::int8"),
            ("22007", "SELECT \("98765-not-a-date")::timestamptz"),
            ("22P02", "SELECT \("98765 not json")::jsonb"),
            ("22P02", "SELECT \("98765maybe")::bool"),
            ("22003", "SELECT \("98765")::int2"),
            ("22003", "SELECT \("98765e400")::float8"),
            ("22008", "SELECT \("2024-13-98765")::date"),
        ]
        for (state, query) in probes {
            let error = try await #require(throws: PQError.self, "\(query.sql)") { try await pool.query(query) }
            #expect(error.sqlState == state, "\(query.sql): \(error)")
            #expect(!error.message.contains("98765"), "\(query.sql): \(error.message)")
            #expect(!error.description.contains("98765"), "\(query.sql)")
        }
        // The sentence that says what went wrong survives.
        let range = try await #require(throws: PQError.self) { try await pool.query("SELECT \("98765432109")::int4") }
        #expect(range.message == "value (value redacted) is out of range for type integer")
        await pool.close()
    }

    @Test(.scratchDatabase) func theStatementNameAppearsInTheError() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool()
        let error = try await #require(throws: PQError.self) {
            try await pool.query(("SELECT * FROM no_such_table" as PQQuery).named("widgets.lookup"))
        }
        #expect(error.sqlState == "42P01")
        #expect(error.statement == "widgets.lookup")
        #expect(error.description.contains("widgets.lookup"))
        await pool.close()
    }

    @Test func aConnectionThatCannotBeMadeIsAConnectionError() async throws {
        let server = try await TestPostgres.server()
        let error = try await #require(throws: PQError.self) {
            try await blocking { try PQConnection.connect(server.conninfo, overrides: [("dbname", "no_such_database_here")]) }
        }
        #expect(error.kind == .connection)
        #expect(error.isConnectionFailure)
    }
}
