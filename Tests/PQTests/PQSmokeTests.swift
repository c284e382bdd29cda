import Foundation
import PQ
import TestSupport
import Testing

@Suite struct PQSmokeTests {
    @Test(.postgres) func aBoundQueryRoundTripsThroughTheAPIRole() async throws {
        let database = try TestDatabase.current
        let pool = database.pool()
        let rows = try await pool.query("SELECT \(42) AS answer, \("héllo") AS greeting, current_user AS role")
        #expect(try rows.first?.decode("answer", as: Int.self) == 42)
        #expect(try rows.first?.decode("greeting", as: String.self) == "héllo")
        #expect(try rows.first?.decode("role", as: String.self) == "tollgate_api")
        await pool.close()
    }
}
