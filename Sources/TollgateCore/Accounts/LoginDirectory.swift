import Foundation
import PQ

/// The directory lookup from an email to its account, before the company is known
/// (the `login_lookup` security-definer function: one exact address at a time).
enum LoginDirectory {
    static func find(_ email: EmailAddress, in tx: PQTransaction) throws -> (companyID: UUID, userID: UUID)? {
        try find(email.value, in: tx)
    }

    /// Looks up normalised text (an invalid address simply finds nothing, by the same work).
    static func find(_ address: String, in tx: PQTransaction) throws -> (companyID: UUID, userID: UUID)? {
        try found(in: tx.query(lookup(address)))
    }

    /// The lookup's statement, for a caller that sends it with others (``found(in:)`` reads it).
    static func lookup(_ address: String) -> PQQuery {
        ("SELECT company_id, user_id FROM login_lookup(\(address))" as PQQuery).named("login.lookup")
    }

    /// The lookup that also enters the company it finds (`otherwise` when none): the statements
    /// sent after it in the same transaction see that company's rows.
    static func enter(_ address: String, otherwise: UUID) -> PQQuery {
        ("""
        SELECT l.company_id, l.user_id, set_config('app.company_id', coalesce(l.company_id, \(otherwise))::text, true)
        FROM login_lookup(\(address)) l
        """ as PQQuery).named("login.lookup")
    }

    static func found(in rows: PQRows) throws -> (companyID: UUID, userID: UUID)? {
        guard let row = rows.first, let company = try row.decode("company_id", as: UUID?.self),
            let user = try row.decode("user_id", as: UUID?.self)
        else { return nil }
        return (company, user)
    }
}
