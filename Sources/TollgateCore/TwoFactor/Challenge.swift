public import Foundation

/// One email-code challenge of SPEC §2 as a value, with its rules as a state machine.
///
/// Nothing here reads a clock or a database. Each event (``enterCode(at:)``,
/// ``codeCompared(matches:attempts:)``, ``requestResend(at:cooldown:)``, ``expire(at:)``)
/// takes the database's time and answers what must happen; the caller carries the action
/// out in SQL (SwiftNIO's state machines work the same way). The caller holds the row's lock
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
    public private(set) var state: State
    /// The keyed hash of the current code (never the code).
    public private(set) var codeHash: Data
    public private(set) var codeExpiresAt: Date
    /// Entries counted against the current code.
    public private(set) var attempts: Int
    public let maxAttempts: Int
    public private(set) var resendsUsed: Int
    public let maxResends: Int
    public private(set) var lastSentAt: Date
    /// The end of its life (`CHALLENGE_LIFETIME` after its start): no code counts after it.
    public let lifetimeEndsAt: Date
    /// A verified activation may enable 2FA until then, once (its use window, SPEC §3.1).
    public private(set) var usableUntil: Date?
    /// The latest code email; nil while a login that offers other methods has mailed none.
    public private(set) var emailID: UUID?
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
    private enum Code {
        case live
        /// Expired or burned; a resend is still allowed.
        case dead(CloseReason)
        /// Expired or burned with no resend left: the challenge must close and the user start over.
        case exhausted(CloseReason)
    }

    /// `expiring` is false for an authenticator app's code: the app makes its own codes, so
    /// only an emailed code's ten minutes run out (and none before one was emailed); the
    /// attempts and the lifetime count for every kind.
    private func code(at now: Date, expiring: Bool = true) -> Code {
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

    // MARK: Events

    /// A code is entered at `now` (SPEC §2), from the email or from an authenticator app
    /// (`factor`): may it be compared at all? Both count against the same attempts (SPEC §13).
    public mutating func enterCode(at now: Date, from factor: SecondFactor = .email) -> EntryAction {
        guard state == .pending else { return .refuse(.closed) }
        switch code(at: now, expiring: factor == .email) {
        case .live:
            return .countAndCompare
        case .dead(.burned):
            return .refuse(.codeBurned(resendsRemaining: resendsRemaining))
        case .dead:
            return .recordExpiry(.codeExpired(resendsRemaining: resendsRemaining))
        case .exhausted(let reason):
            state = .closed
            return .close(reason)
        }
    }

    /// The entry allowed by ``enterCode(at:)`` was counted (`attempts` is the count the
    /// database returned) and compared. The 5th wrong entry burns the code; with no resend
    /// left, that closes the challenge.
    public mutating func codeCompared(matches: Bool, attempts: Int) -> ComparisonAction {
        self.attempts = attempts
        if matches {
            // A login is done once it yields its session; an activation waits to be used.
            state = purpose == .login ? .used : .verified
            return .accept(becoming: state)
        }
        guard attemptsRemaining == 0 else {
            return .reject(
                attemptsRemaining: attemptsRemaining,
                close: nil,
                .invalidCode(attemptsRemaining: attemptsRemaining, resendsRemaining: resendsRemaining)
            )
        }
        let close: CloseReason? = resendsRemaining == 0 ? .burned : nil
        if close != nil { state = .closed }
        return .reject(attemptsRemaining: 0, close: close, .tooManyAttempts(resendsRemaining: resendsRemaining))
    }

    /// The user picks email at a login that mailed nothing yet (SPEC §13). The first emailed
    /// code takes over the entries counted so far: choosing email never gives more guesses
    /// (at most 5 a code and 1 + `maxResends` codes, as SPEC §2 counts them). When app codes
    /// burned the first code's tries, the email's code counts as a new code (a resend).
    public mutating func requestFirstEmail(at now: Date) -> FirstEmailAction {
        guard state == .pending else { return .refuse(.closed) }
        if case .exhausted(let reason) = code(at: now, expiring: false) {
            state = .closed
            return .close(reason)
        }
        return emailSent ? .alreadySent : .send
    }

    /// The email `emailID` carries the current code.
    public mutating func mailed(_ emailID: UUID) {
        self.emailID = emailID
    }

    /// The first emailed code (allowed by ``requestFirstEmail(at:)``), issued at `now`: valid
    /// until `expiresAt`, with the attempts already counted — unless they were all used, by
    /// app codes: then it is a new code, which uses a resend and counts afresh.
    public mutating func firstCodeIssued(codeHash: Data, expiresAt: Date, at now: Date) {
        self.codeHash = codeHash
        codeExpiresAt = expiresAt
        lastSentAt = now
        if attempts >= maxAttempts {
            attempts = 0
            resendsUsed += 1
        }
    }

    /// A new code is asked for at `now`; `cooldown` is the seconds required since the last send.
    public mutating func requestResend(at now: Date, cooldown: Int) -> ResendAction {
        guard state == .pending else { return .refuse(.closed) }
        if case .exhausted(let reason) = code(at: now) {
            state = .closed
            return .close(reason)
        }
        guard resendsRemaining > 0 else { return .refuseForLimit(.resendLimitReached) }
        let wait = Int(lastSentAt.addingTimeInterval(Double(cooldown)).timeIntervalSince(now).rounded(.up))
        guard wait <= 0 else { return .refuseForLimit(.resendTooSoon(retryAfter: wait, resendsRemaining: resendsRemaining)) }
        return .send
    }

    /// The new code a resend (allowed by ``requestResend(at:cooldown:)``) issued at `now`:
    /// entries count afresh against it until `expiresAt`.
    public mutating func codeReissued(codeHash: Data, expiresAt: Date, at now: Date) {
        self.codeHash = codeHash
        codeExpiresAt = expiresAt
        attempts = 0
        resendsUsed += 1
        lastSentAt = now
    }

    /// An activation's right code was accepted at `now` (``codeCompared(matches:attempts:)``
    /// made it verified): it may enable 2FA for `seconds` from now, once.
    public mutating func openUseWindow(at now: Date, seconds: Int) {
        guard state == .verified else { return }
        usableUntil = now.addingDatabaseSeconds(seconds)
    }

    /// 2FA is enabled with this activation at `now`: allowed once, within its use window.
    public mutating func use(at now: Date) -> Bool {
        guard state == .verified, let usableUntil, now < usableUntil else { return false }
        state = .used
        return true
    }

    /// The challenge is looked at `now`: one whose last code is dead with no resend left closes.
    public mutating func expire(at now: Date) -> ExpiryAction {
        guard state == .pending, case .exhausted(let reason) = code(at: now) else { return .none }
        state = .closed
        return .close(reason)
    }
}

extension DomainError {
    /// The one answer for each refusal of a challenge's rules.
    public init(_ refusal: Challenge.Refusal) {
        switch refusal {
        case .closed:
            self = .challengeClosed
        case .codeExpired(let resends):
            self.init(.codeExpired, "This code has expired; ask for a new one.", resendsRemaining: resends)
        case .codeBurned(let resends):
            self.init(
                .tooManyAttempts,
                "This code was entered wrongly too often; ask for a new one.",
                attemptsRemaining: 0,
                resendsRemaining: resends
            )
        case .tooManyAttempts(let resends):
            self.init(.tooManyAttempts, "That code was wrong too often; ask for a new one.", attemptsRemaining: 0, resendsRemaining: resends)
        case .invalidCode(let attempts, let resends):
            self.init(.invalidCode, "That code is not right.", attemptsRemaining: attempts, resendsRemaining: resends)
        case .resendLimitReached:
            self.init(.resendLimitReached, "No new code can be sent for this attempt; start again.", resendsRemaining: 0)
        case .resendTooSoon(let wait, let resends):
            self.init(.resendTooSoon, "Wait a little before asking for another code.", retryAfter: wait, resendsRemaining: resends)
        }
    }

    public static let challengeClosed = DomainError(.challengeClosed, "This attempt is over; start again (or contact support).")
    public static let challengeNotFound = DomainError(.challengeNotFound, "There is no such challenge.")
}
