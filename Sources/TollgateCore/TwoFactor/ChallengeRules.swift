import Foundation
import PQ

/// What a challenge is for; its codes serve only that purpose.
public enum ChallengePurpose: String, Sendable {
    case login, activation
}

/// Why a challenge closed, kept for support.
public enum CloseReason: String, Sendable {
    case expired, burned, replaced, cancelled
    case resendsUsedUp = "resends_used_up"
    case accountLimit = "account_limit"
}

/// A challenge as stored, with the database's clock when it was read. That is
/// `clock_timestamp()`, not `now()`: the row is read under a lock that may have waited for
/// another transaction, and `now()` is when this transaction began.
struct ChallengeRecord: Sendable {
    let id: UUID
    let companyID: UUID
    let userID: UUID
    let purpose: ChallengePurpose
    let state: String
    let codeHash: Data
    let codeExpiresAt: Date
    let attempts: Int
    let maxAttempts: Int
    let resendsUsed: Int
    let maxResends: Int
    let lastSentAt: Date
    let verifiedAt: Date?
    let emailID: UUID?
    let databaseNow: Date

    static let columns = """
        id, company_id, user_id, purpose, state, code_hash, code_expires_at, attempts, max_attempts, resends_used, max_resends,
        last_sent_at, verified_at, email_id, clock_timestamp() AS database_now
        """

    /// The same columns from `challenges ch`, for a join.
    static let qualifiedColumns = """
        ch.id, ch.company_id, ch.user_id, ch.purpose, ch.state, ch.code_hash, ch.code_expires_at, ch.attempts, ch.max_attempts,
        ch.resends_used, ch.max_resends, ch.last_sent_at, ch.verified_at, ch.email_id, clock_timestamp() AS database_now
        """

    init(row: PQRow) throws {
        id = try row.decode("id")
        companyID = try row.decode("company_id")
        userID = try row.decode("user_id")
        purpose = ChallengePurpose(rawValue: try row.decode("purpose")) ?? .login
        state = try row.decode("state")
        codeHash = try row.decode("code_hash")
        codeExpiresAt = try row.decode("code_expires_at")
        attempts = try row.decode("attempts")
        maxAttempts = try row.decode("max_attempts")
        resendsUsed = try row.decode("resends_used")
        maxResends = try row.decode("max_resends")
        lastSentAt = try row.decode("last_sent_at")
        verifiedAt = try row.decode("verified_at")
        emailID = try row.decode("email_id")
        databaseNow = try row.decode("database_now")
    }

    var resendsRemaining: Int { max(0, maxResends - resendsUsed) }
    var attemptsRemaining: Int { max(0, maxAttempts - attempts) }

    /// Where the challenge stands (SPEC §2), judged by the database clock.
    var phase: ChallengePhase {
        switch state {
        case "verified": return .verified
        case "used": return .used
        case "closed": return .closed
        default:
            let codeDead: CloseReason?
            if attempts >= maxAttempts {
                codeDead = .burned
            } else if databaseNow >= codeExpiresAt {
                codeDead = .expired
            } else {
                codeDead = nil
            }
            guard let codeDead else { return .awaitingCode }
            // A dead code with no resend left ends the challenge: the user starts over.
            return resendsRemaining > 0 ? .codeDead(codeDead) : .exhausted(codeDead)
        }
    }
}

/// The states of a challenge. `pending` in the table splits into the first three.
enum ChallengePhase: Equatable {
    /// The current code can be entered.
    case awaitingCode
    /// The current code expired or was burned; a resend is still allowed.
    case codeDead(CloseReason)
    /// The current code is dead and no resend is left: the challenge must close.
    case exhausted(CloseReason)
    /// An activation proved the mailbox and may be used to enable 2FA.
    case verified
    /// Consumed: a login that produced its session, or an activation that enabled 2FA.
    case used
    case closed

    /// The refusal for entering a code in this phase (nil: the code may be compared).
    func refusalForCode(_ record: ChallengeRecord) -> DomainError? {
        switch self {
        case .awaitingCode:
            return nil
        case .codeDead(.burned):
            return DomainError(
                .tooManyAttempts,
                "This code was entered wrongly too often; ask for a new one.",
                attemptsRemaining: 0,
                resendsRemaining: record.resendsRemaining
            )
        case .codeDead:
            return DomainError(.codeExpired, "This code has expired; ask for a new one.", resendsRemaining: record.resendsRemaining)
        case .exhausted, .verified, .used, .closed:
            return .challengeClosed
        }
    }

    /// The refusal for asking a new code in this phase, given the cooldown.
    func refusalForResend(_ record: ChallengeRecord, cooldown: Int) -> DomainError? {
        switch self {
        case .exhausted, .verified, .used, .closed:
            return .challengeClosed
        case .awaitingCode, .codeDead:
            if record.resendsRemaining == 0 {
                return DomainError(.resendLimitReached, "No new code can be sent for this attempt; start again.", resendsRemaining: 0)
            }
            let wait = Int(record.lastSentAt.addingTimeInterval(Double(cooldown)).timeIntervalSince(record.databaseNow).rounded(.up))
            if wait > 0 {
                return DomainError(
                    .resendTooSoon,
                    "Wait a little before asking for another code.",
                    retryAfter: wait,
                    resendsRemaining: record.resendsRemaining
                )
            }
            return nil
        }
    }
}

extension DomainError {
    static let challengeClosed = DomainError(.challengeClosed, "This attempt is over; start again (or contact support).")
    static let challengeNotFound = DomainError(.challengeNotFound, "There is no such challenge.")
}
