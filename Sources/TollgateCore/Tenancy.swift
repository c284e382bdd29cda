import Crypto
public import Foundation
import NIOConcurrencyHelpers
public import PQ

/// What a request tells us about its client, for limits, events and emails.
public struct ClientInfo: Sendable, Equatable {
    public var ip: String
    public var userAgent: String?

    public init(ip: String, userAgent: String?) {
        self.ip = ip
        // Stored and mailed, so bounded.
        self.userAgent = userAgent.map { String($0.prefix(512)) }
    }
}

extension PQPool {
    /// A transaction in one company's scope: row-level security shows only its rows, and the
    /// setting ends with the transaction (safe behind a transaction pooler). Under an
    /// idempotent request (``IdempotentWork``) its answer is written last, before COMMIT.
    public func withTenant<T: Sendable>(
        _ companyID: UUID,
        isolation: PQIsolation = .readCommitted,
        _ body: @escaping @Sendable (PQTransaction) throws -> T
    ) async throws -> T {
        guard let idempotent = IdempotentWork.current else {
            return try await withTransaction(isolation: isolation, settings: [("app.company_id", companyID.uuidString)], body)
        }
        return try await withTransaction(isolation: isolation, settings: [("app.company_id", companyID.uuidString)]) { tx in
            let result = try body(tx)
            try idempotent.record(result, in: tx)
            return result
        }
    }

    /// One read in one company's scope, in one round trip (BEGIN, the setting, the statement
    /// and COMMIT sent together).
    public func readTenant(_ companyID: UUID, _ query: PQQuery) async throws -> PQRows {
        try await read(settings: [("app.company_id", companyID.uuidString)], query)
    }
}

/// The directory lookup from an email to its account, before the company is known
/// (the `login_lookup` security-definer function: one exact address at a time).
enum LoginDirectory {
    static func find(_ email: EmailAddress, in tx: PQTransaction) throws -> (companyID: UUID, userID: UUID)? {
        try find(email.value, in: tx)
    }

    /// Looks up normalised text (an invalid address simply finds nothing, by the same work).
    static func find(_ address: String, in tx: PQTransaction) throws -> (companyID: UUID, userID: UUID)? {
        try found(in: tx.query(lookup(address)))
    }

    /// The lookup's statement, for a caller that sends it with others (``found(in:)`` reads it).
    static func lookup(_ address: String) -> PQQuery {
        ("SELECT company_id, user_id FROM login_lookup(\(address))" as PQQuery).named("login.lookup")
    }

    /// The lookup that also enters the company it finds (`otherwise` when none): the statements
    /// sent after it in the same transaction see that company's rows.
    static func enter(_ address: String, otherwise: UUID) -> PQQuery {
        ("""
        SELECT l.company_id, l.user_id, set_config('app.company_id', coalesce(l.company_id, \(otherwise))::text, true)
        FROM login_lookup(\(address)) l
        """ as PQQuery).named("login.lookup")
    }

    static func found(in rows: PQRows) throws -> (companyID: UUID, userID: UUID)? {
        guard let row = rows.first, let company = try row.decode("company_id", as: UUID?.self),
            let user = try row.decode("user_id", as: UUID?.self)
        else { return nil }
        return (company, user)
    }
}

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
