import Foundation
import HTTPTypes
import PQ
import TestSupport
import Testing
import TollgateCore

/// `Idempotency-Key` after the security review (issue 22): the stored fingerprint of a body
/// that holds a password is keyed, the work and its recorded answer commit together, and an
/// abandoned claim is taken over after its lease.
@Suite struct AdminIdempotencyTests {
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!

    static func keyID(_ app: TestApp, name: String) async throws -> UUID {
        try #require(try await app.sql("SELECT id FROM api_keys WHERE name = \(name)").first?.decode("id", as: UUID.self))
    }

    @Test func theStoredFingerprintIsNotTheSHA256OfTheRequest() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let key = try await AdminAPITests.key(app)
            let path = "/v1/admin/companies/\(seed.companyID.uuidString)/users"
            let body: [String: any Sendable] = ["email": "hashed@acme.test", "role": "member", "password": "guessable-passphrase-1"]
            let first = try await client.post(path, body, token: key, headers: [Self.idempotencyKey: "fp-1"])
            #expect(first.status == .created)
            // What the review found stored: SHA-256 of "POST <path>\n" + the canonical body.
            let canonical = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
            let plain = Data(("POST " + path + "\n").utf8) + canonical
            let stored = try #require(
                try await app.sql(
                    """
                    SELECT request_hash = sha256(\(plain)) AS plain, length(request_hash) AS length FROM idempotency_keys WHERE key = 'fp-1'
                    """
                ).first
            )
            #expect(try stored.decode("plain", as: Bool.self) == false, "the fingerprint is a bare SHA-256 of the request")
            #expect(try stored.decode("length", as: Int.self) == 32)
            // Keyed, it still recognises a retry and another body.
            let again = try await client.post(path, body, token: key, headers: [Self.idempotencyKey: "fp-1"])
            #expect(again.status == .created && again.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(again.value("user", "id") as? String == first.value("user", "id") as? String)
            var other = body
            other["password"] = "guessable-passphrase-2"
            let reused = try await client.post(path, other, token: key, headers: [Self.idempotencyKey: "fp-1"])
            #expect(reused.status == .unprocessableContent && reused.errorCode == "idempotency_key_reused")
        }
    }

    /// Keys are kept 24 hours (SPEC §11): the API's purger deletes older records, as the API
    /// role, and keeps the others.
    @Test func theAPIsPurgerRemovesKeysOlderThanADay() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let key = try await AdminAPITests.key(app)
            let path = "/v1/admin/companies/\(seed.companyID.uuidString)/users"
            for name in ["old", "new"] {
                let created = try await client.post(
                    path,
                    ["email": "\(name)@acme.test", "role": "member"],
                    token: key,
                    headers: [Self.idempotencyKey: name]
                )
                #expect(created.status == .created)
            }
            try await app.sql("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old'")
            let purger = Purger.api(pool: app.api, limits: app.configuration.domain.limits, logger: TestPostgres.logger)
            #expect(await purger.purgeOnce()["idempotency_keys"] == 1)
            let kept = try await app.sql("SELECT key FROM idempotency_keys").map { try $0.decode("key", as: String.self) }
            #expect(kept == ["new"])
        }
    }

    /// A process that died after claiming a key left `status` NULL: once the claim's lease is
    /// over, a retry does the work; within it, the retry is told to come back.
    @Test func anAbandonedClaimIsTakenOverAfterItsLease() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let platform = try await AdminAPITests.key(app)
            let platformID = try await Self.keyID(app, name: "platform")
            // The fingerprint of the request, whatever its scheme: the same request made with a
            // key of another company is refused (404) and recorded, with its fingerprint.
            let other = try await app.seed(name: "Other", domain: "other.test")
            let outsider = try await AdminAPITests.key(app, "outsider", company: other.companyID)
            let path = "/v1/admin/companies/\(seed.companyID.uuidString)/users"
            let body: [String: any Sendable] = ["email": "taken-over@acme.test", "role": "member", "password": "taken-over-passphrase"]
            let refused = try await client.post(path, body, token: outsider, headers: [Self.idempotencyKey: "probe"])
            #expect(refused.status == .notFound)
            for (key, lease) in [("crashed", "-1 second"), ("running", "1 hour")] {
                _ = try await app.owner.withTransaction { tx in
                    try tx.query(
                        """
                        INSERT INTO idempotency_keys (api_key_id, key, request_hash, claimed_until)
                        SELECT \(platformID), \(key), request_hash, now() + \(lease)::interval FROM idempotency_keys WHERE key = 'probe'
                        """
                    )
                }
            }
            let retried = try await client.post(path, body, token: platform, headers: [Self.idempotencyKey: "crashed"])
            #expect(retried.status == .created, "\(retried.status) \(String(decoding: retried.body, as: UTF8.self))")
            #expect(try await AdminAPITests.count(app, "SELECT count(*) AS n FROM users WHERE email = 'taken-over@acme.test'") == 1)
            let replayed = try await client.post(path, body, token: platform, headers: [Self.idempotencyKey: "crashed"])
            #expect(replayed.status == .created && replayed.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")

            let waiting = try await client.post(path, body, token: platform, headers: [Self.idempotencyKey: "running"])
            #expect(waiting.status == .conflict && waiting.errorCode == "idempotency_in_progress" && waiting.headers[.retryAfter] != nil)
        }
    }

    /// The answer is written in the work's own transaction: when it cannot be written, the
    /// work is undone, and a retry does it exactly once.
    @Test func theWorkAndItsRecordedAnswerCommitTogether() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let key = try await AdminAPITests.key(app)
            try await app.owner.withTransaction { tx in
                try tx.query(
                    """
                    CREATE FUNCTION test_refuse_answer() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN RAISE EXCEPTION 'test: the answer cannot be recorded'; END $$
                    """
                )
                try tx.query(
                    """
                    CREATE TRIGGER test_refuse_answer BEFORE UPDATE ON idempotency_keys
                    FOR EACH ROW WHEN (NEW.status IS NOT NULL) EXECUTE FUNCTION test_refuse_answer()
                    """
                )
            }
            let path = "/v1/admin/companies/\(seed.companyID.uuidString)/users"
            let body: [String: any Sendable] = ["email": "atomic@acme.test", "role": "member", "password": "atomic-passphrase-1"]
            let failed = try await client.post(path, body, token: key, headers: [Self.idempotencyKey: "atomic"])
            #expect(failed.status == .internalServerError)
            #expect(try await AdminAPITests.count(app, "SELECT count(*) AS n FROM users WHERE email = 'atomic@acme.test'") == 0)
            #expect(try await AdminAPITests.count(app, "SELECT count(*) AS n FROM events WHERE type = 'admin.user_created'") == 0)
            // The same for the other results a transaction returns: a company with its owner, and none.
            let company = try await client.post(
                "/v1/admin/companies",
                ["name": "Initech", "owner": ["email": "bill@initech.test", "password": "initech-owner-pass-1"]],
                token: key,
                headers: [Self.idempotencyKey: "atomic-company"]
            )
            #expect(company.status == .internalServerError)
            #expect(try await AdminAPITests.count(app, "SELECT count(*) AS n FROM companies WHERE name = 'Initech'") == 0)
            let reset = try await client.post(
                "/v1/admin/users/\(seed.member.id.uuidString)/password-reset",
                token: key,
                headers: [Self.idempotencyKey: "atomic-reset"]
            )
            #expect(reset.status == .internalServerError)
            #expect(try await AdminAPITests.count(app, "SELECT count(*) AS n FROM password_resets") == 0)

            _ = try await app.owner.withTransaction { tx in try tx.query("DROP TRIGGER test_refuse_answer ON idempotency_keys") }
            let retried = try await client.post(path, body, token: key, headers: [Self.idempotencyKey: "atomic"])
            #expect(retried.status == .created, "\(retried.status) \(String(decoding: retried.body, as: UTF8.self))")
            #expect(try await AdminAPITests.count(app, "SELECT count(*) AS n FROM users WHERE email = 'atomic@acme.test'") == 1)
            let replayed = try await client.post(path, body, token: key, headers: [Self.idempotencyKey: "atomic"])
            #expect(replayed.status == .created && replayed.value("user", "id") as? String == retried.value("user", "id") as? String)
        }
    }
}
