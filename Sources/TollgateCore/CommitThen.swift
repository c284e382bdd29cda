import Foundation
import PQ

/// How the body of ``PQPool/commitThen(in:_:)`` ends. Both cases COMMIT what it wrote.
enum CommitThen<T: Sendable>: Sendable {
    /// Commit, then return the value.
    case answer(T)
    /// Commit (the event, the counted attempt, the closed challenge are kept), then throw.
    case refuse(DomainError)
}

extension PQPool {
    /// A tenant transaction for a refusal that must be remembered (SPEC §5: refusals are
    /// recorded; a wrong code counts). The body returns `.refuse(error)` to commit and then
    /// throw `error`; a `throw` in the body still rolls everything back, as in ``withTenant(_:isolation:_:)``.
    func commitThen<T: Sendable>(in companyID: UUID, _ body: @escaping @Sendable (PQTransaction) throws -> CommitThen<T>) async throws -> T {
        switch try await withTenant(companyID, body) {
        case .answer(let value): return value
        case .refuse(let refusal): throw refusal
        }
    }
}
