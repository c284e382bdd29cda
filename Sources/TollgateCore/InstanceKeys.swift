import Crypto
import Foundation
import NIOConcurrencyHelpers
import PQ

/// Keys the database keeps for every process (`instance_keys`), read once and cached.
final class InstanceKeys: Sendable {
    private let rateLimit = NIOLockedValueBox<[UInt8]?>(nil)

    /// The key of rate-limit counters, stable across `TOLLGATE_SECRET` rotations.
    func rateLimitKey(from pool: PQPool) async throws -> [UInt8] {
        if let key = rateLimit.withLockedValue({ $0 }) { return key }
        return try await pool.withTransaction { tx in try self.rateLimitKey(in: tx) }
    }

    /// The key of `Idempotency-Key` fingerprints: the instance key's HMAC of this purpose, so
    /// that neither use's values stand in for the other's.
    func idempotencyKey(from pool: PQPool) async throws -> [UInt8] {
        let instance = SymmetricKey(data: try await rateLimitKey(from: pool))
        return Array(HMAC<SHA256>.authenticationCode(for: Array("tollgate.idempotency_fingerprint.v1".utf8), using: instance))
    }

    func rateLimitKey(in tx: PQTransaction) throws -> [UInt8] {
        if let key = rateLimit.withLockedValue({ $0 }) { return key }
        let rows = try tx.query("instance_keys.rate_limit", "SELECT key FROM instance_keys WHERE name = 'rate_limit'")
        let key = [UInt8](try rows.first.orThrow().decode("key", as: Data.self))
        rateLimit.withLockedValue { $0 = key }
        return key
    }
}
