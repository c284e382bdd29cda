import Foundation
import HTTPTypes
import PQ
import TestSupport
import Testing
import TollgateCore

/// Data that stays small (issue 13): the worker deletes ended rows past retention, in
/// batches, through `purge_ended()`, and nothing live.
@Suite struct RetentionTests {
    static func count(_ app: TestApp, _ table: String) async throws -> Int {
        try await app.sql(PQQuery(unsafeSQL: "SELECT count(*) AS n FROM \(table)")).first?.decode("n", as: Int.self) ?? -1
    }

    @Test func theWorkerPurgesEndedRowsPastRetentionInBatchesAndNothingLive() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let ownerSession = try await app.enableTwoFactor(seed, client: client)
            for _ in 0..<3 { _ = try await client.login(seed.member, client: "phone_app") }
            _ = try await client.login(seed.admin, client: "dashboard").challengeToken()
            let sessions = try await Self.count(app, "sessions")
            let events = try await Self.count(app, "events")
            #expect(sessions >= 4 && events > 5)
            let doneEmails = try await Self.count(app, "email_outbox WHERE template <> 'login_code'")
            let oldEvents = try await Self.count(app, "events WHERE type LIKE 'two_factor.%'")

            // Age everything but the owner's live session and the admin's open challenge.
            try await app.owner.withTransaction { tx in
                // The event log refuses UPDATE for everyone; the test moves time by replica mode.
                try tx.query("SET LOCAL session_replication_role = replica")
                try tx.query("UPDATE sessions SET expires_at = now() - interval '40 days' WHERE client = 'phone_app'")
                try tx.query("UPDATE challenges SET created_at = now() - interval '40 days' WHERE state IN ('used', 'closed')")
                try tx.query("UPDATE email_outbox SET status = 'sent', created_at = now() - interval '8 days' WHERE template <> 'login_code'")
                try tx.query("UPDATE events SET created_at = now() - interval '500 days' WHERE type LIKE 'two_factor.%'")
            }
            let worker = app.database.pool(role: "tollgate_worker", maxConnections: 1)
            var settings = RetentionSettings()
            settings.batchSize = 2
            let deleted = try await Purge.retention(settings).run(on: worker)
            await worker.close()
            #expect(deleted["sessions"] == 3)
            #expect(deleted["challenges"] == 1, "the used activation")
            #expect(deleted["emails"] == doneEmails && doneEmails >= 2)
            #expect(deleted["events"] == oldEvents && oldEvents >= 2)
            #expect(try await Self.count(app, "sessions") == sessions - 3)
            #expect(try await Self.count(app, "events WHERE type LIKE 'two_factor.%'") == 0)
            #expect(try await Self.count(app, "events WHERE type NOT LIKE 'two_factor.%'") > 0)
            #expect(try await Self.count(app, "email_outbox WHERE template = 'login_code'") == 1, "the live code's email stays")
            #expect(try await Self.count(app, "challenges WHERE state = 'pending'") == 1, "the open challenge stays")
            #expect(try await client.get("/v1/me", token: ownerSession).status == .ok, "a live session stays")

            // Nobody else deletes events: the API role has no DELETE, and the log stays append-only.
            let refused = await databaseRefusal {
                _ = try await app.api.withTenant(seed.companyID) { tx in try tx.query("DELETE FROM events") }
            }
            #expect(refused?.sqlState == "42501")
        }
    }
}
