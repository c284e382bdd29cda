import Foundation
import Logging
import PQ

/// What a challenge request checks besides its codes: whether its user may still use it, and
/// that an entry compared in a transaction that then failed to commit is counted all the same.
extension ChallengeService {
    /// Closes the challenge when its user may not use it any more (SPEC §2): deactivated, or
    /// without dashboard access for a login (an activation needs an owner or admin). True when
    /// the request must answer `challenge_closed`.
    func closedForAccount(_ challenge: Challenge, user: User, clientInfo: ClientInfo?, in tx: PQTransaction) -> Bool {
        let reason: Challenge.CloseReason
        if !user.active {
            reason = .deactivated
        } else if !(challenge.purpose == .login ? user.hasDashboardAccess : user.isOwnerOrAdmin) {
            reason = .accessChanged
        } else {
            return false
        }
        if challenge.state == .pending || challenge.state == .verified {
            ChallengeEvent.close(challenge, reason: reason, user: user, clientInfo: clientInfo, in: tx)
        }
        return true
    }

    /// An entry compared in a transaction that may still fail to commit.
    struct ComparedEntry: Sendable {
        let challenge: Challenge
        let user: User
        let matched: Bool
    }

    /// Counts an entry whose own transaction failed after comparing it: against the challenge
    /// (and, for a wrong code, against the account's limits), as the failed transaction would have.
    func countUncommitted(_ entry: ComparedEntry, companyID: UUID) async {
        let limits = self.limits
        do {
            try await pool.withTenant(companyID) { tx in
                // Under the user's lock, as every writer of its counters.
                let counters = try AccountCounters.lock(entry.user.id, in: tx)
                ChallengeStore.countAttempt(entry.challenge, in: tx)
                if !entry.matched {
                    ChallengeStore.countWrong(challengeID: entry.challenge.id, in: tx)
                    _ = CodeLimits.countWrongCode(of: entry.user, counters: counters, limits: limits, in: tx)
                }
            }
            logger.warning("challenge.entry_counted_after_failed_commit", metadata: ["challenge.id": "\(entry.challenge.id)"])
        } catch {
            logger.error("challenge.entry_uncounted", metadata: ["challenge.id": "\(entry.challenge.id)", "error": "\(type(of: error))"])
        }
    }
}
