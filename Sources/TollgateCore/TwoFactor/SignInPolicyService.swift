public import Foundation
import PQ

/// The company's sign-in policy as the Security tab shows it (SPEC §13.1 `policy`).
public struct SignInPolicyStatus: Sendable, Equatable {
    public let policy: SignInPolicy
    /// Users with dashboard access who have no passkey (whom `phishing_resistant` would send
    /// to enrol one).
    public let usersWithoutPasskey: Int

    public init(policy: SignInPolicy, usersWithoutPasskey: Int) {
        self.policy = policy
        self.usersWithoutPasskey = usersWithoutPasskey
    }

    static func current(_ policy: SignInPolicy, in tx: PQTransaction) throws -> SignInPolicyStatus {
        let rows = try tx.query(
            "policy.users_without_passkey",
            """
            SELECT count(*) AS n FROM users u
            WHERE u.company_id = app_company() AND u.active AND (u.role IN ('owner', 'admin') OR u.dashboard_access)
              AND NOT EXISTS (SELECT 1 FROM user_methods m WHERE m.company_id = u.company_id AND m.user_id = u.id
                              AND m.kind = 'passkey' AND m.confirmed_at IS NOT NULL)
            """
        )
        return SignInPolicyStatus(policy: policy, usersWithoutPasskey: try rows.first.orThrow().decode("n", as: Int.self))
    }
}

/// A change of the policy: the fields a request set (the rest stay as they are).
public struct SignInPolicyChange: Sendable {
    public var methods: SignInPolicy.Methods?
    public var ask: SignInPolicy.Ask?
    public var rememberDays: Int?

    public init(methods: SignInPolicy.Methods? = nil, ask: SignInPolicy.Ask? = nil, rememberDays: Int? = nil) {
        self.methods = methods
        self.ask = ask
        self.rememberDays = rememberDays
    }

    func applied(to policy: SignInPolicy) -> SignInPolicy {
        SignInPolicy(methods: methods ?? policy.methods, ask: ask ?? policy.ask, rememberDays: rememberDays ?? policy.rememberDays)
    }
}

/// Which second factors count and how often to ask (SPEC §13, §14): owners and admins read
/// it, only owners change it, with their current password. A change is recorded, mailed to
/// every owner, and forgets every remembered browser of the company (SPEC §14).
extension TwoFactorService {
    public func signInPolicy(_ principal: Principal) async throws -> SignInPolicyStatus {
        guard principal.user.isOwnerOrAdmin else { throw DomainError.forbidden }
        return try await pool.withTenant(principal.company.id) { tx in
            try SignInPolicyStatus.current(try Company.current(in: tx, lock: false).policy, in: tx)
        }
    }

    public func changeSignInPolicy(
        _ principal: Principal,
        _ change: SignInPolicyChange,
        password: String?,
        login: LoginService,
        clientInfo: ClientInfo
    ) async throws -> SignInPolicyStatus {
        let user = principal.user
        guard user.role == .owner else { throw DomainError.forbidden }
        try await login.reauthenticate(user, password: password)
        return try await pool.withTenant(principal.company.id) { tx in
            let company = try Company.current(in: tx, lock: true)
            let policy = change.applied(to: company.policy)
            guard policy != company.policy else { return try SignInPolicyStatus.current(policy, in: tx) }
            let changedAt = try tx.query(
                "policy.change",
                """
                UPDATE companies SET methods_policy = \(policy.methods.rawValue), ask_policy = \(policy.ask.rawValue),
                    remember_days = \(policy.rememberDays), policy_changed_at = now(), policy_changed_by = \(user.id)
                WHERE id = app_company()
                RETURNING policy_changed_at
                """
            ).first.orThrow().decode("policy_changed_at", as: Date.self)
            let forgotten = try RememberedBrowsers.forgetAllInCompany(reason: "policy_changed", in: tx)
            Event(
                companyID: company.id,
                type: .policyChanged,
                userID: user.id,
                email: user.email,
                client: clientInfo,
                detail: [
                    "methods": .string(policy.methods.rawValue), "ask": .string(policy.ask.rawValue), "remember_days": .int(policy.rememberDays),
                    "previous_methods": .string(company.policy.methods.rawValue), "previous_ask": .string(company.policy.ask.rawValue),
                    "browsers_forgotten": .int(forgotten),
                ]
            ).record(in: tx)
            let email = EmailTemplates.policyChanged(policy, actorEmail: user.email, at: changedAt, client: clientInfo, companyName: company.name)
            for owner in try Company.ownerEmails(in: tx) {
                _ = Outbox.enqueue(
                    companyID: company.id,
                    challengeID: nil,
                    recipient: owner,
                    template: .policyChanged,
                    email: email,
                    codeExpiresAt: nil,
                    in: tx
                )
            }
            return try SignInPolicyStatus.current(policy, in: tx)
        }
    }
}
