public import Foundation

/// One email-code challenge of SPEC §2 as a value, with its rules as a state machine.
///
/// Nothing here reads a clock or a database. Each event (``enterCode(at:from:)``,
/// ``codeCompared(matches:attempts:)``, ``requestResend(at:cooldown:)``, ``expire(at:)``, and
/// the rest in `ChallengeRules.swift`) takes the database's time and answers what must happen;
/// the caller carries the action out in SQL (SwiftNIO's state machines work the same way). The caller holds the row's lock
/// while it decides on a challenge that may still change (an ended one is final and read
/// without it), and its single-statement guards still hold the limits if anything slips.
public struct Challenge: Sendable, Equatable {
    /// What a challenge is for; its codes serve only that purpose.
    public enum Purpose: String, Sendable, CaseIterable {
        case login, activation
    }

    /// The state as stored in `challenges.state`.
    public enum State: String, Sendable, CaseIterable {
        /// A code is out; it may have expired or been burned since (see ``stage(at:)``).
        case pending
        /// An activation proved the mailbox and may be used to enable 2FA.
        case verified
        /// Consumed: a login that produced its session, or an activation that enabled 2FA.
        case used
        case closed
    }

    /// Why a challenge closed, kept for support (`challenges.close_reason`).
    public enum CloseReason: String, Sendable, CaseIterable {
        case expired, burned, replaced, reported, deactivated
        case accountLimit = "account_limit"
        /// It reached its absolute lifetime (`CHALLENGE_LIFETIME`).
        case lifetimeOver = "lifetime_over"
        case passwordChanged = "password_changed"
        case passwordReset = "password_reset"
        /// The user's role or dashboard access changed.
        case accessChanged = "access_changed"
    }

    /// What the user may be told of a challenge (SPEC §4 `Activation.status`).
    public enum Stage: Sendable, Equatable {
        case codeSent, verified, used, closed
    }

    /// Why an event is refused. Each maps to one ``DomainError`` (`DomainError(refusal)`).
    public enum Refusal: Sendable, Equatable {
        case closed
        case codeExpired(resendsRemaining: Int)
        /// A code entered after its last allowed wrong entry.
        case codeBurned(resendsRemaining: Int)
        /// The wrong entry that burned the code.
        case tooManyAttempts(resendsRemaining: Int)
        case invalidCode(attemptsRemaining: Int, resendsRemaining: Int)
        case resendLimitReached
        case resendTooSoon(retryAfter: Int, resendsRemaining: Int)
        /// A code by email was asked for at a login that does not offer email (a company that
        /// requires passkeys, for a user who has one).
        case emailNotOffered
    }

    /// What entering a code asks for, before the code is looked at.
    public enum EntryAction: Sendable, Equatable {
        /// Count the entry, compare the code, then tell ``codeCompared(matches:attempts:)``.
        case countAndCompare
        /// The code expired but a resend is left: record the expiry and refuse.
        case recordExpiry(Refusal)
        /// The last code is dead and no resend is left: close the challenge, answer `challenge_closed`.
        case close(CloseReason)
        /// Refuse; there is nothing to record.
        case refuse(Refusal)
    }

    /// What a counted entry leads to once compared.
    public enum ComparisonAction: Sendable, Equatable {
        /// The right code: consume the challenge, which becomes `state`.
        case accept(becoming: State)
        /// A wrong code: record it, close the challenge when `close` says so, then refuse.
        case reject(attemptsRemaining: Int, close: CloseReason?, Refusal)
    }

    /// What choosing email at a login that offers more (SPEC §13) leads to.
    public enum FirstEmailAction: Sendable, Equatable {
        /// Issue the first emailed code and send it: a first send, not a resend.
        case send
        /// Its code was emailed already: nothing to do, the challenge answers as it stands.
        case alreadySent
        /// Past its lifetime, or its only code burned with no resend left: it closes.
        case close(CloseReason)
        case refuse(Refusal)
    }

    /// What asking for a new code leads to.
    public enum ResendAction: Sendable, Equatable {
        /// Issue a new code (its attempts start again at zero) and email it.
        case send
        /// The last code is dead and no resend is left: close the challenge, answer `challenge_closed`.
        case close(CloseReason)
        /// Refused by a limit of the challenge: record the limit (SPEC §5), then refuse.
        case refuseForLimit(Refusal)
        /// Refuse; there is nothing to record.
        case refuse(Refusal)
    }

    /// What looking at a challenge leads to.
    public enum ExpiryAction: Sendable, Equatable {
        case none
        /// The last code is dead and no resend is left: the challenge closes.
        case close(CloseReason)
    }

    public let id: UUID
    public let companyID: UUID
    public let userID: UUID
    public let purpose: Purpose
    public internal(set) var state: State
    /// The keyed hash of the current code (never the code).
    public internal(set) var codeHash: Data
    public internal(set) var codeExpiresAt: Date
    /// Entries counted against the current code.
    public internal(set) var attempts: Int
    public let maxAttempts: Int
    public internal(set) var resendsUsed: Int
    public let maxResends: Int
    public internal(set) var lastSentAt: Date
    /// The end of its life (`CHALLENGE_LIFETIME` after its start): no code counts after it.
    public let lifetimeEndsAt: Date
    /// A verified activation may enable 2FA until then, once (its use window, SPEC §3.1).
    public internal(set) var usableUntil: Date?
    /// The latest code email; nil while a login that offers other methods has mailed none.
    public internal(set) var emailID: UUID?
    /// The second factors this login offers, strongest first (SPEC §13); email for an activation.
    public let methods: [SecondFactor]
    /// The days the code screen may offer to remember the browser for (the policy when the
    /// login began); nil when the company asks at every login.
    public let rememberDays: Int?

    public init(
        id: UUID,
        companyID: UUID,
        userID: UUID,
        purpose: Purpose,
        state: State,
        codeHash: Data,
        codeExpiresAt: Date,
        attempts: Int,
        maxAttempts: Int,
        resendsUsed: Int,
        maxResends: Int,
        lastSentAt: Date,
        lifetimeEndsAt: Date,
        usableUntil: Date? = nil,
        emailID: UUID?,
        methods: [SecondFactor] = [.email],
        rememberDays: Int? = nil
    ) {
        self.id = id
        self.companyID = companyID
        self.userID = userID
        self.purpose = purpose
        self.state = state
        self.codeHash = codeHash
        self.codeExpiresAt = codeExpiresAt
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.resendsUsed = resendsUsed
        self.maxResends = maxResends
        self.lastSentAt = lastSentAt
        self.lifetimeEndsAt = lifetimeEndsAt
        self.usableUntil = usableUntil
        self.emailID = emailID
        self.methods = methods
        self.rememberDays = rememberDays
    }

    public var resendsRemaining: Int { max(0, maxResends - resendsUsed) }
    public var attemptsRemaining: Int { max(0, maxAttempts - attempts) }
    /// False while a login that offers other methods has emailed no code.
    public var emailSent: Bool { emailID != nil }

    /// Where a pending challenge's current code stands at `now`.
    enum Code {
        case live
        /// Expired or burned; a resend is still allowed.
        case dead(CloseReason)
        /// Expired or burned with no resend left: the challenge must close and the user start over.
        case exhausted(CloseReason)
    }

    /// `expiring` is false for an authenticator app's code: the app makes its own codes, so
    /// only an emailed code's ten minutes run out (and none before one was emailed); the
    /// attempts and the lifetime count for every kind.
    func code(at now: Date, expiring: Bool = true) -> Code {
        let expiring = expiring && emailSent
        // Past its lifetime a challenge is over whatever resends it has left (SPEC §2).
        if now >= lifetimeEndsAt { return .exhausted(.lifetimeOver) }
        let dead: CloseReason
        if attempts >= maxAttempts {
            dead = .burned
        } else if expiring && now >= codeExpiresAt {
            dead = .expired
        } else {
            return .live
        }
        return resendsRemaining > 0 ? .dead(dead) : .exhausted(dead)
    }

    /// What the user may be told at `now`; a challenge that ``expire(at:)`` would close shows as closed.
    public func stage(at now: Date) -> Stage {
        switch state {
        case .verified:
            // Past its use window an activation can no longer enable 2FA: it is over.
            guard let usableUntil, now < usableUntil else { return .closed }
            return .verified
        case .used: return .used
        case .closed: return .closed
        case .pending:
            if case .exhausted = code(at: now) { return .closed }
            return .codeSent
        }
    }
}
