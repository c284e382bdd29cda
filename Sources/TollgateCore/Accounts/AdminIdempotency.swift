import Crypto
public import Foundation
import PQ

/// `Idempotency-Key` for the provisioning API's POSTs (SPEC §11): a retry with the same key
/// and body gets the first answer, and the work is done once. Keys are kept 24 hours.
extension AdminService {
    public enum IdempotentStart: Sendable, Equatable {
        /// The first request with this key: do the work, then ``finishIdempotent``.
        case proceed
        /// The stored first answer.
        case replay(status: Int, body: Data)
        /// The key was used with another request.
        case mismatch
        /// The first request is still running.
        case inProgress
    }

    /// Claims `idempotencyKey` for this request, or finds what the first one answered (waiting
    /// a little while it runs, so that a prompt retry gets the answer, not a refusal).
    /// `request` is what identifies the request (method, path, canonical body); only its keyed
    /// fingerprint is stored.
    public func startIdempotent(_ key: APIKey, idempotencyKey: String, request: Data) async throws -> IdempotentStart {
        let requestHash = Self.fingerprint(request, key: try await keys.idempotencyKey(from: pool))
        let deadline = ContinuousClock.now + .seconds(15)
        while true {
            let state = try await pool.withTransaction { tx -> IdempotentStart in
                let claimed = try tx.query(
                    "idempotency.claim",
                    """
                    INSERT INTO idempotency_keys (api_key_id, key, request_hash) VALUES (\(key.id), \(idempotencyKey), \(requestHash))
                    ON CONFLICT DO NOTHING RETURNING 1
                    """
                )
                if !claimed.isEmpty { return .proceed }
                guard
                    let row = try tx.query(
                        "idempotency.read",
                        """
                        SELECT request_hash, status, body FROM idempotency_keys WHERE api_key_id = \(key.id) AND key = \(idempotencyKey)
                        """
                    ).first
                else { return .inProgress }
                guard try row.decode("request_hash", as: Data.self) == requestHash else { return .mismatch }
                guard let status = try row.decode("status", as: Int?.self) else { return .inProgress }
                return .replay(status: status, body: Data((try row.decode("body", as: String?.self) ?? "").utf8))
            }
            if state != .inProgress || ContinuousClock.now > deadline { return state }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Stores the first answer (nil: the request failed unexpectedly, so the key is released
    /// and a retry may do the work).
    public func finishIdempotent(_ key: APIKey, idempotencyKey: String, answer: (status: Int, body: Data)?) async throws {
        try await pool.withTransaction { tx in
            if let answer {
                try tx.query(
                    "idempotency.finish",
                    """
                    UPDATE idempotency_keys SET status = \(answer.status), body = \(String(decoding: answer.body, as: UTF8.self))
                    WHERE api_key_id = \(key.id) AND key = \(idempotencyKey)
                    """
                )
            } else {
                try tx.query(
                    "idempotency.release",
                    "DELETE FROM idempotency_keys WHERE api_key_id = \(key.id) AND key = \(idempotencyKey) AND status IS NULL"
                )
            }
        }
    }

    /// The stored fingerprint of a request: HMAC-SHA-256 under a key of the database's own,
    /// not a bare SHA-256, since the body may hold a password (a bare hash of a known body
    /// shape lets a reader of the table guess it at SHA-256 speed, skipping Argon2id).
    static func fingerprint(_ request: Data, key: [UInt8]) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: request, using: SymmetricKey(data: key)))
    }
}
