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
    /// The latest code email's state: queued, sent, failed or expired.
    public let delivery: String

    init(_ record: ChallengeRecord, emailHint: String, delivery: String) {
        let challenge = record.challenge
        id = challenge.id
        stage = challenge.stage(at: record.databaseNow)
        codeExpiresAt = challenge.codeExpiresAt
        resendsRemaining = challenge.resendsRemaining
        attemptsRemaining = challenge.attemptsRemaining
        self.emailHint = emailHint
        self.delivery = delivery
    }

    /// With the state of the challenge's latest code email: as the read joined it, or read in `tx`.
    init(_ record: ChallengeRecord, emailHint: String, in tx: PQTransaction) throws {
        let delivery =
            try record.emailStatus.map(Outbox.publicState)
            ?? record.challenge.emailID.map { try Outbox.deliveryState(emailID: $0, in: tx) } ?? "queued"
        self.init(record, emailHint: emailHint, delivery: delivery)
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

    enum VerifyOutcome: Sendable {
        case session(SessionGrant)
        case activation(ChallengeSnapshot)
    }

    /// Checks a code in two round trips: the challenge is read and locked, then every write
    /// goes with the COMMIT, answered from what the locked rows predict (``ExpectedOutcome``).
    /// Two things the locks do not hold can prove a prediction wrong: the account's hourly
    /// wrong-code count, shared by its challenges, and the wrong code that ends a run of
    /// 100. Then nothing was kept, and the check runs again reading each answer.
    ///
    /// A code that was compared counts even when its transaction then fails to commit for
    /// another reason (a deadlock, a timeout, a lost connection): it is counted again in a
    /// short transaction of its own, so no fault gives an attacker an uncounted guess.
    func verify(companyID: UUID, locator: ChallengeLocator, code entry: String, clientInfo: ClientInfo) async throws -> VerifyOutcome {
        let compared = NIOLockedValueBox<ComparedEntry?>(nil)
        do {
            return try await ExpectedOutcome.predictingFirst("challenge.verify", logger: logger) { predicting in
                try await verify(
                    companyID: companyID,
                    locator: locator,
                    code: entry,
                    clientInfo: clientInfo,
                    predicting: predicting,
                    compared: compared
                )
            }
        } catch let error where !(error is DomainError) {
            if let entry = compared.withLockedValue({ $0 }) { await countUncommitted(entry, companyID: companyID) }
            throw error
        }
    }

    private func verify(
        companyID: UUID,
        locator: ChallengeLocator,
        code entry: String,
        clientInfo: ClientInfo,
        predicting: Bool,
        compared: NIOLockedValueBox<ComparedEntry?>
    ) async throws -> VerifyOutcome {
        try await pool.commitThen(in: companyID) { tx in
            guard let (record, user) = try ChallengeStore.locate(locator, in: tx) else { return .refuse(.challengeNotFound) }
            if try closedForAccount(record.challenge, user: user, clientInfo: clientInfo, in: tx) { return .refuse(.challengeClosed) }
            var challenge = record.challenge
            switch challenge.enterCode(at: record.databaseNow) {
            case .countAndCompare:
                break
            case .recordExpiry(let refusal):
                try ChallengeEvents.record(.codeExpired, challenge, user: user, clientInfo: clientInfo, in: tx)
                return .refuse(DomainError(refusal))
            case .close(let reason):
                try ChallengeEvents.close(challenge, reason: reason, user: user, clientInfo: clientInfo, in: tx)
                return .refuse(.challengeClosed)
            case .refuse(let refusal):
                return .refuse(DomainError(refusal))
            }
            if let lockedUntil = user.lockedUntil, lockedUntil > record.databaseNow {
                // Refused for a limit, so recorded (SPEC §5), like the other refusals.
                let retryAfter = max(1, Int(lockedUntil.timeIntervalSince(record.databaseNow).rounded(.up)))
                try ChallengeEvents.record(
                    .rateLimited,
                    challenge,
                    user: user,
                    clientInfo: clientInfo,
                    extra: ["limit": .string("account_locked"), "retry_after": .int(retryAfter)],
                    in: tx
                )
                return .refuse(.accountLocked(retryAfter: retryAfter))
            }
            // Reserve a wrong-code slot of the account before comparing: past the hourly
            // limit no guess is even looked at, and the account's challenges close.
            let accountKey = CodeLimits.wrongCodesKey(user)
            // Count the entry before comparing, in the same statement.
            let (refusal, attempts) = try ChallengeStore.countAttempt(
                challenge,
                reserving: RateLimiter.hitQuery(accountKey, limit: limits.wrongCodesPerAccount, window: limits.wrongCodesPerAccountWindow),
                predicting: predicting,
                in: tx
            )
            if let refusal {
                try CodeLimits.closeForWrongCodeLimit(of: user, refusal: refusal, clientInfo: clientInfo, in: tx)
                return .refuse(.challengeClosed)
            }
            guard let attempts else { return .refuse(.challengeClosed) }
            let matches = normalizedCode(entry).map { mac.codeMatches($0, challengeID: challenge.id, stored: challenge.codeHash) } ?? false
            compared.withLockedValue { $0 = ComparedEntry(challenge: record.challenge, user: user, matched: matches) }
            switch challenge.codeCompared(matches: matches, attempts: attempts) {
            case .accept(let state):
                try RateLimiter.undo(accountKey, in: tx)
                return .answer(
                    try accept(
                        record.challenge,
                        becoming: state,
                        emailStatus: record.emailStatus,
                        databaseNow: record.databaseNow,
                        user: user,
                        clientInfo: clientInfo,
                        predicting: predicting,
                        in: tx
                    )
                )
            case .reject(let attemptsRemaining, let close, let refusal):
                return .refuse(
                    try reject(
                        record.challenge,
                        attemptsRemaining: attemptsRemaining,
                        close: close,
                        refusal,
                        user: user,
                        clientInfo: clientInfo,
                        predicting: predicting,
                        in: tx
                    )
                )
            }
        }
    }

    /// The right code: consume the challenge once and give the flow its result.
    private func accept(
        _ challenge: Challenge,
        becoming state: Challenge.State,
        emailStatus: String?,
        databaseNow: Date,
        user: User,
        clientInfo: ClientInfo,
        predicting: Bool,
        in tx: PQTransaction
    ) throws -> VerifyOutcome {
        switch challenge.purpose {
        case .login:
            // The login's answer is its session, not the challenge's row.
            if predicting {
                ChallengeStore.queueConsume(challenge, becoming: state, in: tx)
            } else {
                guard try ChallengeStore.consume(challenge, becoming: state, in: tx) != nil else { throw DomainError.challengeClosed }
            }
            try CodeLimits.resetWrongCodes(of: user, in: tx)
            let grant = SessionStore.create(
                companyID: user.companyID,
                userID: user.id,
                client: .dashboard,
                twoFactorVerified: true,
                ttl: sessionTTL,
                databaseNow: databaseNow,
                clientInfo: clientInfo,
                challengeID: challenge.id,
                in: tx
            )
            try Event(
                companyID: user.companyID,
                type: .loginSucceeded,
                userID: user.id,
                email: user.email,
                client: clientInfo,
                detail: [
                    "challenge_id": .string(challenge.id.uuidString.lowercased()), "client": .string("dashboard"),
                    "session_id": .string(grant.session.id.uuidString.lowercased()),
                ]
            ).record(in: tx)
            return .session(grant)
        case .activation:
            guard var updated = try ChallengeStore.consume(challenge, becoming: state, in: tx) else { throw DomainError.challengeClosed }
            // The same code email as when it was located.
            updated.emailStatus = emailStatus
            try CodeLimits.resetWrongCodes(of: user, in: tx)
            try ChallengeEvents.record(.verified, updated.challenge, user: user, clientInfo: clientInfo, in: tx)
            return .activation(try ChallengeSnapshot(updated, emailHint: user.emailHint, in: tx))
        }
    }

    /// A wrong code: record it, count it against the account (100 in a row lock the
    /// dashboard login), and close the challenge if the rules say so.
    private func reject(
        _ challenge: Challenge,
        attemptsRemaining: Int,
        close: Challenge.CloseReason?,
        _ refusal: Challenge.Refusal,
        user: User,
        clientInfo: ClientInfo,
        predicting: Bool,
        in tx: PQTransaction
    ) throws -> DomainError {
        try ChallengeStore.countWrong(challengeID: challenge.id, in: tx)
        let locked = try CodeLimits.countWrongCode(of: user, limits: limits, predicting: predicting, in: tx)
        try ChallengeEvents.record(
            .codeFailed,
            challenge,
            user: user,
            clientInfo: clientInfo,
            extra: ["attempts_remaining": .int(attemptsRemaining)],
            in: tx
        )
        if locked {
            try CodeLimits.closeAll(of: user, clientInfo: clientInfo, limit: "consecutive_wrong_codes", firstRefusal: true, in: tx)
            return .lockedForWrongCodes(retryAfter: limits.lockDuration)
        }
        if let close {
            try ChallengeEvents.close(challenge, reason: close, user: user, clientInfo: clientInfo, predicting: predicting, in: tx)
        }
        return DomainError(refusal)
    }
}

extension DomainError {
    /// 100 wrong codes in a row locked the account's dashboard login (SPEC §5).
    static func lockedForWrongCodes(retryAfter: Int) -> DomainError {
        DomainError(.accountLocked, "Too many wrong codes: this account's dashboard login is locked; contact support.", retryAfter: retryAfter)
    }
}
