public import Foundation

/// The events of a ``Challenge`` (SPEC §2, §13): each takes the database's time and answers
/// what must happen; the caller carries it out in SQL under the row's lock.
extension Challenge {
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
        guard methods.contains(.email) else { return .refuse(.emailNotOffered) }
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
        guard methods.contains(.email) else { return .refuse(.emailNotOffered) }
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
        case .emailNotOffered:
            self.init(.invalidRequest, "Your company requires a passkey for this login; codes by email are not offered.")
        }
    }

    /// A refusal of an entry from `factor`: a failed passkey is told as such (401
    /// `invalid_passkey`, SPEC §13.1), counted like the wrong code it stands for.
    init(_ refusal: Challenge.Refusal, from factor: SecondFactor) {
        if factor == .passkey, case .invalidCode(let attempts, let resends) = refusal {
            self = .invalidPasskey(attemptsRemaining: attempts, resendsRemaining: resends)
        } else {
            self.init(refusal)
        }
    }

    public static let challengeClosed = DomainError(.challengeClosed, "This attempt is over; start again (or contact support).")
    public static let challengeNotFound = DomainError(.challengeNotFound, "There is no such challenge.")
}
