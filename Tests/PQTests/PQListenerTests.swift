import Foundation
import PQ
import PostgresTestSupport
import Testing

/// LISTEN/NOTIFY delivery, and recovery after the listening connection is killed.
@Suite struct PQListenerTests {
    @Test(.scratchDatabase) func notificationsArriveAndKeepArrivingAfterTheListenerIsTerminated() async throws {
        let database = try ScratchDatabase.current
        let listener = try PQListener(
            conninfo: database.server.conninfo,
            overrides: database.overrides(as: .owner),
            channels: ["tollgate_test", "second"],
            logger: TestPostgres.logger
        )
        let events = EventReader(listener.events())
        defer { listener.stop() }
        let pool = database.pool(as: .owner, maxConnections: 1)

        #expect(try await events.next("the first .listening") == .listening)
        try await pool.query("NOTIFY tollgate_test, 'first payload'")
        #expect(try await events.next("the first notification") == .notification(channel: "tollgate_test", payload: "first payload"))
        // pg_notify with a bound payload, on the second channel.
        try await pool.query("SELECT pg_notify('second', \("é ünïcode"))")
        #expect(try await events.next("the bound-payload notification") == .notification(channel: "second", payload: "é ünïcode"))

        let terminated = try #require(
            try await pool.query(
                """
                SELECT count(pg_terminate_backend(pid, 5000)) AS n FROM pg_stat_activity
                WHERE application_name = 'tollgate-listener' AND datname = current_database()
                """
            ).first
        ).decode("n", as: Int.self)
        #expect(terminated == 1)
        #expect(try await events.next("the second .listening after the termination") == .listening)
        try await pool.query("NOTIFY tollgate_test, 'after reconnect'")
        let again = try await events.next("the notification after reconnecting")
        #expect(again == .notification(channel: "tollgate_test", payload: "after reconnect"))
        await pool.close()
    }

    @Test func aChannelNameThatIsNotAnIdentifierIsRefused() throws {
        #expect(throws: PQError.self) {
            try PQListener(conninfo: "", channels: ["bad\"; DROP TABLE x; --"], logger: TestPostgres.logger)
        }
    }
}
