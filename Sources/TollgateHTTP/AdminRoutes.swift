import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import PQ
import TollgateCore

/// Finds the API key of a `Bearer tgk_…` token on `/v1/admin/*` (counted against the key's
/// limit); `AdminContext` then guarantees it to the handlers. Session tokens are not keys.
struct APIKeyMiddleware: RouterMiddleware {
    typealias Context = TollgateRequestContext
    let admin: AdminService
    let clientAddress: ClientAddress

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let token = bearerToken(of: request), token.hasPrefix("tgk_") {
            do {
                context.apiKey = try await admin.authenticate(key: token, clientInfo: clientAddress.clientInfo(for: request, context: context))
            } catch let error as DomainError where error.code == .unauthenticated {
                // Left unset: AdminContext refuses the request.
            } catch let error as DomainError {
                throw APIError(error)
            }
        }
        return try await next(request, context)
    }
}

/// A request made with a live API key.
struct AdminContext: ChildRequestContext {
    var coreContext: CoreRequestContextStorage
    let key: APIKey
    let parent: TollgateRequestContext
    var maxUploadSize: Int { parent.maxUploadSize }

    init(context: TollgateRequestContext) throws {
        guard let key = context.apiKey else {
            throw APIError(.unauthorized, "unauthenticated", "A valid API key is required (Authorization: Bearer tgk_…).")
        }
        self.coreContext = context.coreContext
        self.key = key
        self.parent = context
    }
}

/// `/v1/admin/*` (SPEC §11): the provisioning API for the platform that owns the companies.
struct AdminRoutes {
    let admin: AdminService
    let clientAddress: ClientAddress

    func register(on group: RouterGroup<AdminContext>) {
        let (admin, addresses) = (self.admin, self.clientAddress)
        group.post("companies") { request, context -> Response in
            try await Self.idempotently(request, context, admin: admin) { body in
                let owner = try body.object("owner")
                let info = addresses.clientInfo(for: request, context: context.parent)
                let (company, user) = try await admin.createCompany(
                    context.key,
                    name: try body.string("name", maxLength: 200),
                    ownerEmail: try owner.string("email", maxLength: 320),
                    ownerName: try owner.optionalString("name", maxLength: 200),
                    ownerPassword: try owner.optionalString("password", maxLength: 1024),
                    dashboardURL: try body.optionalString("dashboard_url", maxLength: 300),
                    clientInfo: info
                )
                return JSONAnswer(.created, ["company": company.json, "owner": user.json])
            }
        }
        group.get("companies/:id") { _, context -> JSONAnswer in
            let id = try Self.id(context)
            return try await answering { JSONAnswer(.ok, ["company": try await admin.company(context.key, id: id).json]) }
        }
        group.patch("companies/:id") { request, context -> JSONAnswer in
            let id = try Self.id(context)
            let body = try await RequestBody.read(request, context: context.parent)
            let info = addresses.clientInfo(for: request, context: context.parent)
            let name = try body.optionalString("name", maxLength: 200)
            let url: String?? = body.has("dashboard_url") ? .some(try body.optionalString("dashboard_url", maxLength: 300)) : nil
            return try await answering {
                JSONAnswer(.ok, ["company": try await admin.updateCompany(context.key, id: id, name: name, dashboardURL: url, clientInfo: info).json])
            }
        }
        group.get("companies/:id/users") { request, context -> JSONAnswer in
            let id = try Self.id(context)
            let limit = try queryInteger(request, "limit", range: 1...200) ?? 50
            var after: UUID?
            if let text = request.uri.queryParameters.get("after") {
                guard let value = UUID(uuidString: String(text)) else {
                    throw APIError.invalidRequest(field: "after", "The parameter after must be a user id.")
                }
                after = value
            }
            return try await answering {
                let users = try await admin.users(context.key, companyID: id, limit: limit, after: after)
                let next: JSONOut = users.count == limit ? .uuid(users.last?.id) : .null
                return JSONAnswer(.ok, ["users": .array(users.map(\.json)), "next_after": next])
            }
        }
        group.post("companies/:id/users") { request, context -> Response in
            let id = try Self.id(context)
            return try await Self.idempotently(request, context, admin: admin) { body in
                let roleName = try body.string("role", maxLength: 16)
                guard let role = Role(rawValue: roleName) else {
                    throw APIError.invalidRequest(field: "role", "The field role must be owner, admin or member.")
                }
                let user = try await admin.createUser(
                    context.key,
                    companyID: id,
                    email: try body.string("email", maxLength: 320),
                    name: try body.optionalString("name", maxLength: 200),
                    role: role,
                    dashboardAccess: try body.optionalBool("dashboard_access") ?? false,
                    password: try body.optionalString("password", maxLength: 1024),
                    clientInfo: addresses.clientInfo(for: request, context: context.parent)
                )
                return JSONAnswer(.created, ["user": user.json])
            }
        }
        group.get("users/:id") { _, context -> JSONAnswer in
            let id = try Self.id(context)
            return try await answering { JSONAnswer(.ok, ["user": try await admin.user(context.key, id: id).json]) }
        }
        group.patch("users/:id") { request, context -> JSONAnswer in
            let id = try Self.id(context)
            let body = try await RequestBody.read(request, context: context.parent)
            var role: Role?
            if let roleName = try body.optionalString("role", maxLength: 16) {
                guard let parsed = Role(rawValue: roleName) else {
                    throw APIError.invalidRequest(field: "role", "The field role must be owner, admin or member.")
                }
                role = parsed
            }
            let name = try body.optionalString("name", maxLength: 200)
            let access = try body.optionalBool("dashboard_access")
            let info = addresses.clientInfo(for: request, context: context.parent)
            return try await answering {
                JSONAnswer(
                    .ok,
                    ["user": try await admin.updateUser(context.key, id: id, name: name, role: role, dashboardAccess: access, clientInfo: info).json]
                )
            }
        }
        let actions: [(String, @Sendable (APIKey, UUID, ClientInfo) async throws -> AdminUser)] = [
            ("deactivate", { @Sendable key, id, info in try await admin.setActive(key, id: id, active: false, clientInfo: info) }),
            ("reactivate", { @Sendable key, id, info in try await admin.setActive(key, id: id, active: true, clientInfo: info) }),
            ("unlock", { @Sendable key, id, info in try await admin.unlock(key, id: id, clientInfo: info) }),
        ]
        for (action, work) in actions {
            group.post(RouterPath("users/:id/\(action)")) { request, context -> Response in
                let id = try Self.id(context)
                return try await Self.idempotently(request, context, admin: admin, readsBody: false) { _ in
                    JSONAnswer(.ok, ["user": try await work(context.key, id, addresses.clientInfo(for: request, context: context.parent)).json])
                }
            }
        }
        group.post("users/:id/password-reset") { request, context -> Response in
            let id = try Self.id(context)
            return try await Self.idempotently(request, context, admin: admin, readsBody: false) { _ in
                try await admin.sendPasswordReset(context.key, id: id, clientInfo: addresses.clientInfo(for: request, context: context.parent))
                return JSONAnswer(.accepted, [:])
            }
        }
    }

    /// A malformed id names nothing: 404 like an unknown or another company's one.
    static func id(_ context: AdminContext) throws -> UUID {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else { throw APIError(DomainError.notFoundObject) }
        return id
    }

    /// Runs a POST once per `Idempotency-Key` (SPEC §11): a retry with the same key and body
    /// gets the first answer and nothing is done twice; the same key with another body is 422.
    static func idempotently(
        _ request: Request,
        _ context: AdminContext,
        admin: AdminService,
        readsBody: Bool = true,
        _ work: (RequestBody) async throws -> JSONAnswer
    ) async throws -> Response {
        let body = readsBody ? try await RequestBody.read(request, context: context.parent) : RequestBody.empty
        guard let idempotencyKey = request.headers[HTTPField.Name("Idempotency-Key")!] else {
            return try await answering { try await work(body) }.response(from: request, context: context)
        }
        guard (1...255).contains(idempotencyKey.utf8.count) else {
            throw APIError.invalidRequest(field: "Idempotency-Key", "The Idempotency-Key header has 1 to 255 characters.")
        }
        let requestHash = Data(SHA256.hash(data: Data((request.method.rawValue + " " + request.uri.path + "\n").utf8) + body.canonical))
        switch try await answering({ try await admin.startIdempotent(context.key, idempotencyKey: idempotencyKey, requestHash: requestHash) }) {
        case .replay(let status, let stored):
            var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
            headers[HTTPField.Name("Idempotent-Replayed")!] = "true"
            return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: stored)))
        case .mismatch:
            throw APIError(DomainError(.idempotencyKeyReused, "This Idempotency-Key was used with another request."))
        case .inProgress:
            throw APIError(DomainError(.idempotencyInProgress, "The first request with this Idempotency-Key is still running.", retryAfter: 1))
        case .proceed:
            do {
                let answer = try await answering { try await work(body) }
                let data = try answer.encoded()
                try await admin.finishIdempotent(context.key, idempotencyKey: idempotencyKey, answer: (answer.status.code, data))
                return answer.response(data: data)
            } catch let error as APIError where (400..<500).contains(error.status.code) {
                try await admin.finishIdempotent(context.key, idempotencyKey: idempotencyKey, answer: (error.status.code, Data(error.body())))
                throw error
            } catch {
                try? await admin.finishIdempotent(context.key, idempotencyKey: idempotencyKey, answer: nil)
                throw error
            }
        }
    }
}

extension AdminCompany {
    var json: JSONOut {
        .object([
            "id": .uuid(id), "name": .string(name), "dashboard_url": .string(dashboardURL), "two_factor_enabled": .bool(twoFactorEnabled),
            "created_at": .date(createdAt),
        ])
    }
}

extension AdminUser {
    var json: JSONOut {
        .object([
            "id": .uuid(id), "company_id": .uuid(companyID), "email": .string(email), "name": .string(name), "role": .string(role.rawValue),
            "dashboard_access": .bool(dashboardAccess || role != .member), "active": .bool(active),
            "locked": .bool((lockedUntil ?? .distantPast) > Date()), "created_at": .date(createdAt),
        ])
    }
}
