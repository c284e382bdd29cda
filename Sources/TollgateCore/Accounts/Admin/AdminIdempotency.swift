import Crypto
public import Foundation
import NIOConcurrencyHelpers
public import PQ

/// `Idempotency-Key` for the provisioning API's POSTs (SPEC §11): a retry with the same key
/// and body gets the first answer, and the work is done once. Keys are kept 24 hours.
///
/// The first answer is written in the work's own transaction (``IdempotentWork``), so the
/// work and its answer commit together or not at all; a claim whose request died is taken
/// over by a retry once its lease (``claimLease``) is over.
extension AdminService {
    /// How long a claim holds a key before a retry of the same request may take it over: far
    /// longer than any request runs (statements time out after seconds), short enough that a
    /// crashed request does not block its retries for long.
    public static let claimLease = 60

    public enum IdempotentStart: Sendable, Equatable {
        /// This request holds the key: do the work under ``IdempotentWork``.
        case proceed(IdempotencyClaim)
        /// The stored first answer.
        case replay(status: Int, body: Data)
        /// The key was used with another request.
        case mismatch
        /// The first request is still running.
        case inProgress
    }

    /// Claims `idempotencyKey` for this request (or takes over an abandoned claim of the same
    /// request), or finds what the first one answered, waiting a little while it runs so that
    /// a prompt retry gets the answer, not a refusal. `request` is what identifies the
    /// request (method, path, canonical body); only its keyed fingerprint is stored.
    public func startIdempotent(_ key: APIKey, idempotencyKey: String, request: Data) async throws -> IdempotentStart {
        let requestHash = Self.fingerprint(request, key: try await keys.idempotencyKey(from: pool))
        let claim = IdempotencyClaim(apiKeyID: key.id, key: idempotencyKey, token: UUID())
        let deadline = ContinuousClock.now + .seconds(15)
        while true {
            let state = try await pool.withTransaction { tx -> IdempotentStart in
                // One statement claims a new key or takes over a lapsed claim of this request:
                // of two racing take-overs, the second sees the first's lease and finds none.
                let claimed = try tx.query(
                    "idempotency.claim",
                    """
                    INSERT INTO idempotency_keys AS k (api_key_id, key, request_hash, claim, claimed_until)
                    VALUES (\(key.id), \(idempotencyKey), \(requestHash), \(claim.token), now() + make_interval(secs => \(Self.claimLease)))
                    ON CONFLICT (api_key_id, key) DO UPDATE SET claim = excluded.claim, claimed_until = excluded.claimed_until
                    WHERE k.status IS NULL AND k.claimed_until < now() AND k.request_hash = excluded.request_hash
                    RETURNING 1
                    """
                )
                if !claimed.isEmpty { return .proceed(claim) }
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

    /// Stores the first answer outside the work's transaction (a refusal before or by the
    /// work, which then wrote nothing), or with nil releases the key after an unexpected
    /// failure so that a retry may do the work. Both change only a key this request still
    /// holds and that has no answer: if the work committed its answer, that answer stays.
    public func finishIdempotent(_ claim: IdempotencyClaim, answer: (status: Int, body: Data)?) async throws {
        if let answer {
            try await pool.query(
                "idempotency.finish",
                """
                UPDATE idempotency_keys SET status = \(answer.status), body = \(String(decoding: answer.body, as: UTF8.self))
                WHERE api_key_id = \(claim.apiKeyID) AND key = \(claim.key) AND claim = \(claim.token) AND status IS NULL
                """
            )
        } else {
            try await pool.query(
                "idempotency.release",
                """
                DELETE FROM idempotency_keys
                WHERE api_key_id = \(claim.apiKeyID) AND key = \(claim.key) AND claim = \(claim.token) AND status IS NULL
                """
            )
        }
    }

    /// The stored fingerprint of a request: HMAC-SHA-256 under a key of the database's own,
    /// not a bare SHA-256, since the body may hold a password (a bare hash of a known body
    /// shape lets a reader of the table guess it at SHA-256 speed, skipping Argon2id).
    static func fingerprint(_ request: Data, key: [UInt8]) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: request, using: SymmetricKey(data: key)))
    }

    /// Deletes the records of keys older than 24 hours (SPEC §11: keys are kept that long).
    /// Returns how many went.
    @discardableResult
    public static func purgeIdempotencyKeys(pool: PQPool) async throws -> Int {
        try await pool.query(
            "idempotency.purge",
            """
            WITH gone AS (DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours' RETURNING 1)
            SELECT count(*) AS n FROM gone
            """
        ).first?.decode("n", as: Int.self) ?? 0
    }
}

/// This request's hold on an `Idempotency-Key` (`claim` in `idempotency_keys`).
public struct IdempotencyClaim: Sendable, Equatable {
    public let apiKeyID: UUID
    public let key: String
    let token: UUID
}

/// The idempotent request whose work runs in this task: the transaction helper
/// (``PQPool/withTenant(_:isolation:_:)``) writes its answer in the work's own transaction,
/// just before COMMIT, so that the work and the answer commit together or not at all.
///
/// A task-local value rather than a parameter: it reaches the one transaction of every
/// provisioning call without each of them (and each caller outside the API) passing it.
public final class IdempotentWork: Sendable {
    @TaskLocal public static var current: IdempotentWork?

    public let claim: IdempotencyClaim
    /// The answer to a result of the work's transaction; nil for a result that is not the
    /// work's (another transaction), which then records nothing.
    let render: @Sendable (any Sendable) throws -> (status: Int, body: Data)?
    private let written = NIOLockedValueBox<(status: Int, body: Data)?>(nil)

    public init(claim: IdempotencyClaim, render: @escaping @Sendable (any Sendable) throws -> (status: Int, body: Data)?) {
        self.claim = claim
        self.render = render
    }

    /// The answer written with the work, once its transaction returned (the caller's COMMIT
    /// succeeded when the work did not throw).
    public var recorded: (status: Int, body: Data)? { written.withLockedValue { $0 } }

    /// Writes the answer to `result` in `tx`; a claim taken over meanwhile (its lease ran
    /// out) is `idempotency_in_progress`, and the work is rolled back with the transaction.
    func record(_ result: any Sendable, in tx: PQTransaction) throws {
        guard let answer = try render(result) else { return }
        let updated = try tx.query(
            "idempotency.answer",
            """
            UPDATE idempotency_keys SET status = \(answer.status), body = \(String(decoding: answer.body, as: UTF8.self))
            WHERE api_key_id = \(claim.apiKeyID) AND key = \(claim.key) AND claim = \(claim.token) AND status IS NULL
            RETURNING 1
            """
        )
        guard !updated.isEmpty else {
            throw DomainError(.idempotencyInProgress, "The first request with this Idempotency-Key is still running.", retryAfter: 1)
        }
        written.withLockedValue { $0 = answer }
    }
}
