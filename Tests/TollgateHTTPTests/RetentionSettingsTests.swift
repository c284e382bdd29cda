import Foundation
import PQ
import TestSupport
import Testing
import TollgateCore

/// Retention periods after the security review (issue 22): `tollgate migrate` (the owner)
/// stores them, and the worker's `purge_ended(batch)` reads them; the worker cannot choose them.
@Suite(.timeLimit(.minutes(5))) struct RetentionSettingsTests {
    static func count(_ app: TestApp, _ table: String) async throws -> Int {
        try await RetentionTests.count(app, table)
    }

    @Test func theWorkerCannotPurgeAnEventYoungerThanTheStoredPeriod() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            for _ in 0..<2 { _ = try await client.login(seed.member, client: "phone_app") }
            try await app.owner.withTransaction { tx in
                try tx.query("SET LOCAL session_replication_role = replica")
                try tx.query("UPDATE events SET created_at = now() - interval '40 days'")
            }
            let events = try await Self.count(app, "events")
            #expect(events >= 2)
            let worker = app.database.pool(role: "tollgate_worker", maxConnections: 1)
            // The periods are no longer the caller's: the five-argument function is gone.
            let old = await databaseRefusal {
                _ = try await worker.query("SELECT * FROM purge_ended(1000, 3600, 86400, 3600, 2592000)")
            }
            #expect(old?.sqlState == "42883", "\(String(describing: old))")
            for batch in [1000, 1, Int(Int32.max)] {
                _ = try await worker.query("SELECT * FROM purge_ended(\(batch)::integer)")
            }
            #expect(try await Self.count(app, "events") == events, "40 days is younger than the stored 400")
            // Nor can it change what is stored.
            let changed = await databaseRefusal { _ = try await worker.query("UPDATE retention_settings SET events = 2592000") }
            #expect(changed?.sqlState == "42501", "\(String(describing: changed))")
            await worker.close()
        }
    }

    @Test func migrateStoresThePeriodsItReads() async throws {
        try await TestDatabase.with(migrated: false) { database in
            let url = database.conninfo()
            let migrated = try await TollgateProcess.run(
                ["migrate"],
                environment: ["DATABASE_URL": url, "RETENTION_EVENTS": "3888000", "RETENTION_SESSIONS": "7200"]
            )
            #expect(migrated.status == 0, "\(migrated.error)")
            let owner = database.pool(role: nil, maxConnections: 1)
            let stored = try #require(try await owner.query("SELECT sessions, challenges, emails, events FROM retention_settings").first)
            #expect(try stored.decode("events", as: Int.self) == 3_888_000)
            #expect(try stored.decode("sessions", as: Int.self) == 7200)
            #expect(try stored.decode("challenges", as: Int.self) == RetentionSettings().challenges)
            #expect(try stored.decode("emails", as: Int.self) == RetentionSettings().emails)
            // Run again without the variables: the defaults are what is stored.
            let again = try await TollgateProcess.run(["migrate"], environment: ["DATABASE_URL": url])
            #expect(again.status == 0, "\(again.error)")
            let defaults = try #require(try await owner.query("SELECT events FROM retention_settings").first)
            #expect(try defaults.decode("events", as: Int.self) == RetentionSettings().events)
            await owner.close()
        }
    }
}
