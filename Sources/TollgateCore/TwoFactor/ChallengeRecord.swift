import Foundation
import PQ

/// A challenge as read, with the database's clock at the read. That is `clock_timestamp()`,
/// not `now()`: the row is read under a lock that may have waited for another transaction,
/// and `now()` is when this transaction began.
struct ChallengeRecord: Sendable {
    var challenge: Challenge
    let databaseNow: Date
    /// When the transaction began (`now()`): the database's "now" of its writes.
    let transactionStart: Date
    /// The stored status of the challenge's latest code email, when the read joined it
    /// (``ChallengeStore/locate(_:withDelivery:in:)`` can: one round trip fewer for the poll).
    var emailStatus: String?

    static let columns = """
        id, company_id, user_id, purpose, state, code_hash, code_expires_at, attempts, max_attempts, resends_used, max_resends,
        last_sent_at, lifetime_ends_at, usable_until, email_id, methods, remember_days, clock_timestamp() AS database_now, now() AS transaction_start
        """

    /// A new challenge with its first code, decided at `clock`: ``ChallengeStore/create(_:tokenMAC:reportMAC:clientInfo:in:)``
    /// stores exactly these values.
    init(
        inserting id: UUID,
        companyID: UUID,
        userID: UUID,
        purpose: Challenge.Purpose,
        codeMAC: Data,
        policy: CodePolicy,
        methods: [SecondFactor] = [.email],
        rememberDays: Int? = nil,
        clock: TransactionClock
    ) {
        challenge = Challenge(
            id: id,
            companyID: companyID,
            userID: userID,
            purpose: purpose,
            state: .pending,
            codeHash: codeMAC,
            codeExpiresAt: clock.transactionStart.addingDatabaseSeconds(policy.ttl),
            attempts: 0,
            maxAttempts: policy.maxAttempts,
            resendsUsed: 0,
            maxResends: policy.maxResends,
            lastSentAt: clock.transactionStart,
            lifetimeEndsAt: clock.transactionStart.addingDatabaseSeconds(policy.lifetime),
            emailID: nil,
            methods: methods,
            rememberDays: rememberDays
        )
        databaseNow = clock.databaseNow
        transactionStart = clock.transactionStart
    }

    /// An unknown purpose or state is a decoding error: guessing one could let a code serve
    /// the wrong flow.
    init(row: PQRow) throws {
        guard let purpose = Challenge.Purpose(rawValue: try row.decode("purpose")) else {
            throw PQError(kind: .decoding, message: "column purpose has an unknown value")
        }
        guard let state = Challenge.State(rawValue: try row.decode("state")) else {
            throw PQError(kind: .decoding, message: "column state has an unknown value")
        }
        let methods = try row.decode("methods", as: [String].self).map { name in
            guard let method = SecondFactor(rawValue: name) else {
                throw PQError(kind: .decoding, message: "column methods has an unknown value")
            }
            return method
        }
        challenge = Challenge(
            id: try row.decode("id"),
            companyID: try row.decode("company_id"),
            userID: try row.decode("user_id"),
            purpose: purpose,
            state: state,
            codeHash: try row.decode("code_hash"),
            codeExpiresAt: try row.decode("code_expires_at"),
            attempts: try row.decode("attempts"),
            maxAttempts: try row.decode("max_attempts"),
            resendsUsed: try row.decode("resends_used"),
            maxResends: try row.decode("max_resends"),
            lastSentAt: try row.decode("last_sent_at"),
            lifetimeEndsAt: try row.decode("lifetime_ends_at"),
            usableUntil: try row.decode("usable_until"),
            emailID: try row.decode("email_id"),
            methods: methods,
            rememberDays: try row.decode("remember_days")
        )
        databaseNow = try row.decode("database_now")
        transactionStart = try row.decode("transaction_start")
    }
}

/// A challenge as a request found it: with its user and the user's counters, locked until
/// COMMIT while the challenge may still change, and its company when asked for.
struct LocatedChallenge: Sendable {
    var record: ChallengeRecord
    let user: User
    let counters: AccountCounters
    let company: Company?
    /// The user's confirmed authenticator apps, sealed, when the challenge is open and offers
    /// them; and the last step an app code was accepted for (SPEC §13: each step once).
    var appSecrets: [Data] = []
    var lastAppStep: Int64?
}

/// Which challenge a request names: a login challenge by its token, an activation by its id
/// and the caller (only its own activations exist for it).
enum ChallengeLocator: Sendable {
    case loginToken(candidates: [Data])
    case activation(id: UUID, userID: UUID)

    var isActivation: Bool {
        if case .activation = self { return true }
        return false
    }
}

/// A login challenge reported with "this wasn't me" (SPEC §10).
struct ReportedChallenge: Sendable {
    let id: UUID
    let userID: UUID
    let client: ClientInfo
    /// False when the challenge had ended already (it is still reported).
    let closed: Bool
    /// The challenge's code was entered: it produced a session, which the report ends.
    let used: Bool
}

/// The database's clock in a transaction: when it began (`now()`, what its writes stamp)
/// and when it was read (`clock_timestamp()`).
struct TransactionClock: Sendable {
    let transactionStart: Date
    let databaseNow: Date

    /// The clock of `tx`, read now.
    static func read(in tx: PQTransaction) throws -> TransactionClock {
        let row = try tx.query("clock", "SELECT clock_timestamp() AS database_now, now() AS transaction_start").first.orThrow()
        return TransactionClock(transactionStart: try row.decode("transaction_start"), databaseNow: try row.decode("database_now"))
    }
}

extension Date {
    /// This time plus `seconds`, in whole microseconds as PostgreSQL stores a timestamp, so a
    /// time worked out here equals the one the database stores for the same sum.
    func addingDatabaseSeconds(_ seconds: Int) -> Date {
        Date(timeIntervalSince1970: ((timeIntervalSince1970 + Double(seconds)) * 1e6).rounded() / 1e6)
    }
}
