import Foundation
import Logging
import PQ

/// Issuing codes: a new challenge with its first code, a new code for a challenge, and the
/// email that carries each, queued in the same transaction (SPEC §2).
extension ChallengeService {
    /// Starts a challenge for `user` unless an account limit refuses it (the refusal is
    /// recorded, so the transaction commits either way). Returns the challenge and its user.
    /// With `predicting` (the transaction's clock), every statement is queued, expecting the
    /// limits not to refuse (``ExpectedOutcome``).
    func start(
        _ purpose: Challenge.Purpose,
        user: User,
        company: Company,
        tokenMAC: Data?,
        clientInfo: ClientInfo,
        predicting clock: TransactionClock? = nil,
        in tx: PQTransaction
    ) throws -> CommitThen<ChallengeRecord> {
        if let refusal = try CodeLimits.refuseNewChallenge(
            user: user,
            purpose: purpose,
            limits: limits,
            clientInfo: clientInfo,
            predicting: clock != nil,
            in: tx
        ) {
            return .refuse(refusal)
        }
        // One open challenge per user and purpose: a new one replaces the old.
        try ChallengeStore.replace(userID: user.id, purpose: purpose, in: tx)
        let id = UUID()
        let code = SecureRandom.sixDigitCode()
        // A login challenge's "this wasn't me" link works for 24 hours (SPEC §10).
        let reportMAC = purpose == .login ? mac.token(mac.reportToken(companyID: company.id, challengeID: id)) : nil
        let record = try ChallengeStore.create(
            id: id,
            companyID: company.id,
            userID: user.id,
            purpose: purpose,
            tokenMAC: tokenMAC,
            codeMAC: mac.code(code, challengeID: id),
            reportMAC: reportMAC,
            policy: policy,
            clientInfo: clientInfo,
            clock: clock,
            in: tx
        )
        try sendCode(code, record: record, user: user, company: company, clientInfo: clientInfo, in: tx)
        try ChallengeEvents.record(.codeSent, record.challenge, user: user, clientInfo: clientInfo, in: tx)
        return .answer(record)
    }

    /// Sends a new code for the challenge `locator` names (its token or id stays the same), in
    /// two round trips when the locked rows predict the outcome, as ``verify(companyID:locator:code:clientInfo:)``.
    func resend(companyID: UUID, locator: ChallengeLocator, clientInfo: ClientInfo) async throws -> (ChallengeRecord, User) {
        try await ExpectedOutcome.predictingFirst("challenge.resend", logger: logger) { predicting in
            try await resend(companyID: companyID, locator: locator, clientInfo: clientInfo, predicting: predicting)
        }
    }

    private func resend(companyID: UUID, locator: ChallengeLocator, clientInfo: ClientInfo, predicting: Bool) async throws -> (ChallengeRecord, User)
    {
        try await pool.commitThen(in: companyID) { tx in
            guard let (record, user, company) = try ChallengeStore.locateWithCompany(locator, in: tx) else { return .refuse(.challengeNotFound) }
            if try closedForAccount(record.challenge, user: user, clientInfo: clientInfo, in: tx) { return .refuse(.challengeClosed) }
            // Past the account's hourly wrong-code limit its challenges close (SPEC §5): no new
            // code goes out for one that the last wrong code left open.
            if let refusal = try RateLimiter.check(
                CodeLimits.wrongCodesKey(user),
                limit: limits.wrongCodesPerAccount,
                window: limits.wrongCodesPerAccountWindow,
                predicting: predicting,
                in: tx
            ) {
                try CodeLimits.closeForWrongCodeLimit(of: user, refusal: refusal, clientInfo: clientInfo, in: tx)
                return .refuse(.challengeClosed)
            }
            var challenge = record.challenge
            switch challenge.requestResend(at: record.databaseNow, cooldown: policy.resendCooldown) {
            case .send:
                break
            case .close(let reason):
                try ChallengeEvents.close(challenge, reason: reason, user: user, clientInfo: clientInfo, predicting: predicting, in: tx)
                return .refuse(.challengeClosed)
            case .refuseForLimit(let refusal):
                let error = DomainError(refusal)
                try Event(
                    companyID: user.companyID,
                    type: challenge.purpose == .login ? .loginRateLimited : .twoFactorRateLimited,
                    userID: user.id,
                    email: user.email,
                    client: clientInfo,
                    detail: ["challenge_id": .string(challenge.id.uuidString.lowercased()), "limit": .string(error.code.rawValue)]
                )
                .record(in: tx)
                return .refuse(error)
            case .refuse(let refusal):
                return .refuse(DomainError(refusal))
            }
            let code = SecureRandom.sixDigitCode()
            let codeMAC = mac.code(code, challengeID: challenge.id)
            let updated: ChallengeRecord
            if predicting {
                updated = ChallengeStore.queueResend(record, codeMAC: codeMAC, policy: policy, in: tx)
            } else {
                guard let renewed = try ChallengeStore.resend(challengeID: challenge.id, codeMAC: codeMAC, policy: policy, in: tx) else {
                    return .refuse(.challengeClosed)
                }
                updated = renewed
            }
            try sendCode(code, record: updated, user: user, company: company, clientInfo: clientInfo, in: tx)
            try ChallengeEvents.record(.codeResent, updated.challenge, user: user, clientInfo: clientInfo, in: tx)
            return .answer((updated, user))
        }
    }

    /// Queues the code's email in this transaction and points the challenge at it.
    private func sendCode(
        _ code: String,
        record: ChallengeRecord,
        user: User,
        company: Company,
        clientInfo: ClientInfo,
        in tx: PQTransaction
    ) throws {
        let challenge = record.challenge
        let email: RenderedEmail
        switch challenge.purpose {
        case .login:
            // The "this wasn't me" link of a login challenge's code emails (SPEC §10).
            let notMeLink =
                settings.linkBase(for: company) + "/not-me#token=" + mac.reportToken(companyID: company.id, challengeID: challenge.id)
            email = EmailTemplates.loginCode(
                code: code,
                expiresAt: challenge.codeExpiresAt,
                requestedAt: record.databaseNow,
                client: clientInfo,
                companyName: company.name,
                notMeLink: notMeLink
            )
        case .activation:
            email = EmailTemplates.activationCode(
                code: code,
                expiresAt: challenge.codeExpiresAt,
                requestedAt: record.databaseNow,
                client: clientInfo,
                companyName: company.name
            )
        }
        let emailID = try Outbox.enqueue(
            companyID: company.id,
            challengeID: challenge.id,
            recipient: user.email,
            template: challenge.purpose == .login ? .loginCode : .activationCode,
            email: email,
            codeExpiresAt: challenge.codeExpiresAt,
            in: tx
        )
        try ChallengeStore.setEmail(emailID, challengeID: challenge.id, in: tx)
    }
}
