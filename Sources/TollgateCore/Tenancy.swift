public import Foundation
public import PQ

extension PQPool {
    /// A transaction in one company's scope: row-level security shows only its rows, and the
    /// setting ends with the transaction (safe behind a transaction pooler). Under an
    /// idempotent request (``IdempotentWork``) its answer is written last, before COMMIT.
    public func withTenant<T: Sendable>(
        _ companyID: UUID,
        isolation: PQIsolation = .readCommitted,
        _ body: @escaping @Sendable (PQTransaction) throws -> T
    ) async throws -> T {
        guard let idempotent = IdempotentWork.current else {
            return try await withTransaction(isolation: isolation, settings: [("app.company_id", companyID.lowercasedString)], body)
        }
        return try await withTransaction(isolation: isolation, settings: [("app.company_id", companyID.lowercasedString)]) { tx in
            let result = try body(tx)
            try idempotent.record(result, in: tx)
            return result
        }
    }

    /// One read in one company's scope, in one round trip (BEGIN, the setting, the statement
    /// and COMMIT sent together).
    public func readTenant(_ companyID: UUID, _ query: PQQuery) async throws -> PQRows {
        try await read(settings: [("app.company_id", companyID.lowercasedString)], query)
    }
}
