import Foundation
import TollgateCore

/// A login challenge as the API shows it (SPEC §4 `Challenge`).
struct ChallengeView {
    let challenge: LoginChallenge

    var json: JSONOut {
        let snapshot = challenge.snapshot
        return .object([
            "token": .string(challenge.token), "code_expires_at": .date(snapshot.codeExpiresAt), "resends_remaining": .int(snapshot.resendsRemaining),
            "attempts_remaining": .int(snapshot.attemptsRemaining), "email_hint": .string(snapshot.emailHint), "delivery": .string(snapshot.delivery),
        ])
    }
}

/// An activation as the API shows it (SPEC §4 `Activation`).
struct ActivationView {
    let snapshot: ChallengeSnapshot

    /// code_sent, verified, used or closed.
    var status: String {
        switch snapshot.stage {
        case .codeSent: "code_sent"
        case .verified: "verified"
        case .used: "used"
        case .closed: "closed"
        }
    }

    var json: JSONOut {
        .object([
            "id": .uuid(snapshot.id), "status": .string(status), "code_expires_at": .date(snapshot.codeExpiresAt),
            "resends_remaining": .int(snapshot.resendsRemaining), "attempts_remaining": .int(snapshot.attemptsRemaining),
            "email_hint": .string(snapshot.emailHint), "delivery": .string(snapshot.delivery),
        ])
    }
}

/// The company's 2FA setting as the API shows it (SPEC §4 `TwoFactor`): when and by whom
/// it was turned on, null while it is off.
struct TwoFactorView {
    let status: TwoFactorStatus

    var json: JSONOut {
        let company = status.company
        let enabled = company.twoFactorEnabled
        return .object([
            "enabled": .bool(enabled), "enabled_at": .date(enabled ? company.twoFactorChangedAt : nil),
            "enabled_by": .uuid(enabled ? company.twoFactorChangedBy : nil), "dashboard_users": .int(status.dashboardUsers),
        ])
    }
}
