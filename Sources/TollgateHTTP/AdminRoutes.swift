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
            let received = try await JSONBody.receive(CreateCompanyRequest.self, request)
            let render: @Sendable ((AdminCompany, AdminUser)) -> Answer = { created in
                Answer(.created, CreatedCompanyAnswer(company: AdminCompanyView(created.0), owner: AdminUserView(created.1)))
            }
            return try await Self.idempotently(request, context, admin: admin, body: received.canonical, render: render) {
                let body = try received.get()
                let info = addresses.clientInfo(for: request, context: context.parent)
                return try await admin.createCompany(
                    context.key,
                    name: body.name.text,
                    ownerEmail: body.owner.email.text,
                    ownerName: body.owner.name?.text,
                    ownerPassword: body.owner.password?.text,
                    dashboardURL: body.dashboardURL?.text,
                    clientInfo: info
                )
            }
        }
        group.get("companies/:id") { _, context -> Answer in
            let id = try Self.id(context)
            return Answer(.ok, AdminCompanyEnvelope(company: AdminCompanyView(try await admin.company(context.key, id: id))))
        }
        group.patch("companies/:id") { request, context -> Answer in
            let id = try Self.id(context)
            let body = try await JSONBody.read(UpdateCompanyRequest.self, request)
            let info = addresses.clientInfo(for: request, context: context.parent)
            let company = try await admin.updateCompany(
                context.key,
                id: id,
                name: body.name?.text,
                dashboardURL: body.dashboardURL.map { $0?.text },
                clientInfo: info
            )
            return Answer(.ok, AdminCompanyEnvelope(company: AdminCompanyView(company)))

        }
        group.get("companies/:id/users") { request, context -> Answer in
            let id = try Self.id(context)
            let limit = try queryInteger(request, "limit", range: 1...200) ?? 50
            var after: UUID?
            if let text = request.uri.queryParameters.get("after") {
                guard let value = UUID(uuidString: String(text)) else {
                    throw APIError.invalidRequest(field: "after", "The parameter after must be a user id.")
                }
                after = value
            }
            let users = try await admin.users(context.key, companyID: id, limit: limit, after: after)
            let next = users.count == limit ? users.last.map { ObjectID($0.id) } : nil
            return Answer(.ok, AdminUserPage(users: users.map(AdminUserView.init), nextAfter: next))

        }
        group.post("companies/:id/users") { request, context -> Response in
            let id = try Self.id(context)
            let received = try await JSONBody.receive(CreateUserRequest.self, request)
            let render: @Sendable (AdminUser) -> Answer = { Answer(.created, AdminUserEnvelope(user: AdminUserView($0))) }
            return try await Self.idempotently(request, context, admin: admin, body: received.canonical, render: render) {
                let body = try received.get()
                return try await admin.createUser(
                    context.key,
                    companyID: id,
                    email: body.email.text,
                    name: body.name?.text,
                    role: body.role.value,
                    dashboardAccess: body.dashboardAccess ?? false,
                    password: body.password?.text,
                    clientInfo: addresses.clientInfo(for: request, context: context.parent)
                )
            }
        }
        group.get("users/:id") { _, context -> Answer in
            let id = try Self.id(context)
            return Answer(.ok, AdminUserEnvelope(user: AdminUserView(try await admin.user(context.key, id: id))))
        }
        group.patch("users/:id") { request, context -> Answer in
            let id = try Self.id(context)
            let body = try await JSONBody.read(UpdateUserRequest.self, request)
            let info = addresses.clientInfo(for: request, context: context.parent)
            let user = try await admin.updateUser(
                context.key,
                id: id,
                name: body.name?.text,
                role: body.role?.value,
                dashboardAccess: body.dashboardAccess,
                clientInfo: info
            )
            return Answer(.ok, AdminUserEnvelope(user: AdminUserView(user)))

        }
        let actions: [(String, @Sendable (APIKey, UUID, ClientInfo) async throws -> AdminUser)] = [
            ("deactivate", { @Sendable key, id, info in try await admin.setActive(key, id: id, active: false, clientInfo: info) }),
            ("reactivate", { @Sendable key, id, info in try await admin.setActive(key, id: id, active: true, clientInfo: info) }),
            ("unlock", { @Sendable key, id, info in try await admin.unlock(key, id: id, clientInfo: info) }),
        ]
        for (action, work) in actions {
            group.post(RouterPath("users/:id/\(action)")) { request, context -> Response in
                let id = try Self.id(context)
                let render: @Sendable (AdminUser) -> Answer = { Answer(.ok, AdminUserEnvelope(user: AdminUserView($0))) }
                return try await Self.idempotently(request, context, admin: admin, render: render) {
                    try await work(context.key, id, addresses.clientInfo(for: request, context: context.parent))
                }
            }
        }
        group.post("companies/:id/users/:user_id/reset-methods") { request, context -> Response in
            let companyID = try Self.id(context)
            guard let userID = context.parameters.get("user_id").flatMap(UUID.init(uuidString:)) else { throw DomainError.notFoundObject }
            let render: @Sendable (AdminUser) -> Answer = { Answer(.ok, AdminUserEnvelope(user: AdminUserView($0))) }
            return try await Self.idempotently(request, context, admin: admin, render: render) {
                let info = addresses.clientInfo(for: request, context: context.parent)
                return try await admin.resetMethods(context.key, companyID: companyID, userID: userID, clientInfo: info)
            }
        }
        group.post("users/:id/password-reset") { request, context -> Response in
            let id = try Self.id(context)
            let render: @Sendable (Void) -> Answer = { _ in Answer(.accepted, EmptyAnswer()) }
            return try await Self.idempotently(request, context, admin: admin, render: render) {
                try await admin.sendPasswordReset(context.key, id: id, clientInfo: addresses.clientInfo(for: request, context: context.parent))
            }
        }
    }

    /// A malformed id names nothing: 404 like an unknown or another company's one.
    static func id(_ context: AdminContext) throws -> UUID {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else { throw DomainError.notFoundObject }
        return id
    }
}

/// SPEC §11: a company as the provisioning API shows it.
struct AdminCompanyView: Encodable, Sendable {
    let id: ObjectID
    let name: String
    @NullWhenAbsent var dashboardURL: String?
    let twoFactorEnabled: Bool
    let createdAt: Timestamp

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, name
        case dashboardURL = "dashboard_url"
        case twoFactorEnabled = "two_factor_enabled"
        case createdAt = "created_at"
    }
}

extension AdminCompanyView {
    init(_ company: AdminCompany) {
        self.init(
            id: ObjectID(company.id),
            name: company.name,
            dashboardURL: company.dashboardURL,
            twoFactorEnabled: company.twoFactorEnabled,
            createdAt: Timestamp(company.createdAt)
        )
    }
}

/// SPEC §11: a user as the provisioning API shows it.
struct AdminUserView: Encodable, Sendable {
    let id: ObjectID
    let companyID: ObjectID
    let email: String
    let name: String
    let role: String
    /// Effective access: always true for owners and admins.
    let dashboardAccess: Bool
    let active: Bool
    /// The wrong-code lock of SPEC §5 is on.
    let locked: Bool
    let createdAt: Timestamp
    /// The kinds of method the user signs in with: `email`, then `totp` (and later `passkey`).
    let methods: [String]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id
        case companyID = "company_id"
        case email, name, role
        case dashboardAccess = "dashboard_access"
        case active, locked
        case createdAt = "created_at"
        case methods
    }
}

extension AdminUserView {
    init(_ user: AdminUser) {
        self.init(
            id: ObjectID(user.id),
            companyID: ObjectID(user.companyID),
            email: user.email,
            name: user.name,
            role: user.role.rawValue,
            dashboardAccess: user.dashboardAccess || user.role != .member,
            active: user.active,
            locked: (user.lockedUntil ?? .distantPast) > Date(),
            createdAt: Timestamp(user.createdAt),
            methods: user.methods
        )
    }
}

/// `{"company": AdminCompany}`.
struct AdminCompanyEnvelope: Encodable, Sendable {
    let company: AdminCompanyView
}

/// `{"user": AdminUser}`.
struct AdminUserEnvelope: Encodable, Sendable {
    let user: AdminUserView
}

/// `POST /v1/admin/companies`: the company and its first owner.
struct CreatedCompanyAnswer: Encodable, Sendable {
    let company: AdminCompanyView
    let owner: AdminUserView
}

/// `GET /v1/admin/companies/{id}/users`: a page by id; `next_after` is null on the last.
struct AdminUserPage: Encodable, Sendable {
    let users: [AdminUserView]
    @NullWhenAbsent var nextAfter: ObjectID?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case users
        case nextAfter = "next_after"
    }
}
