import Foundation
import Hummingbird
import Metrics
import PQ
import TollgateCore

/// What the handlers share.
struct AppServices: Sendable {
    let pool: PQPool
    let login: LoginService
    let challenges: ChallengeService
    let twoFactor: TwoFactorSetting
    let passwords: PasswordService
    let clientAddress: ClientAddress
}

/// Errors a handler throws that are domain refusals become their API answer here; when a
/// `step` is named, its outcome is counted (`tollgate_auth_outcomes_total{step, outcome}`).
func answering<T>(step: String? = nil, _ work: () async throws -> T) async throws -> T {
    do {
        let value = try await work()
        if let step { Counter(label: "tollgate_auth_outcomes_total", dimensions: [("step", step), ("outcome", "success")]).increment() }
        return value
    } catch let error as DomainError {
        if let step { Counter(label: "tollgate_auth_outcomes_total", dimensions: [("step", step), ("outcome", error.code.rawValue)]).increment() }
        throw APIError(error)
    }
}

/// `/v1/auth/*` and `/v1/me` (SPEC §3.2, §4).
struct AuthRoutes {
    let services: AppServices

    func register(public group: RouterGroup<TollgateRequestContext>, authenticated: RouterGroup<AuthenticatedContext>) {
        let services = self.services
        group.post("auth/login") { request, context -> JSONAnswer in
            let body = try await RequestBody.read(request, context: context)
            let email = try body.string("email", maxLength: 320)
            let password = try body.string("password", maxLength: 1024)
            let clientName = try body.string("client", maxLength: 32)
            guard let client = SessionClient(rawValue: clientName) else {
                throw APIError.invalidRequest(field: "client", "The field client must be \"dashboard\" or \"phone_app\".")
            }
            let info = services.clientAddress.clientInfo(for: request, context: context)
            return try await answering(step: "password") {
                switch try await services.login.login(email: email, password: password, client: client, clientInfo: info) {
                case .session(let grant): return JSONAnswer(.ok, ["session": grant.json])
                case .challenge(let challenge): return JSONAnswer(.accepted, ["challenge": ChallengeView(challenge: challenge).json])
                }
            }
        }
        group.post("auth/login/verify") { request, context -> JSONAnswer in
            let body = try await RequestBody.read(request, context: context)
            let token = try body.string("challenge_token", maxLength: 256)
            let code = try body.string("code", maxLength: 64)
            let info = services.clientAddress.clientInfo(for: request, context: context)
            return try await answering(step: "login_code") {
                JSONAnswer(.ok, ["session": try await services.challenges.verifyLogin(token: token, code: code, clientInfo: info).json])
            }
        }
        group.post("auth/login/challenge") { request, context -> JSONAnswer in
            let body = try await RequestBody.read(request, context: context)
            let token = try body.string("challenge_token", maxLength: 256)
            return try await answering {
                let challenge = try await services.challenges.viewLogin(token: token)
                return JSONAnswer(.ok, ["challenge": ChallengeView(challenge: challenge).json])
            }
        }
        group.post("auth/login/resend") { request, context -> JSONAnswer in
            let body = try await RequestBody.read(request, context: context)
            let token = try body.string("challenge_token", maxLength: 256)
            let info = services.clientAddress.clientInfo(for: request, context: context)
            return try await answering(step: "login_resend") {
                let challenge = try await services.challenges.resendLogin(token: token, clientInfo: info)
                return JSONAnswer(.accepted, ["challenge": ChallengeView(challenge: challenge).json])
            }
        }
        group.post("auth/password/forgot") { request, context -> JSONAnswer in
            let body = try await RequestBody.read(request, context: context)
            let email = try body.string("email", maxLength: 320)
            let info = services.clientAddress.clientInfo(for: request, context: context)
            // The same answer for every address (SPEC §10): what happens next is not told.
            try await answering(step: "password_forgot") { try await services.passwords.requestReset(email: email, clientInfo: info) }
            return JSONAnswer(.accepted, [:])
        }
        group.post("auth/password/reset") { request, context -> Response in
            let body = try await RequestBody.read(request, context: context)
            let token = try body.string("token", maxLength: 256)
            let password = try body.string("new_password", maxLength: 1024)
            let info = services.clientAddress.clientInfo(for: request, context: context)
            try await answering(step: "password_reset") {
                try await services.passwords.reset(token: token, newPassword: password, clientInfo: info)
            }
            return Response(status: .noContent)
        }
        group.post("auth/not-me") { request, context -> Response in
            let body = try await RequestBody.read(request, context: context)
            let token = try body.string("token", maxLength: 256)
            let info = services.clientAddress.clientInfo(for: request, context: context)
            try await answering(step: "not_me") { try await services.passwords.report(token: token, clientInfo: info) }
            return Response(status: .noContent)
        }
        authenticated.post("account/password") { request, context -> Response in
            let body = try await RequestBody.read(request, context: context.parent)
            let current = try body.string("current_password", maxLength: 1024)
            let new = try body.string("new_password", maxLength: 1024)
            let info = services.clientAddress.clientInfo(for: request, context: context.parent)
            try await answering(step: "password_change") {
                try await services.passwords.change(context.principal, currentPassword: current, newPassword: new, clientInfo: info)
            }
            return Response(status: .noContent)
        }
        authenticated.post("auth/logout") { request, context -> Response in
            let info = services.clientAddress.clientInfo(for: request, context: context.parent)
            try await answering { try await services.login.logout(context.principal, clientInfo: info) }
            return Response(status: .noContent)
        }
        authenticated.get("me") { _, context -> JSONAnswer in
            let principal = context.principal
            let user = principal.user
            return JSONAnswer(
                .ok,
                [
                    "user": .object([
                        "id": .uuid(user.id), "email": .string(user.email), "name": .string(user.name), "role": .string(user.role.rawValue),
                        "dashboard_access": .bool(user.hasDashboardAccess),
                    ]),
                    "company": .object([
                        "id": .uuid(principal.company.id), "name": .string(principal.company.name),
                        "two_factor_enabled": .bool(principal.company.twoFactorEnabled),
                    ]),
                    "session": .object([
                        "client": .string(principal.session.client.rawValue), "expires_at": .date(principal.session.expiresAt),
                        "two_factor_verified": .bool(principal.session.twoFactorVerified),
                    ]),
                ]
            )
        }
    }
}

/// `/v1/company/security/*` (SPEC §3.1, §3.3, §4): dashboard sessions only.
struct SecurityRoutes {
    let services: AppServices

    func register(on group: RouterGroup<DashboardContext>) {
        let services = self.services
        group.get("company/security") { _, context -> JSONAnswer in
            try await answering {
                let status = try await services.twoFactor.current(context.principal)
                return JSONAnswer(.ok, ["two_factor": TwoFactorView(status: status).json])
            }
        }
        group.get("company/security/two-factor/activation/:id") { _, context -> JSONAnswer in
            let id = try activationID(context)
            return try await answering {
                let activation = try await services.challenges.viewActivation(context.principal, id: id)
                return JSONAnswer(.ok, ["activation": ActivationView(snapshot: activation).json])
            }
        }
        group.post("company/security/two-factor/activation") { request, context -> JSONAnswer in
            let info = services.clientAddress.clientInfo(for: request, context: context.parent)
            return try await answering {
                let activation = try await services.challenges.startActivation(context.principal, clientInfo: info)
                return JSONAnswer(.accepted, ["activation": ActivationView(snapshot: activation).json])
            }
        }
        group.post("company/security/two-factor/activation/:id/resend") { request, context -> JSONAnswer in
            let id = try activationID(context)
            let info = services.clientAddress.clientInfo(for: request, context: context.parent)
            return try await answering {
                let activation = try await services.challenges.resendActivation(context.principal, id: id, clientInfo: info)
                return JSONAnswer(.accepted, ["activation": ActivationView(snapshot: activation).json])
            }
        }
        group.post("company/security/two-factor/activation/:id/verify") { request, context -> JSONAnswer in
            let id = try activationID(context)
            let body = try await RequestBody.read(request, context: context.parent)
            let code = try body.string("code", maxLength: 64)
            let info = services.clientAddress.clientInfo(for: request, context: context.parent)
            return try await answering(step: "activation_code") {
                let activation = try await services.challenges.verifyActivation(context.principal, id: id, code: code, clientInfo: info)
                return JSONAnswer(.ok, ["activation": ActivationView(snapshot: activation).json])
            }
        }
        group.post("company/security/two-factor/enable") { request, context -> JSONAnswer in
            guard context.principal.user.isOwnerOrAdmin else { throw APIError(DomainError.forbidden) }
            let body = try await RequestBody.read(request, context: context.parent)
            guard try body.optionalBool("confirm") == true else {
                throw APIError(DomainError.confirmationRequired)
            }
            let idText = try body.string("activation_id", maxLength: 64)
            guard let id = UUID(uuidString: idText) else { throw APIError(DomainError.noSuchActivation) }
            let info = services.clientAddress.clientInfo(for: request, context: context.parent)
            return try await answering {
                let status = try await services.twoFactor.enable(context.principal, activationID: id, confirm: true, clientInfo: info)
                return JSONAnswer(.ok, ["two_factor": TwoFactorView(status: status).json])
            }
        }
        group.post("company/security/two-factor/disable") { request, context -> JSONAnswer in
            let body = try await RequestBody.read(request, context: context.parent)
            let confirm = try body.optionalBool("confirm") == true
            let password = try body.optionalString("password", maxLength: 1024)
            let info = services.clientAddress.clientInfo(for: request, context: context.parent)
            return try await answering {
                let status = try await services.twoFactor.disable(
                    context.principal,
                    confirm: confirm,
                    password: password,
                    login: services.login,
                    clientInfo: info
                )
                return JSONAnswer(.ok, ["two_factor": TwoFactorView(status: status).json])
            }
        }
        group.get("company/security/events") { request, context -> JSONAnswer in
            let limit = try queryInteger(request, "limit", range: 1...100) ?? 50
            let before = try queryInteger(request, "before", range: 1...Int(Int64.max))
            let events = try await answering {
                try await EventView.page(for: context.principal, limit: limit, before: before, pool: services.pool)
            }
            let next: JSONOut = events.count == limit ? (events.last.map { .int($0.id) } ?? .null) : .null
            return JSONAnswer(.ok, ["events": .array(events.map(\.json)), "next_before": next])
        }
    }

    /// A malformed id names nothing that exists: 404, like another company's id.
    private func activationID(_ context: DashboardContext) throws -> UUID {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else {
            throw APIError(DomainError.noSuchActivation)
        }
        return id
    }
}

/// An optional whole-number query parameter within `range`, else 400 naming it.
func queryInteger(_ request: Request, _ name: String, range: ClosedRange<Int>) throws -> Int? {
    guard let text = request.uri.queryParameters.get(name) else { return nil }
    guard let value = Int(text), range.contains(value) else {
        throw APIError.invalidRequest(field: name, "The parameter \(name) must be a whole number from \(range.lowerBound) to \(range.upperBound).")
    }
    return value
}
