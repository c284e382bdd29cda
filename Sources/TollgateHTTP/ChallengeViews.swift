import Foundation
import TollgateCore

/// What a login challenge and an activation both show of their latest code (SPEC §4
/// `Challenge` and `Activation`), written into the object that carries it, not nested.
struct CodeView: Encodable, Sendable {
    let codeExpiresAt: Timestamp
    let resendsRemaining: Int
    let attemptsRemaining: Int
    let emailHint: String
    let delivery: String

    enum CodingKeys: String, CodingKey, CaseIterable {
        case codeExpiresAt = "code_expires_at"
        case resendsRemaining = "resends_remaining"
        case attemptsRemaining = "attempts_remaining"
        case emailHint = "email_hint"
        case delivery
    }
}

extension CodeView {
    init(_ snapshot: ChallengeSnapshot) {
        self.init(
            codeExpiresAt: Timestamp(snapshot.codeExpiresAt),
            resendsRemaining: snapshot.resendsRemaining,
            attemptsRemaining: snapshot.attemptsRemaining,
            emailHint: snapshot.emailHint,
            delivery: snapshot.delivery.rawValue
        )
    }
}

/// A login challenge as the API shows it (SPEC §4 `Challenge`, §13.1): its token, its code,
/// and the methods it offers (strongest first) with the one the screen opens with.
struct ChallengeView: Encodable, Sendable {
    let token: String
    let code: CodeView
    let methods: [String]
    let rememberDays: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case token, methods, method
        case rememberDays = "remember_browser_days"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(token, forKey: .token)
        try container.encode(methods, forKey: .methods)
        try container.encode(methods.first ?? "email", forKey: .method)
        try container.encode(rememberDays, forKey: .rememberDays)
        try code.encode(to: encoder)
    }
}

extension ChallengeView {
    init(challenge: LoginChallenge) {
        self.init(
            token: challenge.token,
            code: CodeView(challenge.snapshot),
            methods: challenge.snapshot.methods.map(\.rawValue),
            rememberDays: challenge.snapshot.rememberDays
        )
    }
}

/// `{"challenge": Challenge}`.
struct ChallengeEnvelope: Encodable, Sendable {
    let challenge: ChallengeView
}

/// An activation as the API shows it (SPEC §4 `Activation`): its id, its stage and its code.
struct ActivationView: Encodable, Sendable {
    let id: ObjectID
    /// code_sent, verified, used or closed.
    let status: String
    let code: CodeView

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, status
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(status, forKey: .status)
        try code.encode(to: encoder)
    }
}

extension ActivationView {
    init(snapshot: ChallengeSnapshot) {
        let status =
            switch snapshot.stage {
            case .codeSent: "code_sent"
            case .verified: "verified"
            case .used: "used"
            case .closed: "closed"
            }
        self.init(id: ObjectID(snapshot.id), status: status, code: CodeView(snapshot))
    }
}

/// `{"activation": Activation}`.
struct ActivationEnvelope: Encodable, Sendable {
    let activation: ActivationView
}

/// The company's 2FA setting as the API shows it (SPEC §4 `TwoFactor`): when and by whom
/// it was turned on, null while it is off.
struct TwoFactorView: Encodable, Sendable {
    let enabled: Bool
    @NullWhenAbsent var enabledAt: Timestamp?
    @NullWhenAbsent var enabledBy: ObjectID?
    let dashboardUsers: Int

    enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled
        case enabledAt = "enabled_at"
        case enabledBy = "enabled_by"
        case dashboardUsers = "dashboard_users"
    }
}

extension TwoFactorView {
    init(status: TwoFactorStatus) {
        let company = status.company
        let enabled = company.twoFactorEnabled
        self.init(
            enabled: enabled,
            enabledAt: enabled ? company.twoFactorChangedAt.map(Timestamp.init) : nil,
            enabledBy: enabled ? company.twoFactorChangedBy.map(ObjectID.init) : nil,
            dashboardUsers: status.dashboardUsers
        )
    }
}

/// `{"two_factor": TwoFactor}`.
struct TwoFactorEnvelope: Encodable, Sendable {
    let twoFactor: TwoFactorView

    enum CodingKeys: String, CodingKey, CaseIterable {
        case twoFactor = "two_factor"
    }
}
