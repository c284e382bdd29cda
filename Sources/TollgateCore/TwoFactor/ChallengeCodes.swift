import Foundation
import Logging
import PQ

/// Issuing codes: a new challenge with its first code, a new code for a challenge, and the
/// email that carries each, queued in the same transaction (SPEC §2).
extension ChallengeService {
    /// Starts a challenge for `user` unless an account limit refuses it (the refusal is
    /// recorded, so the transaction commits either way), deciding on `counters` read under the
    /// user's row lock at `clock`. Every write goes with the COMMIT. A login that offers
    /// `methods` besides email mails nothing until the user picks email (SPEC §13).
    func start(
        _ purpose: Challenge.Purpose,
        user: User,
        company: Company,
        counters: AccountCounters,
        clock: TransactionClock,
        tokenMAC: Data?,
        methods: [SecondFactor] = [.email],
        clientInfo: ClientInfo,
        in tx: PQTransaction
    ) -> CommitThen<ChallengeRecord> {
        if let refusal = CodeLimits.refuseNewChallenge(
            user: user,
            counters: counters,
            purpose: purpose,
            limits: limits,
            clientInfo: clientInfo,
            at: clock.transactionStart,
            in: tx
        ) {
            return .refuse(refusal)
        }
        // One open challenge per user and purpose: a new one replaces the old.
        ChallengeStore.replace(userID: user.id, purpose: purpose, in: tx)
        let id = UUID()
        let code = SecureRandom.sixDigitCode()
        let created = ChallengeRecord(
            inserting: id,
            companyID: company.id,
            userID: user.id,
            purpose: purpose,
            codeMAC: mac.code(code, challengeID: id),
            policy: policy,
            methods: methods,
            rememberDays: purpose == .login ? company.policy.rememberFor : nil,
            clock: clock
        )
        // A login challenge's "this wasn't me" link works for 24 hours (SPEC §10).
        let reportMAC = purpose == .login ? mac.token(mac.reportToken(companyID: company.id, challengeID: id)) : nil
        var record = created
        ChallengeStore.create(record, tokenMAC: tokenMAC, reportMAC: reportMAC, clientInfo: clientInfo, in: tx)
        guard methods == [.email] else {
            // The code made above is never sent: email, if picked, gets a code of its own.
            ChallengeEvent.record(
                .started,
                record.challenge,
                user: user,
                clientInfo: clientInfo,
                extra: ["methods": .string(methods.map(\.rawValue).joined(separator: ","))],
                in: tx
            )
            return .answer(record)
        }
        record.challenge.mailed(sendCode(code, record: record, user: user, company: company, clientInfo: clientInfo, in: tx))
        ChallengeEvent.record(.codeSent, record.challenge, user: user, clientInfo: clientInfo, in: tx)
        return .answer(record)
    }

    /// Mails the first code of a login that offered other methods, once the user picks email
    /// (SPEC §13): a first send, not a resend. Asked again, it answers the challenge as it
    /// stands and sends nothing more.
    func sendFirstEmail(companyID: UUID, locator: ChallengeLocator, clientInfo: ClientInfo) async throws -> (ChallengeRecord, User) {
        try await pool.commitThen(in: companyID) { tx in
            // With the delivery: asked again, it answers the email's state.
            guard let located = try ChallengeStore.locate(locator, withDelivery: true, withCompany: true, in: tx) else {
                return .refuse(.challengeNotFound)
            }
            return try firstEmail(located, clientInfo: clientInfo, in: tx)
        }
    }

    /// ``sendFirstEmail(companyID:locator:clientInfo:)`` on a challenge read under its locks.
    private func firstEmail(_ located: LocatedChallenge, clientInfo: ClientInfo, in tx: PQTransaction) throws -> CommitThen<(ChallengeRecord, User)> {
        let (record, user) = (located.record, located.user)
        guard let company = located.company else { return .refuse(.challengeNotFound) }
        if try closedBeforeSending(located, clientInfo: clientInfo, in: tx) { return .refuse(.challengeClosed) }
        var challenge = record.challenge
        switch challenge.requestFirstEmail(at: record.databaseNow) {
        case .send:
            break
        case .alreadySent:
            return .answer((record, user))
        case .close(let reason):
            ChallengeEvent.close(challenge, reason: reason, user: user, clientInfo: clientInfo, in: tx)
            return .refuse(.challengeClosed)
        case .refuse(let refusal):
            return .refuse(DomainError(refusal))
        }
        let code = SecureRandom.sixDigitCode()
        challenge.firstCodeIssued(
            codeHash: mac.code(code, challengeID: challenge.id),
            expiresAt: record.transactionStart.addingDatabaseSeconds(policy.ttl),
            at: record.databaseNow
        )
        ChallengeStore.sendFirst(challenge, in: tx)
        var updated = record
        updated.challenge = challenge
        updated.challenge.mailed(sendCode(code, record: updated, user: user, company: company, clientInfo: clientInfo, in: tx))
        ChallengeEvent.record(.codeSent, challenge, user: user, clientInfo: clientInfo, in: tx)
        return .answer((updated, user))
    }

    /// Sends a new code for the challenge `locator` names (its token or id stays the same), in
    /// two round trips: the challenge and its user are read and locked, then the decision's
    /// writes go with the COMMIT.
    func resend(companyID: UUID, locator: ChallengeLocator, clientInfo: ClientInfo) async throws -> (ChallengeRecord, User) {
        try await pool.commitThen(in: companyID) { tx in
            guard let located = try ChallengeStore.locateWithCompany(locator, in: tx), let company = located.company else {
                return .refuse(.challengeNotFound)
            }
            let (record, user) = (located.record, located.user)
            // No code mailed yet (the login offered other methods): this is the first send.
            if !record.challenge.emailSent { return try firstEmail(located, clientInfo: clientInfo, in: tx) }
            if try closedBeforeSending(located, clientInfo: clientInfo, in: tx) { return .refuse(.challengeClosed) }
            var challenge = record.challenge
            switch challenge.requestResend(at: record.databaseNow, cooldown: policy.resendCooldown) {
            case .send:
                break
            case .close(let reason):
                ChallengeEvent.close(challenge, reason: reason, user: user, clientInfo: clientInfo, in: tx)
                return .refuse(.challengeClosed)
            case .refuseForLimit(let refusal):
                let error = DomainError(refusal)
                Event(
                    companyID: user.companyID,
                    type: challenge.purpose == .login ? .loginRateLimited : .twoFactorRateLimited,
                    userID: user.id,
                    email: user.email,
                    client: clientInfo,
                    detail: ["challenge_id": .string(challenge.id.lowercasedString), "limit": .string(error.code.rawValue)]
                )
                .record(in: tx)
                return .refuse(error)
            case .refuse(let refusal):
                return .refuse(DomainError(refusal))
            }
            let code = SecureRandom.sixDigitCode()
            challenge.codeReissued(
                codeHash: mac.code(code, challengeID: challenge.id),
                expiresAt: record.transactionStart.addingDatabaseSeconds(policy.ttl),
                at: record.databaseNow
            )
            ChallengeStore.resend(challenge, cooldown: policy.resendCooldown, in: tx)
            var updated = record
            updated.challenge = challenge
            updated.challenge.mailed(sendCode(code, record: updated, user: user, company: company, clientInfo: clientInfo, in: tx))
            ChallengeEvent.record(.codeResent, challenge, user: user, clientInfo: clientInfo, in: tx)
            return .answer((updated, user))
        }
    }

    /// Whether no code may go out for the challenge, which closes if it was open: its account
    /// can no longer use it (``closedForAccount(_:user:clientInfo:in:)``), or is past the hourly
    /// wrong-code limit (SPEC §5: no new code for a challenge the last wrong code left open).
    private func closedBeforeSending(_ located: LocatedChallenge, clientInfo: ClientInfo, in tx: PQTransaction) throws -> Bool {
        let (record, user) = (located.record, located.user)
        if closedForAccount(record.challenge, user: user, clientInfo: clientInfo, in: tx) { return true }
        guard let refusal = CodeLimits.wrongCodesRefusal(of: user, counters: located.counters, limits: limits, at: record.transactionStart, in: tx)
        else { return false }
        try CodeLimits.closeForWrongCodeLimit(of: user, refusal: refusal, clientInfo: clientInfo, in: tx)
        return true
    }

    /// Queues the code's email in this transaction and points the challenge at it; answers the
    /// email's id.
    private func sendCode(
        _ code: String,
        record: ChallengeRecord,
        user: User,
        company: Company,
        clientInfo: ClientInfo,
        in tx: PQTransaction
    ) -> UUID {
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
        let emailID = Outbox.enqueue(
            companyID: company.id,
            challengeID: challenge.id,
            recipient: user.email,
            template: challenge.purpose == .login ? .loginCode : .activationCode,
            email: email,
            codeExpiresAt: challenge.codeExpiresAt,
            in: tx
        )
        ChallengeStore.setEmail(emailID, challengeID: challenge.id, in: tx)
        return emailID
    }
}
