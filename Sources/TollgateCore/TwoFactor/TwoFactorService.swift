public import Foundation
import PQ

/// The company's 2FA setting with the count the confirmation screen shows (SPEC §4
/// `TwoFactor`); TollgateHTTP gives it its JSON shape.
public struct TwoFactorStatus: Sendable, Equatable {
    public let company: Company
    /// Users 2FA applies to (those with dashboard access).
    public let dashboardUsers: Int

    /// The setting of the tenant in scope.
    static func current(company: Company, in tx: PQTransaction) throws -> TwoFactorStatus {
        let rows = try tx.query(
            "two_factor.count_dashboard_users",
            """
            SELECT count(*) AS n FROM users
            WHERE company_id = app_company() AND (role IN ('owner', 'admin') OR dashboard_access)
            """
        )
        return TwoFactorStatus(company: company, dashboardUsers: try rows.first.orThrow().decode("n", as: Int.self))
    }
}

/// Turning 2FA on and off for a company (SPEC §3.1 step 3, §3.3). Each change locks the
/// company's row, is recorded, and is mailed to every owner.
public struct TwoFactorService: DomainService, Sendable {
    let dependencies: DomainDependencies
    var policy: CodePolicy { settings.codes }

    public init(_ dependencies: DomainDependencies) {
        self.dependencies = dependencies
    }

    /// The company's 2FA setting as the security screen shows it.
    public func current(_ principal: Principal) async throws -> TwoFactorStatus {
        guard principal.user.isOwnerOrAdmin else { throw DomainError.forbidden }
        return try await pool.withTenant(principal.company.id) { tx in
            try TwoFactorStatus.current(company: try Company.current(in: tx, lock: false), in: tx)
        }
    }

    /// Turns 2FA on with a verified activation of the caller's (within its use window, once).
    /// Revokes the company's dashboard sessions that were not 2FA-verified, except the
    /// caller's, which the activation verified; tells every owner.
    public func enable(_ principal: Principal, activationID: UUID, confirm: Bool, clientInfo: ClientInfo) async throws -> TwoFactorStatus {
        guard principal.user.isOwnerOrAdmin else { throw DomainError.forbidden }
        guard confirm else { throw DomainError.confirmationRequired }
        let user = principal.user
        let sessionID = principal.session.id
        return try await pool.withTenant(principal.company.id) { tx in
            let company = try Company.current(in: tx, lock: true)
            guard var activation = try ChallengeStore.locate(.activation(id: activationID, userID: user.id), in: tx)?.record else {
                throw DomainError.noSuchActivation
            }
            guard !company.twoFactorEnabled else { throw DomainError.alreadyEnabled }
            guard activation.challenge.use(at: activation.databaseNow) else { throw DomainError.activationNotVerified }
            ChallengeStore.use(activation.challenge, in: tx)
            let updated = try tx.query(
                "two_factor.enable",
                """
                UPDATE companies c SET two_factor_enabled = true, two_factor_changed_at = now(), two_factor_changed_by = \(user.id)
                WHERE id = app_company() AND NOT two_factor_enabled
                RETURNING \(unsafeSQL: Company.columns)
                """
            )
            let changed = try Company(row: try updated.first.orThrow())
            let revoked = try Self.revokeUnverifiedSessions(keeping: sessionID, in: tx)
            Event(
                companyID: company.id,
                type: .twoFactorEnabled,
                userID: user.id,
                email: user.email,
                client: clientInfo,
                detail: ["activation_id": .string(activation.challenge.id.lowercasedString), "sessions_revoked": .int(revoked)]
            )
            .record(in: tx)
            if revoked > 0 {
                Event(
                    companyID: company.id,
                    type: .sessionRevoked,
                    userID: user.id,
                    email: user.email,
                    client: clientInfo,
                    detail: ["reason": .string("two_factor_enabled"), "count": .int(revoked)]
                ).record(in: tx)
            }
            try Self.noticeOwners(enabled: true, actor: user, company: changed, clientInfo: clientInfo, in: tx)
            return try TwoFactorStatus.current(company: changed, in: tx)
        }
    }

    /// Everyone passes through 2FA at their next request: the company's dashboard sessions
    /// that were not 2FA-verified are revoked, except `keeping` (the caller's, verified by
    /// the activation). Answers how many were revoked.
    private static func revokeUnverifiedSessions(keeping sessionID: UUID, in tx: PQTransaction) throws -> Int {
        try tx.query(
            "two_factor.mark_session_verified",
            "UPDATE sessions SET two_factor_verified = true WHERE company_id = app_company() AND id = \(sessionID)"
        )
        return try tx.query(
            "two_factor.revoke_unverified_sessions",
            """
            UPDATE sessions SET revoked_at = now(), revoked_reason = 'two_factor_enabled'
            WHERE company_id = app_company() AND client = 'dashboard' AND NOT two_factor_verified AND revoked_at IS NULL
            RETURNING id
            """
        ).count
    }

    /// Turns 2FA off (owners only, with confirmation and the owner's current password, SPEC
    /// §3.3: a stolen session alone cannot switch the company's protection off). A refused
    /// attempt is recorded.
    public func disable(
        _ principal: Principal,
        confirm: Bool,
        password: String?,
        login: LoginService,
        clientInfo: ClientInfo
    ) async throws -> TwoFactorStatus {
        let user = principal.user
        guard user.role == .owner else {
            try await recordDisableDenied(user, reason: "role", clientInfo: clientInfo)
            throw DomainError.forbidden
        }
        guard confirm else { throw DomainError.confirmationRequired }
        do {
            try await login.reauthenticate(user, password: password)
        } catch let error as DomainError where error.code == .reauthenticationRequired {
            try await recordDisableDenied(user, reason: "wrong_password", clientInfo: clientInfo)
            throw error
        }
        return try await pool.commitThen(in: principal.company.id) { tx in
            _ = try Company.current(in: tx, lock: true)
            let updated = try tx.query(
                "two_factor.disable",
                """
                UPDATE companies c SET two_factor_enabled = false, two_factor_changed_at = now(), two_factor_changed_by = \(user.id)
                WHERE id = app_company() AND two_factor_enabled
                RETURNING \(unsafeSQL: Company.columns)
                """
            )
            guard let row = updated.first else { return .refuse(.alreadyDisabled) }
            let company = try Company(row: row)
            Event(companyID: company.id, type: .twoFactorDisabled, userID: user.id, email: user.email, client: clientInfo).record(in: tx)
            try Self.noticeOwners(enabled: false, actor: user, company: company, clientInfo: clientInfo, in: tx)
            return .answer(try TwoFactorStatus.current(company: company, in: tx))
        }
    }

    private func recordDisableDenied(_ user: User, reason: String, clientInfo: ClientInfo) async throws {
        try await pool.withTenant(user.companyID) { tx in
            Event(
                companyID: user.companyID,
                type: .twoFactorDisableDenied,
                userID: user.id,
                email: user.email,
                client: clientInfo,
                detail: ["role": .string(user.role.rawValue), "reason": .string(reason)]
            ).record(in: tx)
        }
    }

    /// Every owner of the company is told of a change, who made it, when (the database's time
    /// of the change, as stored on the company) and from where.
    private static func noticeOwners(enabled: Bool, actor: User, company: Company, clientInfo: ClientInfo, in tx: PQTransaction) throws {
        let email = EmailTemplates.twoFactorChanged(
            enabled: enabled,
            actorEmail: actor.email,
            at: company.twoFactorChangedAt ?? Date(),
            client: clientInfo,
            companyName: company.name
        )
        for owner in try Company.ownerEmails(in: tx) {
            _ = Outbox.enqueue(
                companyID: company.id,
                challengeID: nil,
                recipient: owner,
                template: enabled ? .twoFactorEnabled : .twoFactorDisabled,
                email: email,
                codeExpiresAt: nil,
                in: tx
            )
        }
    }
}

extension DomainError {
    public static let confirmationRequired = DomainError(.confirmationRequired, "Send \"confirm\": true to do this.")
    public static let alreadyEnabled = DomainError(.alreadyEnabled, "Two-factor authentication is on already.")
    public static let alreadyDisabled = DomainError(.alreadyDisabled, "Two-factor authentication is off already.")
    public static let activationNotVerified = DomainError(
        .activationNotVerified,
        "Verify a fresh activation code first (a verified activation is usable for 10 minutes, once)."
    )
}
