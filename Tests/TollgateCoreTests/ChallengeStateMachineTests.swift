import Foundation
import Testing
import TollgateCore

/// The rules of one challenge (SPEC §2, §4's exact answers, §5's resend rules) as tables over
/// the pure ``Challenge`` state machine: no database, no clock. The defaults are SPEC's: a
/// code lives 600 s, takes 5 wrong entries, 3 resends, 30 s between sends. A code serving
/// only its own challenge and purpose is the store's (`challenge.locate` filters by purpose,
/// the code's MAC binds its challenge id) and is tested against PostgreSQL in TollgateHTTPTests.
@Suite struct ChallengeStateMachineTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let cooldown = 30

    /// One challenge as read at ``now``.
    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var purpose: Challenge.Purpose = .login
        var state: Challenge.State = .pending
        var attempts = 0
        var resendsUsed = 0
        /// Seconds from now until the current code expires (negative: expired).
        var expiresIn: Double = 600
        /// Seconds since the latest code was sent.
        var sentAgo: Double = 60
        /// Seconds from now until the challenge's lifetime ends (SPEC §2: an hour from its start).
        var lifetimeLeft: Double = 1800
        /// A verified activation's use window left, in seconds (SPEC §3.1: 10 minutes).
        var usableFor: Double = 300
        /// False for a login that offers other methods and has mailed no code yet (SPEC §13).
        var emailed = true

        var testDescription: String { name }

        var challenge: Challenge {
            Challenge(
                id: UUID(),
                companyID: UUID(),
                userID: UUID(),
                purpose: purpose,
                state: state,
                codeHash: Data(repeating: 7, count: 32),
                codeExpiresAt: now.addingTimeInterval(expiresIn),
                attempts: attempts,
                maxAttempts: 5,
                resendsUsed: resendsUsed,
                maxResends: 3,
                lastSentAt: now.addingTimeInterval(-sentAgo),
                lifetimeEndsAt: now.addingTimeInterval(lifetimeLeft),
                usableUntil: state == .verified ? now.addingTimeInterval(usableFor) : nil,
                emailID: emailed ? UUID() : nil,
                methods: emailed ? [.email] : [.totp, .email]
            )
        }
    }

    // MARK: Entering a code

    static let entries: [(Row, Challenge.EntryAction)] = [
        (Row(name: "a live code is counted, then compared"), .countAndCompare),
        (Row(name: "4 wrong entries leave one more", attempts: 4), .countAndCompare),
        (Row(name: "one second before expiry", expiresIn: 1), .countAndCompare),
        (Row(name: "expired, resends left: code_expired, recorded", expiresIn: -1), .recordExpiry(.codeExpired(resendsRemaining: 3))),
        (Row(name: "expired at its exact expiry instant", expiresIn: 0), .recordExpiry(.codeExpired(resendsRemaining: 3))),
        (Row(name: "burned after 5 wrong, resends left: too_many_attempts", attempts: 5, resendsUsed: 1), .refuse(.codeBurned(resendsRemaining: 2))),
        (Row(name: "expired, no resend left: closes (expired)", resendsUsed: 3, expiresIn: -1), .close(.expired)),
        (Row(name: "burned, no resend left: closes (burned)", attempts: 5, resendsUsed: 3), .close(.burned)),
        (Row(name: "burned and expired, no resend left: burned wins", attempts: 5, resendsUsed: 3, expiresIn: -1), .close(.burned)),
        (Row(name: "the last resend's code, still live", resendsUsed: 3), .countAndCompare),
        (Row(name: "verified activation: challenge_closed", purpose: .activation, state: .verified), .refuse(.closed)),
        (Row(name: "used: challenge_closed", state: .used), .refuse(.closed)),
        (Row(name: "closed: challenge_closed", state: .closed), .refuse(.closed)),
        (Row(name: "past its lifetime, live code and resends left: closes", lifetimeLeft: -1), .close(.lifetimeOver)),
        (Row(name: "at its lifetime's exact end: closes", lifetimeLeft: 0), .close(.lifetimeOver)),
        (Row(name: "a second before its lifetime's end", lifetimeLeft: 1), .countAndCompare),
    ]

    @Test(arguments: entries)
    func enteringACode(_ row: Row, _ expected: Challenge.EntryAction) {
        var challenge = row.challenge
        #expect(challenge.enterCode(at: Self.now) == expected)
        if case .close = expected { #expect(challenge.state == .closed) } else { #expect(challenge.state == row.state) }
    }

    // MARK: Authenticator apps and the first email (SPEC §13)

    /// An app's code: only an emailed code's ten minutes do not apply to it; the attempts and
    /// the lifetime do, shared with the email.
    static let appEntries: [(Row, Challenge.EntryAction)] = [
        (Row(name: "nothing mailed yet: counted, then compared", emailed: false), .countAndCompare),
        (Row(name: "the emailed code expired: an app code still counts", expiresIn: -1), .countAndCompare),
        (Row(name: "expired email code, no resend left: an app code still counts", resendsUsed: 3, expiresIn: -1), .countAndCompare),
        (Row(name: "5 entries of either kind burn it", attempts: 5, emailed: false), .refuse(.codeBurned(resendsRemaining: 3))),
        (Row(name: "burned with no resend left: closes", attempts: 5, resendsUsed: 3, emailed: false), .close(.burned)),
        (Row(name: "past its lifetime: closes", lifetimeLeft: -1, emailed: false), .close(.lifetimeOver)),
        (Row(name: "used: challenge_closed", state: .used, emailed: false), .refuse(.closed)),
    ]

    @Test(arguments: appEntries)
    func enteringAnAppCode(_ row: Row, _ expected: Challenge.EntryAction) {
        var challenge = row.challenge
        #expect(challenge.enterCode(at: Self.now, from: .totp) == expected)
    }

    /// Before any email, the unsent code's expiry means nothing: an email entry is compared
    /// (it cannot be right: nobody was sent that code), and a look does not close it.
    @Test func aLoginThatMailedNothingDoesNotExpireByItsCode() {
        var challenge = Row(name: "unsent", expiresIn: -1, emailed: false).challenge
        #expect(challenge.enterCode(at: Self.now) == .countAndCompare)
        #expect(challenge.expire(at: Self.now) == .none)
        #expect(challenge.stage(at: Self.now) == .codeSent)
    }

    static let firstEmails: [(Row, Challenge.FirstEmailAction)] = [
        (Row(name: "nothing mailed yet: send", emailed: false), .send),
        (Row(name: "mailed already: nothing more", emailed: true), .alreadySent),
        (Row(name: "burned by app codes, resends left: sent (as a new code)", attempts: 5, emailed: false), .send),
        (Row(name: "burned with no resend left: closes", attempts: 5, resendsUsed: 3, emailed: false), .close(.burned)),
        (Row(name: "past its lifetime: closes", lifetimeLeft: -1, emailed: false), .close(.lifetimeOver)),
        (Row(name: "used: challenge_closed", state: .used, emailed: false), .refuse(.closed)),
    ]

    @Test(arguments: firstEmails)
    func pickingEmail(_ row: Row, _ expected: Challenge.FirstEmailAction) {
        var challenge = row.challenge
        #expect(challenge.requestFirstEmail(at: Self.now) == expected)
    }

    /// The first emailed code keeps the entries counted so far and uses no resend: picking
    /// email never adds guesses to the twenty a challenge allows.
    @Test func theFirstEmailedCodeKeepsTheCountAndTheResends() {
        var challenge = Row(name: "two wrong app codes", attempts: 2, emailed: false).challenge
        #expect(challenge.requestFirstEmail(at: Self.now) == .send)
        challenge.firstCodeIssued(codeHash: Data(repeating: 9, count: 32), expiresAt: Self.now.addingTimeInterval(600), at: Self.now)
        #expect(challenge.attempts == 2 && challenge.resendsRemaining == 3)
        #expect(challenge.codeHash == Data(repeating: 9, count: 32) && challenge.lastSentAt == Self.now)

        // Five wrong app codes used the first code's tries: the email's code is a new one.
        var burned = Row(name: "five wrong app codes", attempts: 5, emailed: false).challenge
        #expect(burned.requestFirstEmail(at: Self.now) == .send)
        burned.firstCodeIssued(codeHash: Data(repeating: 9, count: 32), expiresAt: Self.now.addingTimeInterval(600), at: Self.now)
        #expect(burned.attempts == 0 && burned.resendsRemaining == 2)
    }

    /// After the entry was counted (`attempts` is the database's count) and compared.
    static let comparisons: [(Row, Bool, Challenge.ComparisonAction)] = [
        (Row(name: "right login code: used at once", attempts: 1), true, .accept(becoming: .used)),
        (Row(name: "right activation code: verified, to be used by enable", purpose: .activation, attempts: 1), true, .accept(becoming: .verified)),
        (Row(name: "right code on the 5th entry", attempts: 5, resendsUsed: 3), true, .accept(becoming: .used)),
        (
            Row(name: "1st wrong: 4 left", attempts: 1), false,
            .reject(attemptsRemaining: 4, close: nil, .invalidCode(attemptsRemaining: 4, resendsRemaining: 3))
        ),
        (
            Row(name: "4th wrong: 1 left", attempts: 4, resendsUsed: 2), false,
            .reject(attemptsRemaining: 1, close: nil, .invalidCode(attemptsRemaining: 1, resendsRemaining: 1))
        ),
        (
            Row(name: "5th wrong burns the code", attempts: 5, resendsUsed: 2), false,
            .reject(attemptsRemaining: 0, close: nil, .tooManyAttempts(resendsRemaining: 1))
        ),
        (
            Row(name: "5th wrong, no resend left: burns and closes", attempts: 5, resendsUsed: 3), false,
            .reject(attemptsRemaining: 0, close: .burned, .tooManyAttempts(resendsRemaining: 0))
        ),
        (
            Row(name: "5th wrong of an activation, no resend left", purpose: .activation, attempts: 5, resendsUsed: 3), false,
            .reject(attemptsRemaining: 0, close: .burned, .tooManyAttempts(resendsRemaining: 0))
        ),
    ]

    @Test(arguments: comparisons)
    func comparingACountedCode(_ row: Row, _ matches: Bool, _ expected: Challenge.ComparisonAction) {
        var challenge = row.challenge
        #expect(challenge.codeCompared(matches: matches, attempts: row.attempts) == expected)
        switch expected {
        case .accept(let state): #expect(challenge.state == state)
        case .reject(_, let close, _): #expect(challenge.state == (close == nil ? .pending : .closed))
        }
    }

    /// Five wrong entries count down 4, 3, 2, 1, then burn; the burned code is refused uncounted.
    @Test func wrongEntriesCountDownThenBurn() {
        var challenge = Row(name: "fresh").challenge
        var remaining: [Int] = []
        for attempt in 1...5 {
            #expect(challenge.enterCode(at: Self.now) == .countAndCompare)
            guard case .reject(let left, .none, _) = challenge.codeCompared(matches: false, attempts: attempt) else {
                Issue.record("entry \(attempt) was not a plain rejection")
                return
            }
            remaining.append(left)
        }
        #expect(remaining == [4, 3, 2, 1, 0])
        #expect(challenge.enterCode(at: Self.now) == .refuse(.codeBurned(resendsRemaining: 3)))
        #expect(challenge.attemptsRemaining == 0)
    }

    // MARK: Asking for a new code

    static let resends: [(Row, Challenge.ResendAction)] = [
        (Row(name: "a minute after the send"), .send),
        (Row(name: "exactly at the cooldown", sentAgo: 30), .send),
        (Row(name: "10 s after the send: resend_too_soon, 20 s", sentAgo: 10), .refuseForLimit(.resendTooSoon(retryAfter: 20, resendsRemaining: 3))),
        (Row(name: "29.5 s after: Retry-After rounds up to 1", sentAgo: 29.5), .refuseForLimit(.resendTooSoon(retryAfter: 1, resendsRemaining: 3))),
        (
            Row(name: "just sent: the whole cooldown", resendsUsed: 1, sentAgo: 0),
            .refuseForLimit(.resendTooSoon(retryAfter: 30, resendsRemaining: 2))
        ),
        (Row(name: "expired code, resends left", expiresIn: -1), .send),
        (Row(name: "burned code, resends left", attempts: 5, resendsUsed: 2), .send),
        (Row(name: "3 resends used, code live: resend_limit_reached", resendsUsed: 3), .refuseForLimit(.resendLimitReached)),
        (Row(name: "3 resends used, within the cooldown: the limit first", resendsUsed: 3, sentAgo: 5), .refuseForLimit(.resendLimitReached)),
        (Row(name: "3 resends used, code expired: closes (expired)", resendsUsed: 3, expiresIn: -1), .close(.expired)),
        (Row(name: "3 resends used, code burned: closes (burned)", attempts: 5, resendsUsed: 3), .close(.burned)),
        (Row(name: "verified: challenge_closed", purpose: .activation, state: .verified), .refuse(.closed)),
        (Row(name: "used: challenge_closed", state: .used), .refuse(.closed)),
        (Row(name: "closed: challenge_closed", state: .closed), .refuse(.closed)),
        (Row(name: "past its lifetime, resends left: closes, no new code", lifetimeLeft: -1), .close(.lifetimeOver)),
        (Row(name: "past its lifetime, code expired: closes (lifetime)", expiresIn: -1, lifetimeLeft: -1), .close(.lifetimeOver)),
    ]

    @Test(arguments: resends)
    func askingForANewCode(_ row: Row, _ expected: Challenge.ResendAction) {
        var challenge = row.challenge
        #expect(challenge.requestResend(at: Self.now, cooldown: Self.cooldown) == expected)
        if case .close = expected { #expect(challenge.state == .closed) } else { #expect(challenge.state == row.state) }
    }

    /// A new code starts its entries afresh and uses one resend; the challenge's lifetime
    /// does not move.
    @Test func aReissuedCodeCountsAfreshAndUsesAResend() {
        var challenge = Row(name: "burned, one resend used", attempts: 5, resendsUsed: 1).challenge
        let lifetime = challenge.lifetimeEndsAt
        #expect(challenge.requestResend(at: Self.now, cooldown: Self.cooldown) == .send)
        let newHash = Data(repeating: 9, count: 32)
        challenge.codeReissued(codeHash: newHash, expiresAt: Self.now.addingTimeInterval(600), at: Self.now)
        #expect(challenge.attempts == 0 && challenge.attemptsRemaining == 5)
        #expect(challenge.resendsUsed == 2 && challenge.resendsRemaining == 1)
        #expect(challenge.codeHash == newHash && challenge.lastSentAt == Self.now)
        #expect(challenge.lifetimeEndsAt == lifetime)
        #expect(challenge.enterCode(at: Self.now) == .countAndCompare)
        // The cooldown runs from the new send.
        #expect(challenge.requestResend(at: Self.now.addingTimeInterval(10), cooldown: Self.cooldown) != .send)
    }

    /// Whatever order wrong entries, resends and waits come in, one challenge never counts more
    /// than 5 × (1 + 3) = 20 entries: the figure SECURITY.md's "one chance in 2,000 per day"
    /// rests on. Random lives from a fixed seed, each driven until the challenge ends.
    @Test func noChallengeEverCountsMoreThanTwentyEntries() {
        var seed: UInt64 = 0x5EED_2026
        func next(_ bound: UInt64) -> UInt64 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (seed >> 33) % bound
        }
        var most = 0
        for _ in 0..<500 {
            var challenge = Row(name: "life", lifetimeLeft: 3600).challenge
            var now = Self.now
            var counted = 0
            for _ in 0..<200 where challenge.state == .pending {
                switch next(8) {
                case 0..<5:
                    guard case .countAndCompare = challenge.enterCode(at: now) else { continue }
                    counted += 1
                    _ = challenge.codeCompared(matches: false, attempts: challenge.attempts + 1)
                case 5, 6:
                    if challenge.requestResend(at: now, cooldown: Self.cooldown) == .send {
                        challenge.codeReissued(codeHash: Data(repeating: 1, count: 32), expiresAt: now.addingTimeInterval(600), at: now)
                    }
                default:
                    now = now.addingTimeInterval(Double(next(120)))
                }
            }
            #expect(counted <= 20)
            most = max(most, counted)
        }
        #expect(most == 20, "some life reached the whole budget, so the bound is the tight one")
    }

    /// A right activation code opens a use window of its own; enabling 2FA uses it, once,
    /// within it (SPEC §3.1).
    @Test func anActivationEnablesOnceWithinItsUseWindow() {
        var challenge = Row(name: "activation", purpose: .activation, attempts: 1).challenge
        #expect(challenge.codeCompared(matches: true, attempts: 1) == .accept(becoming: .verified))
        challenge.openUseWindow(at: Self.now, seconds: 600)
        #expect(challenge.usableUntil == Self.now.addingTimeInterval(600))
        var late = challenge
        let usedLate = late.use(at: Self.now.addingTimeInterval(600))
        #expect(!usedLate)
        #expect(late.stage(at: Self.now.addingTimeInterval(600)) == .closed)
        #expect(challenge.stage(at: Self.now.addingTimeInterval(599)) == .verified)
        let used = challenge.use(at: Self.now.addingTimeInterval(599))
        #expect(used)
        #expect(challenge.state == .used && challenge.stage(at: Self.now) == .used)
        let again = challenge.use(at: Self.now)
        #expect(!again, "once")
        var login = Row(name: "login", attempts: 1).challenge
        _ = login.codeCompared(matches: true, attempts: 1)
        login.openUseWindow(at: Self.now, seconds: 600)
        #expect(login.usableUntil == nil, "a login has no use window")
    }

    // MARK: Looking at a challenge

    static let expiries: [(Row, Challenge.ExpiryAction, Challenge.Stage)] = [
        (Row(name: "live code"), .none, .codeSent),
        (Row(name: "expired code, resends left", expiresIn: -1), .none, .codeSent),
        (Row(name: "burned code, resends left", attempts: 5), .none, .codeSent),
        (Row(name: "expired, no resend left", resendsUsed: 3, expiresIn: -1), .close(.expired), .closed),
        (Row(name: "burned, no resend left", attempts: 5, resendsUsed: 3), .close(.burned), .closed),
        (Row(name: "verified activation, code long expired", purpose: .activation, state: .verified, expiresIn: -900), .none, .verified),
        (Row(name: "used", state: .used, resendsUsed: 3, expiresIn: -1), .none, .used),
        (Row(name: "closed", state: .closed), .none, .closed),
        (Row(name: "past its lifetime, resends left", lifetimeLeft: -1), .close(.lifetimeOver), .closed),
        (
            Row(name: "verified activation past the lifetime: its use window rules", purpose: .activation, state: .verified, lifetimeLeft: -1), .none,
            .verified
        ),
        (Row(name: "verified activation past its use window: over", purpose: .activation, state: .verified, usableFor: -1), .none, .closed),
        (Row(name: "verified activation at its use window's end: over", purpose: .activation, state: .verified, usableFor: 0), .none, .closed),
    ]

    @Test(arguments: expiries)
    func lookingAtAChallenge(_ row: Row, _ expected: Challenge.ExpiryAction, _ stage: Challenge.Stage) {
        var challenge = row.challenge
        #expect(challenge.stage(at: Self.now) == stage)
        #expect(challenge.expire(at: Self.now) == expected)
        #expect(challenge.stage(at: Self.now) == stage)
    }

    // MARK: Answers

    /// The API answers of SPEC §4 for each refusal: code and the extra fields.
    static let answers: [(Challenge.Refusal, DomainError.Code, Int?, Int?, Int?)] = [
        (.closed, .challengeClosed, nil, nil, nil),
        (.codeExpired(resendsRemaining: 2), .codeExpired, nil, 2, nil),
        (.codeBurned(resendsRemaining: 1), .tooManyAttempts, 0, 1, nil),
        (.tooManyAttempts(resendsRemaining: 0), .tooManyAttempts, 0, 0, nil),
        (.invalidCode(attemptsRemaining: 3, resendsRemaining: 3), .invalidCode, 3, 3, nil),
        (.resendLimitReached, .resendLimitReached, nil, 0, nil),
        (.resendTooSoon(retryAfter: 12, resendsRemaining: 2), .resendTooSoon, nil, 2, 12),
    ]

    @Test(arguments: answers)
    func refusalsAnswer(_ refusal: Challenge.Refusal, _ code: DomainError.Code, _ attempts: Int?, _ resends: Int?, _ retryAfter: Int?) {
        let error = DomainError(refusal)
        #expect(error.code == code)
        #expect(error.attemptsRemaining == attempts)
        #expect(error.resendsRemaining == resends)
        #expect(error.retryAfter == retryAfter)
    }

    /// The stored vocabulary: anything else in the table is a decoding error, never a guess.
    @Test func storedStatesAndPurposesAreExactlyTheTablesValues() {
        #expect(Challenge.State.allCases.map(\.rawValue) == ["pending", "verified", "used", "closed"])
        #expect(Challenge.Purpose.allCases.map(\.rawValue) == ["login", "activation"])
        #expect(Challenge.State(rawValue: "Pending") == nil)
        #expect(Challenge.Purpose(rawValue: "") == nil)
    }
}
