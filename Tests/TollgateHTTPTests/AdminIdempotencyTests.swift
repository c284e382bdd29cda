import Foundation
import HTTPTypes
import PQ
import TestSupport
import Testing
import TollgateCore

/// `Idempotency-Key` after the security review (issue 22): the stored fingerprint of a body
/// that holds a password is keyed.
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
}
