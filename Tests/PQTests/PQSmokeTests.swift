import Foundation
import PQ
import PostgresTestSupport
import Testing

@Suite struct PQSmokeTests {
    /// Binds travel and come back through a role with no privilege beyond logging in, as an
    /// application's role has.
    @Test(.scratchDatabase) func aBoundQueryRoundTripsThroughAPlainRole() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool()
        let rows = try await pool.query(
            """
            SELECT \(42) AS answer, \("héllo") AS greeting, current_user AS role,
                   (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user) AS privileged
            """
        )
        #expect(try rows.first?.decode("answer", as: Int.self) == 42)
        #expect(try rows.first?.decode("greeting", as: String.self) == "héllo")
        #expect(try rows.first?.decode("role", as: String.self) == database.server.plainRole)
        #expect(try rows.first?.decode("privileged", as: Bool.self) == false)
        await pool.close()
    }
}
