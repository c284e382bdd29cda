public import Foundation
public import PQ

/// What a request tells us about its client, for limits, events and emails.
public struct ClientInfo: Sendable, Equatable {
    public var ip: String
    public var userAgent: String?

    public init(ip: String, userAgent: String?) {
        self.ip = ip
        // Stored and mailed, so bounded.
        self.userAgent = userAgent.map { String($0.prefix(512)) }
    }
}

extension PQPool {
    /// A transaction in one company's scope: row-level security shows only its rows, and the
    /// setting ends with the transaction (safe behind a transaction pooler).
    public func withTenant<T: Sendable>(
        _ companyID: UUID, isolation: PQIsolation = .readCommitted, _ body: @escaping @Sendable (PQTransaction) throws -> T
    ) async throws -> T {
        try await withTransaction(isolation: isolation, settings: [("app.company_id", companyID.uuidString)], body)
    }
}

/// The directory lookup from an email to its account, before the company is known
/// (the `login_lookup` security-definer function: one exact address at a time).
enum LoginDirectory {
    static func find(_ email: EmailAddress, in tx: PQTransaction) throws -> (companyID: UUID, userID: UUID)? {
        let rows = try tx.query(("SELECT company_id, user_id FROM login_lookup(\(email.value))" as PQQuery).named("login.lookup"))
        guard let row = rows.first, let company = try row.decode("company_id", as: UUID?.self),
            let user = try row.decode("user_id", as: UUID?.self)
        else { return nil }
        return (company, user)
    }
}
