import Foundation
import PQ

/// The events of a challenge, named after its purpose.
enum ChallengeEvent {
    /// What happened to a challenge; each flow names it its own way (`login.code_sent`,
    /// `two_factor.activation_started`, …).
    enum Kind {
        case started, codeSent, codeResent, codeFailed, codeExpired, rateLimited, verified, closed

        func type(for purpose: Challenge.Purpose) -> EventType {
            switch (purpose, self) {
            case (.login, .started): .loginChallengeStarted
            case (.login, .codeSent): .loginCodeSent
            case (.login, .codeResent): .loginCodeResent
            case (.login, .codeFailed): .loginCodeFailed
            case (.login, .codeExpired): .loginCodeExpired
            case (.login, .rateLimited): .loginRateLimited
            case (.login, .verified): .loginSucceeded
            case (.login, .closed): .loginChallengeClosed
            case (.activation, .started), (.activation, .codeSent): .activationStarted
            case (.activation, .codeResent): .activationCodeResent
            case (.activation, .codeFailed): .activationCodeFailed
            case (.activation, .codeExpired): .activationCodeExpired
            case (.activation, .rateLimited): .activationRateLimited
            case (.activation, .verified): .activationVerified
            case (.activation, .closed): .activationClosed
            }
        }
    }

    static func record(
        _ what: Kind,
        _ challenge: Challenge,
        user: User,
        clientInfo: ClientInfo?,
        extra: [String: EventValue] = [:],
        in tx: PQTransaction
    ) {
        var detail: [String: EventValue] = [
            "challenge_id": .string(challenge.id.lowercasedString), "resends_remaining": .int(challenge.resendsRemaining),
        ]
        detail.merge(extra) { $1 }
        Event(
            companyID: user.companyID,
            type: what.type(for: challenge.purpose),
            userID: user.id,
            email: user.email,
            client: clientInfo,
            detail: detail
        )
        .record(in: tx)
    }

    /// Closes an open challenge this transaction holds locked, and records that it closed.
    static func close(_ challenge: Challenge, reason: Challenge.CloseReason, user: User, clientInfo: ClientInfo?, in tx: PQTransaction) {
        ChallengeStore.close(challengeID: challenge.id, reason: reason, in: tx)
        record(.closed, challenge, user: user, clientInfo: clientInfo, extra: ["reason": .string(reason.rawValue)], in: tx)
    }

    /// Closes every open challenge of a user for an account event (SPEC §2: a password changed
    /// or reset, a deactivation, a change of role or dashboard access) and records each one's
    /// closing. Answers how many closed.
    @discardableResult
    static func closeAll(
        userID: UUID,
        companyID: UUID,
        email: String,
        reason: Challenge.CloseReason,
        clientInfo: ClientInfo?,
        in tx: PQTransaction
    ) throws -> Int {
        let closed = try ChallengeStore.closingAll(userID: userID, reason: reason, in: tx)
        for (id, purpose) in closed {
            Event(
                companyID: companyID,
                type: Kind.closed.type(for: purpose),
                userID: userID,
                email: email,
                client: clientInfo,
                detail: ["challenge_id": .string(id.lowercasedString), "reason": .string(reason.rawValue)]
            ).record(in: tx)
        }
        return closed.count
    }
}
