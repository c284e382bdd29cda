import Foundation
import HTTPTypes
import Hummingbird
import TollgateCore

extension AdminRoutes {
    /// Runs a POST once per `Idempotency-Key` (SPEC §11): a retry with the same key and body
    /// gets the first answer and nothing is done twice; the same key with another body is 422.
    /// `body` is the canonical request body (``ReceivedBody/canonical``), empty for a route
    /// that takes none; a faulty field is thrown by `work`, so it is recorded as the first answer.
    ///
    /// `work` returns its service's result and `render` makes the answer of it: the answer is
    /// written in the service's transaction (``IdempotentWork``), so a failure after the work
    /// committed (the connection lost after COMMIT was sent) cannot release the key for a
    /// retry that would do the work again.
    static func idempotently<Result: Sendable>(
        _ request: Request,
        _ context: AdminContext,
        admin: AdminService,
        body: Data = Data(),
        render: @escaping @Sendable (Result) throws -> Answer,
        _ work: () async throws -> Result
    ) async throws -> Response {
        guard let idempotencyKey = request.headers[HTTPField.Name("Idempotency-Key")!] else {
            return try render(try await work()).response(from: request, context: context)
        }
        guard (1...255).contains(idempotencyKey.utf8.count) else {
            throw APIError.invalidRequest(field: "Idempotency-Key", "The Idempotency-Key header has 1 to 255 characters.")
        }
        let fingerprinted = Data((request.method.rawValue + " " + request.uri.path + "\n").utf8) + body
        switch try await admin.startIdempotent(context.key, idempotencyKey: idempotencyKey, request: fingerprinted) {
        case .replay(let status, let stored):
            var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
            headers[HTTPField.Name("Idempotent-Replayed")!] = "true"
            return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: stored)))
        case .mismatch:
            throw DomainError(.idempotencyKeyReused, "This Idempotency-Key was used with another request.")
        case .inProgress:
            throw DomainError(.idempotencyInProgress, "The first request with this Idempotency-Key is still running.", retryAfter: 1)
        case .proceed(let claim):
            let recording = IdempotentWork(claim: claim) { result in
                guard let result = result as? Result else { return nil }
                let answer = try render(result)
                return (answer.status.code, try answer.encoded())
            }
            do {
                let answer = try render(try await IdempotentWork.$current.withValue(recording) { try await work() })
                // Written and committed with the work: the stored bytes are the answer.
                if let recorded = recording.recorded { return answer.response(data: recorded.body) }
                // Work that wrote nothing in a transaction of its own: its answer is recorded now.
                let data = try answer.encoded()
                try await admin.finishIdempotent(claim, answer: (answer.status.code, data))
                return answer.response(data: data)
            } catch let error as APIError where (400..<500).contains(error.status.code) {
                try await admin.finishIdempotent(claim, answer: (error.status.code, Data(error.body())))
                throw error
            } catch let refusal as DomainError where (400..<500).contains(APIError(refusal).status.code) {
                // A refusal is the first answer too, recorded as the envelope says it.
                let error = APIError(refusal)
                try await admin.finishIdempotent(claim, answer: (error.status.code, Data(error.body())))
                throw error
            } catch {
                // The work's transaction did not commit, or its answer is already stored
                // (then this changes nothing): a retry does the work or gets that answer.
                try? await admin.finishIdempotent(claim, answer: nil)
                throw error
            }
        }
    }
}
