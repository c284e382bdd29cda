public import Foundation
import Logging
import NIOConcurrencyHelpers
import PQ

/// What the user of a challenge may see of it (SPEC §4 `Challenge` and `Activation`);
/// TollgateHTTP gives it its JSON shape.
public struct ChallengeSnapshot: Sendable {
    public let id: UUID
    public let stage: Challenge.Stage
    public let codeExpiresAt: Date
    public let resendsRemaining: Int
    public let attemptsRemaining: Int
    public let emailHint: String
    /// The latest code email's state: queued, sent, failed or expired; not sent while a login
    /// that offers other methods has mailed none.
    public let delivery: Outbox.Delivery
    /// The second factors the login offers, strongest first: the screen opens with the first.
    public let methods: [SecondFactor]
    /// The days the code screen may offer to remember the browser for; nil: never.
    public let rememberDays: Int?

    init(_ record: ChallengeRecord, emailHint: String, delivery: Outbox.Delivery) {
        let challenge = record.challenge
        id = challenge.id
        stage = challenge.stage(at: record.databaseNow)
        codeExpiresAt = challenge.codeExpiresAt
        resendsRemaining = challenge.resendsRemaining
        attemptsRemaining = challenge.attemptsRemaining
        self.emailHint = emailHint
        self.delivery = challenge.emailSent ? delivery : .notSent
        methods = challenge.methods
        rememberDays = challenge.rememberDays
    }

    /// With the state of the challenge's latest code email as the read joined it
    /// (``ChallengeStore/locate(_:withDelivery:in:)``).
    init(_ record: ChallengeRecord, emailHint: String) {
        self.init(record, emailHint: emailHint, delivery: record.emailStatus.map(Outbox.publicState) ?? .queued)
    }
}

/// A login challenge with the token its user holds (SPEC §4 `Challenge`).
public struct LoginChallenge: Sendable {
    public let token: String
    public let snapshot: ChallengeSnapshot
}

/// The email-code challenge of SPEC §2, one implementation for both flows: start, verify,
/// resend and view (login in `LoginChallenges.swift`, activation in `ActivationChallenges.swift`).
///
/// Every step is one transaction. A challenge that may still change is locked (`FOR UPDATE`)
/// first, so concurrent requests on one challenge take turns (an ended one, which cannot
/// change, is read without the lock); ``Challenge`` decides what a request leads to, and
/// ``ChallengeStore``'s single conditional statements make the limits hold whatever the
/// interleaving. Refusals that must be remembered (a wrong code, a closed
/// challenge, an event) commit and are thrown after (``PQPool/commitThen(in:_:)``).
public struct ChallengeService: DomainService, Sendable {
    let dependencies: DomainDependencies
    var policy: CodePolicy { settings.codes }
    var limits: AbuseLimits { settings.limits }
    var sessionTTL: Int { settings.sessionTTLDashboard }

    public init(_ dependencies: DomainDependencies) {
        self.dependencies = dependencies
    }

    /// Checks a code in two round trips: the challenge, its user and the user's counters are
    /// read under their locks; ``Challenge`` and ``CodeLimits`` decide on them; every write goes
    /// with the COMMIT. The locks hold what was read until then, so nothing is predicted.
    ///
    /// A code that was compared counts even when its transaction then fails to commit for
    /// another reason (a deadlock, a timeout, a lost connection): it is counted again in a
    /// short transaction of its own, so no fault gives an attacker an uncounted guess.
    ///
    /// `accepting` makes the flow's answer of the right code (a session, an activation's
    /// view), in the same transaction; `withCompany` reads the challenge's company for it.
    func verify<Outcome: Sendable>(
        companyID: UUID,
        locator: ChallengeLocator,
        entry: FactorEntry,
        withCompany: Bool = false,
        clientInfo: ClientInfo,
        accepting: @escaping @Sendable (AcceptedCode, ClientInfo, PQTransaction) -> Outcome
    ) async throws -> Outcome {
        let compared = NIOLockedValueBox<ComparedEntry?>(nil)
        do {
            return try await pool.commitThen(in: companyID) { tx in
                guard let located = try ChallengeStore.locate(locator, withDelivery: locator.isActivation, withCompany: withCompany, in: tx) else {
                    return .refuse(.challengeNotFound)
                }
                return try decide(located, entry: entry, clientInfo: clientInfo, compared: compared, accepting: accepting, in: tx)
            }
        } catch let error where !(error is DomainError) {
            if let entry = compared.withLockedValue({ $0 }) { await countUncommitted(entry, companyID: companyID) }
            throw error
        }
    }

    /// What an entered code leads to, decided on what was read under the locks; the writes are
    /// queued for the COMMIT (``CommitThen``).
    private func decide<Outcome: Sendable>(
        _ located: LocatedChallenge,
        entry: FactorEntry,
        clientInfo: ClientInfo,
        compared: NIOLockedValueBox<ComparedEntry?>,
        accepting: (AcceptedCode, ClientInfo, PQTransaction) -> Outcome,
        in tx: PQTransaction
    ) throws -> CommitThen<Outcome> {
        let (record, user, counters) = (located.record, located.user, located.counters)
        if closedForAccount(record.challenge, user: user, clientInfo: clientInfo, in: tx) { return .refuse(.challengeClosed) }
        var challenge = record.challenge
        let factor = entry.factor
        switch challenge.enterCode(at: record.databaseNow, from: factor) {
        case .countAndCompare:
            break
        case .recordExpiry(let refusal):
            ChallengeEvent.record(.codeExpired, challenge, user: user, clientInfo: clientInfo, in: tx)
            return .refuse(DomainError(refusal))
        case .close(let reason):
            ChallengeEvent.close(challenge, reason: reason, user: user, clientInfo: clientInfo, in: tx)
            return .refuse(.challengeClosed)
        case .refuse(let refusal):
            return .refuse(DomainError(refusal))
        }
        if let lockedUntil = counters.lockedUntil, lockedUntil > record.databaseNow {
            // Refused for a limit, so recorded (SPEC §5), like the other refusals.
            let retryAfter = max(1, Int(lockedUntil.timeIntervalSince(record.databaseNow).rounded(.up)))
            ChallengeEvent.record(
                .rateLimited,
                challenge,
                user: user,
                clientInfo: clientInfo,
                extra: ["limit": .string("account_locked"), "retry_after": .int(retryAfter)],
                in: tx
            )
            return .refuse(.accountLocked(retryAfter: retryAfter))
        }
        // Past the account's hourly wrong-code limit no guess is even looked at, and the
        // account's challenges close.
        if let refusal = CodeLimits.wrongCodesRefusal(of: user, counters: counters, limits: limits, at: record.transactionStart, in: tx) {
            try CodeLimits.closeForWrongCodeLimit(of: user, refusal: refusal, clientInfo: clientInfo, in: tx)
            return .refuse(.challengeClosed)
        }
        // Counted before it is compared, with the COMMIT.
        ChallengeStore.countAttempt(challenge, in: tx)
        // A factor the challenge does not offer is compared with nothing: a wrong entry.
        let offered = challenge.methods.contains(factor)
        var appCode: MatchingAppCode?
        var passkey: MatchingPasskey?
        let matches: Bool
        switch entry {
        case .emailCode(let code):
            matches = offered && (normalizedCode(code).map { mac.codeMatches($0, challengeID: challenge.id, stored: challenge.codeHash) } ?? false)
        case .appCode(let code):
            appCode = offered ? matchingAppCode(code, located) : nil
            matches = appCode != nil
        case .passkey(let response):
            passkey = offered ? try matchingPasskey(response, located, clientInfo: clientInfo, in: tx) : nil
            matches = passkey != nil
            ChallengeStore.spendPasskeyChallenge(challenge.id, in: tx)
        }
        compared.withLockedValue { $0 = ComparedEntry(challenge: record.challenge, user: user, matched: matches) }
        if let appCode { ChallengeStore.spendAppStep(appCode.step, userID: user.id, app: appCode.sealed, renewed: appCode.renewed, in: tx) }
        if let passkey { ChallengeStore.usePasskey(passkey, in: tx) }
        switch challenge.codeCompared(matches: matches, attempts: challenge.attempts + 1) {
        case .accept(let state):
            var updated = record
            updated.challenge = challenge
            let accepted = AcceptedCode(
                record: accept(updated, becoming: state, user: user, in: tx),
                user: user,
                company: located.company,
                factor: factor
            )
            return .answer(accepting(accepted, clientInfo, tx))
        case .reject(let attemptsRemaining, let close, let refusal):
            return try reject(
                challenge,
                attemptsRemaining: attemptsRemaining,
                close: close,
                refusal,
                from: factor,
                user: user,
                counters: counters,
                clientInfo: clientInfo,
                in: tx
            )
        }
    }

    /// An authenticator-app code that counts: its step, and its app's secret as stored and,
    /// when an older `TOLLGATE_SECRET` opened it, sealed anew.
    typealias MatchingAppCode = (step: Int64, sealed: Data, renewed: Data?)

    /// The step and app of an authenticator-app code that is right now (±1 step) for one of the
    /// user's confirmed apps and later than the last step accepted, with the app's secret sealed
    /// anew when an older `TOLLGATE_SECRET` opened it; nil for any other entry, or when the
    /// challenge does not offer apps.
    private func matchingAppCode(_ entry: String, _ located: LocatedChallenge) -> MatchingAppCode? {
        guard let code = normalizedCode(entry) else { return nil }
        var found: MatchingAppCode?
        // Every app is tried, whatever matched, so timing does not say which.
        for sealed in located.appSecrets {
            guard let (secret, renewed) = secretBox.openRenewing(sealed),
                let step = TOTP.acceptedStep(of: code, secret: secret, at: located.record.databaseNow, after: located.lastAppStep)
            else { continue }
            if found == nil { found = (step, sealed, renewed) }
        }
        return found
    }

    /// The right code: consume the challenge once, ending the account's run of wrong codes.
    /// Answers the challenge as it now stands (an activation's use window opened).
    private func accept(_ record: ChallengeRecord, becoming state: Challenge.State, user: User, in tx: PQTransaction) -> ChallengeRecord {
        var record = record
        // An activation may now enable 2FA for its use window (SPEC §3.1).
        record.challenge.openUseWindow(at: record.databaseNow, seconds: policy.activationUseWindow)
        ChallengeStore.consume(record.challenge, becoming: state, in: tx)
        CodeLimits.resetWrongCodes(of: user, in: tx)
        return record
    }

    /// A wrong code: record it, count it against the account (100 in a row lock the
    /// dashboard login), and close the challenge if the rules say so.
    private func reject<Outcome>(
        _ challenge: Challenge,
        attemptsRemaining: Int,
        close: Challenge.CloseReason?,
        _ refusal: Challenge.Refusal,
        from factor: SecondFactor,
        user: User,
        counters: AccountCounters,
        clientInfo: ClientInfo,
        in tx: PQTransaction
    ) throws -> CommitThen<Outcome> {
        ChallengeStore.countWrong(challengeID: challenge.id, in: tx)
        let locked = CodeLimits.countWrongCode(of: user, counters: counters, limits: limits, in: tx)
        ChallengeEvent.record(
            .codeFailed,
            challenge,
            user: user,
            clientInfo: clientInfo,
            extra: ["attempts_remaining": .int(attemptsRemaining)],
            in: tx
        )
        if locked {
            try CodeLimits.closeAll(of: user, clientInfo: clientInfo, limit: "consecutive_wrong_codes", firstRefusal: true, in: tx)
            return .refuse(.lockedForWrongCodes(retryAfter: limits.lockDuration))
        }
        if let close {
            ChallengeEvent.close(challenge, reason: close, user: user, clientInfo: clientInfo, in: tx)
        }
        return .refuse(DomainError(refusal, from: factor))
    }
}

/// A right code, as the flow's answer is made from it: the challenge as it now stands, its
/// user, its company when the verify read it, and where the code came from.
struct AcceptedCode: Sendable {
    let record: ChallengeRecord
    let user: User
    let company: Company?
    let factor: SecondFactor
}

extension DomainError {
    /// 100 wrong codes in a row locked the account's dashboard login (SPEC §5).
    static func lockedForWrongCodes(retryAfter: Int) -> DomainError {
        DomainError(.accountLocked, "Too many wrong codes: this account's dashboard login is locked; contact support.", retryAfter: retryAfter)
    }
}
