import Foundation
import PQ
import PostgresTestSupport
import Testing

/// SPEC §15 from the pool's side: a server that has turned read-only (a standby, or a primary
/// being demoted) is no more use than a gone one, and the pool must not keep connections to it.
@Suite struct PQFailoverTests {
    @Test func aConnectionToAReadOnlyServerIsDroppedAndTheNextOneWrites() async throws {
        try await ScratchDatabase.with { database in
            let admin = database.pool(as: .owner, maxConnections: 1)
            let pool = database.pool(as: .owner, maxConnections: 2)
            try await pool.query("CREATE TABLE failover_probe (n integer)")
            // Every new session of this database is read-only, as on a standby; the pool's open
            // connection is ended, as a failover ends it.
            try await admin.query(PQQuery(unsafeSQL: "ALTER DATABASE \"\(database.name)\" SET default_transaction_read_only = on"))
            try await admin.query(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            let error = await #expect(throws: PQError.self) { try await pool.query("INSERT INTO failover_probe VALUES (1)") }
            #expect(error?.isReadOnly == true)
            #expect(pool.usage.open == 0, "a connection to a read-only server was kept")
            #expect(pool.failoverCounts.lost >= 2)

            // The writable server is back: the same pool writes, on a connection it opens now.
            try await admin.query(PQQuery(unsafeSQL: "ALTER DATABASE \"\(database.name)\" RESET default_transaction_read_only"))
            try await pool.query("INSERT INTO failover_probe VALUES (2)")
            let count = try #require(try await pool.query("SELECT count(*) AS n FROM failover_probe").first).decode("n", as: Int.self)
            #expect(count == 1)
            #expect(pool.failoverCounts.reconnects >= 1)
            await admin.close()
            await pool.close()
        }
    }
}

/// A server that stops answering without closing its connections (a frozen primary, a
/// network that drops packets) must not hold a caller past the statement timeout.
@Suite struct PQFrozenServerTests {
    @Test func aCallToAFrozenBackendIsAbandonedAndRetriedOnAFreshConnection() async throws {
        try await ScratchDatabase.with { database in
            var configuration = PQPoolConfiguration(
                conninfo: database.server.conninfo,
                overrides: database.overrides(as: .owner),
                maxConnections: 1,
                statementTimeoutMilliseconds: 1000
            )
            configuration.abandonCallsAfter = .seconds(2)
            let pool = PQPool(configuration: configuration, logger: TestPostgres.logger)
            let frozen = try #require(try await pool.query("SELECT pg_backend_pid() AS pid").first).decode("pid", as: Int.self)
            // The backend stops (as a frozen server would); its socket stays open. A valve
            // resumes it after 60 s whatever happens, so that a failing run ends.
            #expect(kill(pid_t(frozen), SIGSTOP) == 0)
            let valve = Task.detached {
                try? await Task.sleep(for: .seconds(60))
                kill(pid_t(frozen), SIGCONT)
            }
            let answered = try #require(try await pool.query("SELECT pg_backend_pid() AS pid").first).decode("pid", as: Int.self)
            kill(pid_t(frozen), SIGCONT)
            valve.cancel()
            #expect(answered != frozen, "the call waited for the frozen backend instead of giving it up")
            #expect(pool.failoverCounts.lost == 1)
            await pool.close()
        }
    }
}

/// The LISTEN connection on a server that froze: no error ever comes, so only the heartbeat
/// can tell, and the listener must reconnect (and report `.listening` again).
@Suite struct PQListenerHeartbeatTests {
    @Test(.scratchDatabase) func aListenerOnAFrozenBackendReconnects() async throws {
        let database = try ScratchDatabase.current
        let listener = try PQListener(
            conninfo: database.server.conninfo,
            overrides: database.overrides(as: .owner),
            channels: ["tollgate_test"],
            heartbeat: .milliseconds(500),
            logger: TestPostgres.logger
        )
        let events = EventReader(listener.events())
        defer { listener.stop() }
        let pool = database.pool(as: .owner, maxConnections: 1)
        #expect(try await events.next("the first .listening") == .listening)
        let frozen = try #require(
            try await pool.query(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'tollgate-listener' AND datname = current_database()"
            ).first
        ).decode("pid", as: Int.self)
        #expect(kill(pid_t(frozen), SIGSTOP) == 0)
        // A valve resumes it after 60 s whatever happens, so that a failing run ends.
        let valve = Task.detached {
            try? await Task.sleep(for: .seconds(60))
            kill(pid_t(frozen), SIGCONT)
        }
        defer {
            kill(pid_t(frozen), SIGCONT)
            valve.cancel()
        }
        #expect(try await events.next("a new .listening after the backend froze") == .listening)
        try await pool.query("NOTIFY tollgate_test, 'after the freeze'")
        #expect(try await events.next("a notification on the new connection") == .notification(channel: "tollgate_test", payload: "after the freeze"))
        await pool.close()
    }
}
