public import Foundation
import PQ

/// A person of the company as its owners and admins see them in the dashboard: who they are
/// and which kinds of method they can sign in with (email always).
public struct TeamMember: Sendable, Equatable {
    public let id: UUID
    public let email: String
    public let name: String
    public let role: Role
    public let dashboardAccess: Bool
    /// `email` first, then each other kind the user has confirmed, strongest first.
    public let methods: [SecondFactor]
}

/// Resetting a user's methods (SPEC §13): the way back for someone who lost a phone or a passkey.
/// Every app and passkey goes, confirmed or pending, and under `phishing_resistant` the one email
/// login that leads to adding a passkey is allowed again. The provisioning API does it with a
/// key (``AdminService/resetMethods(_:companyID:userID:clientInfo:)``); owners and admins do it
/// in the dashboard with their password.
enum MethodReset {
    /// Removes the methods of `userID` (whose row lock the caller holds): how many confirmed
    /// ones went, and when.
    static func reset(userID: UUID, in tx: PQTransaction) throws -> (removed: Int, at: Date) {
        let row = try tx.query(
            "methods.reset",
            """
            WITH gone AS (DELETE FROM user_methods WHERE company_id = app_company() AND user_id = \(userID) RETURNING confirmed_at),
            allowed AS (UPDATE users SET passkey_enrollment_used_at = NULL WHERE company_id = app_company() AND id = \(userID))
            SELECT count(*) FILTER (WHERE confirmed_at IS NOT NULL) AS removed, clock_timestamp() AS reset_at FROM gone
            """
        ).first.orThrow()
        return (try row.decode("removed"), try row.decode("reset_at"))
    }
}

extension MethodService {
    /// The company's people with their method kinds, for owners and admins (SPEC §13: they
    /// reset methods); active users only, by email.
    public func team(_ principal: Principal) async throws -> [TeamMember] {
        guard principal.user.isOwnerOrAdmin else { throw DomainError.forbidden }
        let rows = try await pool.readTenant(principal.company.id, Self.teamQuery(nil))
        return try rows.map(Self.member)
    }

    /// Resets another user's methods (event `methods.reset`, notice to the user). Owners may
    /// reset anyone else; admins members and admins, never an owner (who could then be sent
    /// back to an email login an admin might intercept). The caller's own password confirms
    /// it: a stolen session alone cannot strip someone's passkeys.
    public func resetMethods(_ principal: Principal, userID: UUID, password: String?, clientInfo: ClientInfo) async throws -> TeamMember {
        let actor = principal.user
        guard actor.isOwnerOrAdmin, userID != actor.id else { throw DomainError.forbidden }
        guard let password else { throw DomainError.reauthenticationRequired }
        try await login.reauthenticate(actor, password: password)
        let company = principal.company
        return try await pool.withTenant(company.id) { tx in
            // The user's row lock, as every change of its methods takes; none: 404.
            let found = try tx.query("team.lock", "SELECT 1 FROM users WHERE company_id = app_company() AND id = \(userID) FOR NO KEY UPDATE")
            guard !found.isEmpty, let before = try tx.query("team.member", Self.teamQuery(userID)).first.map(Self.member) else {
                throw DomainError.notFoundObject
            }
            if before.role == .owner && actor.role != .owner { throw DomainError.forbidden }
            let (removed, at) = try MethodReset.reset(userID: userID, in: tx)
            Event(
                companyID: company.id,
                type: .methodsReset,
                userID: userID,
                email: before.email,
                client: clientInfo,
                detail: ["removed": .int(removed), "by_user_id": .string(actor.id.lowercasedString), "by_email": .string(actor.email)]
            ).record(in: tx)
            _ = Outbox.enqueue(
                companyID: company.id,
                challengeID: nil,
                recipient: before.email,
                template: .methodsReset,
                email: EmailTemplates.methodsReset(at: at, companyName: company.name),
                codeExpiresAt: nil,
                in: tx
            )
            return TeamMember(
                id: before.id,
                email: before.email,
                name: before.name,
                role: before.role,
                dashboardAccess: before.dashboardAccess,
                methods: [.email]
            )
        }
    }

    /// The active users (or the one `userID`) with the kinds of their confirmed methods.
    private static func teamQuery(_ userID: UUID?) -> PQQuery {
        """
        SELECT u.id, u.email, u.name, u.role, u.dashboard_access,
            ARRAY(SELECT DISTINCT m.kind FROM user_methods m
                  WHERE m.company_id = u.company_id AND m.user_id = u.id AND m.confirmed_at IS NOT NULL) AS kinds
        FROM users u
        WHERE u.company_id = app_company() AND u.active AND (\(userID)::uuid IS NULL OR u.id = \(userID))
        ORDER BY u.email
        """
    }

    private static func member(_ row: PQRow) throws -> TeamMember {
        guard let role = Role(rawValue: try row.decode("role")) else { throw PQError(kind: .decoding, message: "column role has an unknown value") }
        let kinds = Set(try row.decode("kinds", as: [String].self).compactMap(SecondFactor.init(rawValue:)))
        return TeamMember(
            id: try row.decode("id"),
            email: try row.decode("email"),
            name: try row.decode("name"),
            role: role,
            dashboardAccess: try row.decode("dashboard_access"),
            methods: [.email] + kinds.subtracting([.email]).sorted()
        )
    }
}
