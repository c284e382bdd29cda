public import Foundation

/// The activation challenge of SPEC §3.1: an owner or admin proves its own mailbox before
/// turning 2FA on. An activation is named by its id and exists only for the user who started it.
extension ChallengeService {
    /// Starts an activation: a code to the caller's own address.
    public func startActivation(_ principal: Principal, clientInfo: ClientInfo) async throws -> ChallengeSnapshot {
        guard principal.user.isOwnerOrAdmin else { throw DomainError.forbidden }
        let user = principal.user
        let record = try await pool.commitThen(in: principal.company.id) { tx -> CommitThen<ChallengeRecord> in
            let company = try Company.current(in: tx, lock: true)
            guard !company.twoFactorEnabled else { return .refuse(.alreadyEnabled) }
            let counters = try AccountCounters.lock(user.id, in: tx)
            let clock = try TransactionClock.read(in: tx)
            return start(.activation, user: user, company: company, counters: counters, clock: clock, tokenMAC: nil, clientInfo: clientInfo, in: tx)
        }
        return ChallengeSnapshot(record, emailHint: user.emailHint, delivery: .queued)
    }

    public func verifyActivation(_ principal: Principal, id: UUID, code: String, clientInfo: ClientInfo) async throws -> ChallengeSnapshot {
        guard principal.user.isOwnerOrAdmin else { throw DomainError.forbidden }
        let (companyID, locator) = (principal.company.id, ChallengeLocator.activation(id: id, userID: principal.user.id))
        return try await verify(companyID: companyID, locator: locator, entry: .emailCode(code), clientInfo: clientInfo) { accepted, clientInfo, tx in
            ChallengeEvent.record(.verified, accepted.record.challenge, user: accepted.user, clientInfo: clientInfo, in: tx)
            return ChallengeSnapshot(accepted.record, emailHint: accepted.user.emailHint)
        }
    }

    public func resendActivation(_ principal: Principal, id: UUID, clientInfo: ClientInfo) async throws -> ChallengeSnapshot {
        guard principal.user.isOwnerOrAdmin else { throw DomainError.forbidden }
        let (record, user) = try await resend(
            companyID: principal.company.id,
            locator: .activation(id: id, userID: principal.user.id),
            clientInfo: clientInfo
        )
        return ChallengeSnapshot(record, emailHint: user.emailHint, delivery: .queued)
    }

    /// An activation of the caller's, as it stands, with its latest code email's delivery
    /// (so the dashboard can show whether the email went out).
    public func viewActivation(_ principal: Principal, id: UUID) async throws -> ChallengeSnapshot {
        guard principal.user.isOwnerOrAdmin else { throw DomainError.forbidden }
        let userID = principal.user.id
        return try await pool.withTenant(principal.company.id) { tx in
            guard let located = try ChallengeStore.locate(.activation(id: id, userID: userID), withDelivery: true, in: tx) else {
                throw DomainError.noSuchActivation
            }
            return ChallengeSnapshot(located.record, emailHint: located.user.emailHint)
        }
    }
}

extension DomainError {
    /// An unknown activation, or another user's or company's: the same 404 as every other
    /// activation route (SPEC §4).
    public static let noSuchActivation = DomainError(.challengeNotFound, "There is no such activation.")
}
