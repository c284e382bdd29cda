import Foundation
import Hummingbird
import TollgateCore

/// `/v1/me/methods*` (SPEC §13.1): the caller's sign-in methods, adding an authenticator app
/// and removing a method. Dashboard sessions only.
struct MethodRoutes {
    let methods: MethodService
    let clientAddress: ClientAddress

    func register(on group: RouterGroup<DashboardContext>) {
        let (methods, addresses) = (self.methods, self.clientAddress)
        group.get("me/methods") { _, context -> Answer in
            Answer(.ok, MethodsEnvelope(methods: try await methods.list(context.principal).map(MethodView.init)))
        }
        group.post("me/methods/totp") { request, context -> Answer in
            let body = try await JSONBody.read(StartTOTPRequest.self, request)
            let info = addresses.clientInfo(for: request, context: context.parent)
            let enrollment = try await methods.startTOTP(context.principal, name: body.name.text, password: body.password?.text, clientInfo: info)
            guard let svg = QRCodeSVG.svg(for: enrollment.otpauthURI, title: "QR code to scan with your authenticator app") else {
                // The URI is bounded well below what a QR code holds (OTPAuthURI); never here.
                throw APIError.internalError
            }
            return Answer(
                .created,
                EnrollmentEnvelope(
                    enrollment: EnrollmentView(id: ObjectID(enrollment.id), secret: enrollment.secret, otpauthURI: enrollment.otpauthURI, qrSVG: svg)
                )
            )
        }
        group.post("me/methods/totp/:id/confirm") { request, context -> Answer in
            let id = try Self.enrollmentID(context)
            let body = try await JSONBody.read(ConfirmTOTPRequest.self, request)
            let info = addresses.clientInfo(for: request, context: context.parent)
            return try await counting(step: "method_confirm") {
                let method = try await methods.confirmTOTP(context.principal, id: id, code: body.code.text, clientInfo: info)
                return Answer(.ok, MethodEnvelope(method: MethodView(method)))
            }
        }
        group.delete("me/methods/:id") { request, context -> Response in
            let id = context.parameters.get("id") ?? ""
            let body = try await OptionalBody.read(PasswordConfirmation.self, request)
            let info = addresses.clientInfo(for: request, context: context.parent)
            try await methods.remove(context.principal, id: id, password: body?.password?.text, clientInfo: info)
            return Response(status: .noContent)
        }
    }

    /// A malformed id names nothing: 404, like another user's or company's.
    private static func enrollmentID(_ context: DashboardContext) throws -> UUID {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else { throw DomainError.notFoundObject }
        return id
    }
}

// MARK: - Requests

extension MaxLength {
    /// A method's name: 1 to 64 characters once trimmed (the service checks the rest).
    enum MethodName: TextLimit { static let maxLength = 64 }
}

/// `POST /v1/me/methods/totp`.
struct StartTOTPRequest: RequestBody {
    let name: BoundedText<MaxLength.MethodName>
    let password: BoundedText<MaxLength.Password>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, password
    }
}

/// `POST /v1/me/methods/totp/{id}/confirm`.
struct ConfirmTOTPRequest: RequestBody {
    let code: BoundedText<MaxLength.Code>

    enum CodingKeys: String, CodingKey, CaseIterable {
        case code
    }
}

/// A body that only confirms with the current password, where a recent second factor may do
/// instead (SPEC §13.1): `DELETE /v1/me/methods/{id}`, `POST /v1/me/methods/passkeys/options`
/// and `POST /v1/company/users/{id}/reset-methods` (which requires it).
struct PasswordConfirmation: RequestBody {
    let password: BoundedText<MaxLength.Password>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case password
    }
}

// MARK: - Answers

/// SPEC §13.1 `Method`.
struct MethodView: Encodable, Sendable {
    let id: String
    let kind: String
    let name: String
    let createdAt: Timestamp
    @NullWhenAbsent var lastUsedAt: Timestamp?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, kind, name
        case createdAt = "created_at"
        case lastUsedAt = "last_used_at"
    }
}

extension MethodView {
    init(_ method: SignInMethod) {
        self.init(
            id: method.id,
            kind: method.kind.rawValue,
            name: method.name,
            createdAt: Timestamp(method.createdAt),
            lastUsedAt: method.lastUsedAt.map(Timestamp.init)
        )
    }
}

/// `{"methods": [Method]}`.
struct MethodsEnvelope: Encodable, Sendable {
    let methods: [MethodView]
}

/// `{"method": Method}`.
struct MethodEnvelope: Encodable, Sendable {
    let method: MethodView
}

/// A started enrollment: its secret is in this answer and never again.
struct EnrollmentView: Encodable, Sendable {
    let id: ObjectID
    let secret: String
    let otpauthURI: String
    let qrSVG: String

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, secret
        case otpauthURI = "otpauth_uri"
        case qrSVG = "qr_svg"
    }
}

/// `{"enrollment": …}`.
struct EnrollmentEnvelope: Encodable, Sendable {
    let enrollment: EnrollmentView
}
