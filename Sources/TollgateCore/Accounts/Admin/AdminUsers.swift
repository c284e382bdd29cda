public import Foundation
import PQ

/// The provisioning API's users (SPEC §11): listing, creating (or inviting), changing,
/// deactivating, unlocking and sending a reset link. A user is found by id across
/// companies, then handled in its company's scope.
extension AdminService {
    /// One page of a company's users, by id (`after` the last id of the page before).
    public func users(_ key: APIKey, companyID: UUID, limit: Int, after: UUID?) async throws -> [AdminUser] {
        try Self.scope(key, companyID)
        return try await pool.withTenant(companyID) { tx in
            _ = try Self.company(in: tx)
            return try tx.query(
                "admin_users.page",
                """
                SELECT \(unsafeSQL: AdminUser.columns) FROM users u
                WHERE u.company_id = app_company() AND (\(after)::uuid IS NULL OR u.id > \(after))
                ORDER BY u.id LIMIT \(limit)
                """
            ).map { try AdminUser(row: $0) }
        }
    }

    public func createUser(
        _ key: APIKey,
        companyID: UUID,
        email: String,
        name: String?,
        role: Role,
        dashboardAccess: Bool,
        password: String?,
        clientInfo: ClientInfo
    ) async throws -> AdminUser {
        try Self.scope(key, companyID)
        let (address, hash, name) = try await newUser(email: email, name: name, password: password)
        let (mac, settings) = (self.mac, self.settings)
        return try await Self.refusingDuplicates {
            try await pool.withTenant(companyID) { tx in
                _ = try Self.company(in: tx)
                let id = try UserStore.insert(
                    companyID: companyID,
                    email: address,
                    name: name,
                    role: role,
                    dashboardAccess: dashboardAccess,
                    hash: hash,
                    in: tx
                )
                let user = try Self.user(id, in: tx)
                try Self.record(.adminUserCreated, key: key, user: user, clientInfo: clientInfo, extra: ["role": .string(role.rawValue)], in: tx)
                if password == nil { try Self.invite(user, clientInfo: clientInfo, mac: mac, settings: settings, in: tx) }
                return user
            }
        }
    }

    public func user(_ key: APIKey, id: UUID) async throws -> AdminUser {
        let companyID = try await companyOf(user: id, key: key)
        return try await pool.withTenant(companyID) { tx in try Self.user(id, in: tx) }
    }

    /// Changes a user's name, role or dashboard access. Demoting the last active owner is
    /// `last_owner`, also when two demotions race (the database's trigger decides).
    public func updateUser(
        _ key: APIKey,
        id: UUID,
        name: String?,
        role: Role?,
        dashboardAccess: Bool?,
        clientInfo: ClientInfo
    ) async throws -> AdminUser {
        let companyID = try await companyOf(user: id, key: key)
        // A deactivated user is changed only once reactivated (409 `user_inactive`, as documented).
        let current = try await pool.withTenant(companyID) { tx in try Self.user(id, in: tx) }
        guard current.active else { throw DomainError(.userInactive, "The user is deactivated; reactivate it first.") }
        if let name, name.trimmingSpaces().count > 200 { throw DomainError.nameTooLong }
        return try await Self.refusingLastOwner {
            try await pool.withTenant(companyID) { tx in
                // The access before the change: a user whose role or dashboard access changes
                // loses its open challenges (SPEC §2), so none completes under the old terms.
                let updated = try tx.query(
                    "admin_users.update",
                    """
                    WITH before AS (
                        SELECT role, dashboard_access FROM users WHERE company_id = app_company() AND id = \(id) FOR UPDATE
                    )
                    UPDATE users u SET name = coalesce(\(name?.trimmingSpaces()), u.name), role = coalesce(\(role?.rawValue), u.role),
                        dashboard_access = coalesce(\(dashboardAccess), u.dashboard_access)
                    FROM before b
                    WHERE u.company_id = app_company() AND u.id = \(id)
                    RETURNING u.role IS DISTINCT FROM b.role OR u.dashboard_access IS DISTINCT FROM b.dashboard_access AS access_changed
                    """
                )
                let user = try Self.user(id, in: tx)
                var extra: [String: EventValue] = [:]
                if let role { extra["role"] = .string(role.rawValue) }
                if let dashboardAccess { extra["dashboard_access"] = .bool(dashboardAccess) }
                if try updated.first?.decode("access_changed", as: Bool.self) == true {
                    let closed = try ChallengeEvent.closeAll(
                        userID: id,
                        companyID: companyID,
                        email: user.email,
                        reason: .accessChanged,
                        clientInfo: clientInfo,
                        in: tx
                    )
                    extra["challenges_closed"] = .int(closed)
                }
                try Self.record(.adminUserUpdated, key: key, user: user, clientInfo: clientInfo, extra: extra, in: tx)
                return user
            }
        }
    }

    /// Deactivates (sessions revoked at once; logging in answers like an unknown address) or
    /// reactivates a user.
    public func setActive(_ key: APIKey, id: UUID, active: Bool, clientInfo: ClientInfo) async throws -> AdminUser {
        let companyID = try await companyOf(user: id, key: key)
        return try await Self.refusingLastOwner {
            try await pool.withTenant(companyID) { tx in
                try tx.query(
                    "admin_users.set_active",
                    """
                    UPDATE users SET active = \(active), deactivated_at = CASE WHEN \(active) THEN NULL ELSE coalesce(deactivated_at, now()) END
                    WHERE company_id = app_company() AND id = \(id)
                    """
                )
                let revoked = active ? 0 : try SessionStore.revokeAll(of: id, reason: "deactivated", in: tx)
                // Reactivating does not bring them back: the user is asked for a code again.
                let forgotten = active ? 0 : try RememberedBrowsers.forgetAll(of: id, reason: "deactivated", in: tx)
                let user = try Self.user(id, in: tx)
                // A deactivated user's open challenges close with its sessions (SPEC §2).
                let closed =
                    active
                    ? 0
                    : try ChallengeEvent.closeAll(
                        userID: id,
                        companyID: companyID,
                        email: user.email,
                        reason: .deactivated,
                        clientInfo: clientInfo,
                        in: tx
                    )
                try Self.record(
                    active ? .adminUserReactivated : .adminUserDeactivated,
                    key: key,
                    user: user,
                    clientInfo: clientInfo,
                    extra: active
                        ? [:] : ["sessions_revoked": .int(revoked), "browsers_forgotten": .int(forgotten), "challenges_closed": .int(closed)],
                    in: tx
                )
                return user
            }
        }
    }

    /// Lifts the wrong-code lock of SPEC §5.
    public func unlock(_ key: APIKey, id: UUID, clientInfo: ClientInfo) async throws -> AdminUser {
        let companyID = try await companyOf(user: id, key: key)
        return try await pool.withTenant(companyID) { tx in
            try UserStore.unlock(id, in: tx)
            let user = try Self.user(id, in: tx)
            try Self.record(.adminUserUnlocked, key: key, user: user, clientInfo: clientInfo, in: tx)
            return user
        }
    }

    /// Mails the user a reset link (an active user only).
    public func sendPasswordReset(_ key: APIKey, id: UUID, clientInfo: ClientInfo) async throws {
        let companyID = try await companyOf(user: id, key: key)
        let (mac, settings) = (self.mac, self.settings)
        try await pool.withTenant(companyID) { tx in
            let user = try Self.user(id, in: tx)
            guard user.active else { throw DomainError(.userInactive, "The user is deactivated; reactivate it first.") }
            guard let domainUser = try UserStore.find(id, activeOnly: true, in: tx) else { throw DomainError.notFoundObject }
            try PasswordService.issueResetLink(.reset, for: domainUser, clientInfo: clientInfo, mac: mac, settings: settings, in: tx)
            try Self.record(.adminPasswordResetSent, key: key, user: user, clientInfo: clientInfo, in: tx)
        }
    }

    // MARK: Shared steps

    /// The company of a user, if the key may see it.
    private func companyOf(user id: UUID, key: APIKey) async throws -> UUID {
        let found = try await pool.query("admin.user_company", "SELECT user_company(\(id)) AS company_id")
        guard let companyID = try found.first?.decode("company_id", as: UUID?.self) else { throw DomainError.notFoundObject }
        try Self.scope(key, companyID)
        return companyID
    }

    /// The database refuses to leave a company without an active owner (a trigger, so that
    /// racing requests cannot both pass); that refusal is `last_owner`.
    static func refusingLastOwner<T>(_ work: () async throws -> T) async throws -> T {
        do {
            return try await work()
        } catch let error as PQError where error.constraint == "users_last_owner" {
            throw DomainError(.lastOwner, "A company keeps at least one active owner.")
        }
    }
}
