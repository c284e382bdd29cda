import Foundation
import Logging
import PQ

/// The steps ``MethodService``'s changes share: the password or recent-code check, the user's
/// row lock, the name's rules, a method's row and the notice.
extension MethodService {
    /// SPEC §13's rule for adding and removing: the current password, when one is given, is
    /// checked here (a wrong one is 403 `reauthentication_required` and counts as a failed
    /// password, as every reauthentication does) and the answer is true. Without one it is
    /// false, and the change's own transaction asks for a recent second factor
    /// (``requireRecentSecondFactor(sessionID:in:)``).
    func checkPassword(_ user: User, _ password: String?) async throws -> Bool {
        guard let password else { return false }
        try await login.reauthenticate(user, password: password)
        return true
    }

    /// A dashboard session that passed a second factor in the last 10 minutes: made by a
    /// login's code step (`challenge_id`, `two_factor_verified`) no longer ago than that. A
    /// session made by a password alone, or one only marked verified since (the activation's
    /// own), has passed nothing recently.
    static func requireRecentSecondFactor(sessionID: UUID, in tx: PQTransaction) throws {
        let rows = try tx.query(
            "methods.recent_second_factor",
            """
            SELECT two_factor_verified AND challenge_id IS NOT NULL
                AND created_at > now() - make_interval(secs => \(recentSecondFactor)) AS recent
            FROM sessions WHERE company_id = app_company() AND id = \(sessionID)
            """
        )
        guard try rows.first?.decode("recent", as: Bool.self) == true else { throw DomainError.reauthenticationRequired }
    }

    /// Takes the user's row lock until the transaction ends (the lock logins take).
    static func lockUser(_ userID: UUID, in tx: PQTransaction) throws {
        _ = try tx.query("methods.lock_user", "SELECT 1 FROM users WHERE company_id = app_company() AND id = \(userID) FOR NO KEY UPDATE").first
            .orThrow()
    }

    /// A name as stored: trimmed, 1 to 64 characters (Unicode scalars, as PostgreSQL counts
    /// them), no control characters; otherwise 400 `invalid_request` naming `name`.
    static func checkedName(_ text: String) throws -> String {
        let name = text.trimmingSpaces()
        guard nameLengths.contains(name.unicodeScalars.count),
            !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw DomainError(.invalidRequest, "The field name has 1 to 64 characters and no line breaks.", field: "name")
        }
        return name
    }

    static func method(_ row: PQRow) throws -> SignInMethod {
        guard let kind = SignInMethod.Kind(rawValue: try row.decode("kind")) else {
            throw PQError(kind: .decoding, message: "column kind has an unknown value")
        }
        let id: UUID? = try row.decode("id")
        return SignInMethod(
            id: id?.lowercasedString ?? SignInMethod.emailID,
            kind: kind,
            name: try row.decode("name"),
            createdAt: try row.decode("created_at"),
            lastUsedAt: try row.decode("last_used_at")
        )
    }

    /// The notice of an added or removed method, to the account's own address.
    static func notice(
        _ template: EmailTemplate,
        method: SignInMethod,
        user: User,
        company: Company,
        at: Date,
        clientInfo: ClientInfo,
        in tx: PQTransaction
    ) {
        let email = EmailTemplates.methodChanged(
            added: template == .methodAdded,
            kind: method.kindName,
            name: method.name,
            at: at,
            client: clientInfo,
            companyName: company.name
        )
        _ = Outbox.enqueue(
            companyID: company.id,
            challengeID: nil,
            recipient: user.email,
            template: template,
            email: email,
            codeExpiresAt: nil,
            in: tx
        )
    }
}
