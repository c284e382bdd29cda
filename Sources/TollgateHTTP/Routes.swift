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
    let twoFactor: TwoFactorService
    let passwords: PasswordService
    let clientAddress: ClientAddress
}

/// Counts the outcome of an authentication `step` (`tollgate_auth_outcomes_total{step,
/// outcome}`): success, or the refusal's code. The refusal itself goes on to its one answer,
/// in ``ErrorEnvelopeMiddleware``.
func counting<T>(step: String, _ work: () async throws -> T) async throws -> T {
    do {
        let value = try await work()
        Counter(label: "tollgate_auth_outcomes_total", dimensions: [("step", step), ("outcome", "success")]).increment()
        return value
    } catch let error as DomainError {
        Counter(label: "tollgate_auth_outcomes_total", dimensions: [("step", step), ("outcome", error.code.rawValue)]).increment()
        throw error
    }
}

/// `/v1/auth/*` and `/v1/me` (SPEC §3.2, §4).
struct AuthRoutes {
    let services: AppServices

    func register(public group: RouterGroup<TollgateRequestContext>, authenticated: RouterGroup<AuthenticatedContext>) {
        let services = self.services
        group.post("auth/login") { request, context -> Answer in
            let body = try await JSONBody.read(LoginRequest.self, request)
            let info = services.clientAddress.clientInfo(for: request, context: context)
            return try await counting(step: "password") {
                switch try await services.login.login(
                    email: body.email.text,
                    password: body.password.text,
                    client: body.client.value,
                    rememberedBrowser: body.rememberedBrowser?.text,
                    clientInfo: info
                ) {
                case .session(let grant): return Answer(.ok, SessionEnvelope(session: SessionAnswer(grant)))
                case .challenge(let challenge): return Answer(.accepted, ChallengeEnvelope(challenge: ChallengeView(challenge: challenge)))
                }
            }
        }
        group.post("auth/login/verify") { request, context -> Answer in
            let body = try await JSONBody.read(VerifyLoginRequest.self, request)
            let info = services.clientAddress.clientInfo(for: request, context: context)
            return try await counting(step: "login_code") {
                let success = try await services.challenges.verifyLogin(
                    token: body.challengeToken.text,
                    code: body.code.text,
                    from: body.method?.value.factor ?? .email,
                    rememberBrowser: body.rememberBrowser ?? false,
                    clientInfo: info
                )
                return Answer(
                    .ok,
                    SessionEnvelope(
                        session: SessionAnswer(success.grant),
                        rememberedBrowser: success.rememberedBrowser.map(RememberedBrowserAnswer.init)
                    )
                )
            }
        }
        group.post("auth/login/challenge") { request, context -> Answer in
            let body = try await JSONBody.read(ChallengeTokenRequest.self, request)
            let challenge = try await services.challenges.viewLogin(token: body.challengeToken.text)
            return Answer(.ok, ChallengeEnvelope(challenge: ChallengeView(challenge: challenge)))

        }
        group.post("auth/login/resend") { request, context -> Answer in
            let body = try await JSONBody.read(ChallengeTokenRequest.self, request)
            let info = services.clientAddress.clientInfo(for: request, context: context)
            return try await counting(step: "login_resend") {
                let challenge = try await services.challenges.resendLogin(token: body.challengeToken.text, clientInfo: info)
                return Answer(.accepted, ChallengeEnvelope(challenge: ChallengeView(challenge: challenge)))
            }
        }
        group.post("auth/login/email") { request, context -> Answer in
            let body = try await JSONBody.read(ChallengeTokenRequest.self, request)
            let info = services.clientAddress.clientInfo(for: request, context: context)
            return try await counting(step: "login_email") {
                let challenge = try await services.challenges.chooseEmail(token: body.challengeToken.text, clientInfo: info)
                return Answer(.accepted, ChallengeEnvelope(challenge: ChallengeView(challenge: challenge)))
            }
        }
        group.post("auth/password/forgot") { request, context -> Answer in
            let body = try await JSONBody.read(ForgotPasswordRequest.self, request)
            let info = services.clientAddress.clientInfo(for: request, context: context)
            // The same answer for every address (SPEC §10): what happens next is not told.
            try await counting(step: "password_forgot") { try await services.passwords.requestReset(email: body.email.text, clientInfo: info) }
            return Answer(.accepted, EmptyAnswer())
        }
        group.post("auth/password/reset") { request, context -> Response in
            let body = try await JSONBody.read(ResetPasswordRequest.self, request)
            let info = services.clientAddress.clientInfo(for: request, context: context)
            try await counting(step: "password_reset") {
                try await services.passwords.reset(token: body.token.text, newPassword: body.newPassword.text, clientInfo: info)
            }
            return Response(status: .noContent)
        }
        group.post("auth/not-me") { request, context -> Response in
            let body = try await JSONBody.read(NotMeRequest.self, request)
            let info = services.clientAddress.clientInfo(for: request, context: context)
            try await counting(step: "not_me") { try await services.passwords.report(token: body.token.text, clientInfo: info) }
            return Response(status: .noContent)
        }
        authenticated.post("account/password") { request, context -> Response in
            let body = try await JSONBody.read(ChangePasswordRequest.self, request)
            let info = services.clientAddress.clientInfo(for: request, context: context.parent)
            try await counting(step: "password_change") {
                try await services.passwords.change(
                    context.principal,
                    currentPassword: body.currentPassword.text,
                    newPassword: body.newPassword.text,
                    clientInfo: info
                )
            }
            return Response(status: .noContent)
        }
        authenticated.post("auth/logout") { request, context -> Response in
            let info = services.clientAddress.clientInfo(for: request, context: context.parent)
            try await services.login.logout(context.principal, clientInfo: info)
            return Response(status: .noContent)
        }
        authenticated.get("me") { _, context -> Answer in
            Answer(.ok, MeAnswer(context.principal))
        }
    }
}

/// `/v1/company/security/*` (SPEC §3.1, §3.3, §4): dashboard sessions only.
struct SecurityRoutes {
    let services: AppServices

    func register(on group: RouterGroup<DashboardContext>) {
        let services = self.services
        group.get("company/security") { _, context -> Answer in
            let status = try await services.twoFactor.current(context.principal)
            return Answer(.ok, TwoFactorEnvelope(twoFactor: TwoFactorView(status: status)))

        }
        group.get("company/security/two-factor/activation/:id") { _, context -> Answer in
            let id = try activationID(context)
            let activation = try await services.challenges.viewActivation(context.principal, id: id)
            return Answer(.ok, ActivationEnvelope(activation: ActivationView(snapshot: activation)))

        }
        group.post("company/security/two-factor/activation") { request, context -> Answer in
            let info = services.clientAddress.clientInfo(for: request, context: context.parent)
            let activation = try await services.challenges.startActivation(context.principal, clientInfo: info)
            return Answer(.accepted, ActivationEnvelope(activation: ActivationView(snapshot: activation)))

        }
        group.post("company/security/two-factor/activation/:id/resend") { request, context -> Answer in
            let id = try activationID(context)
            let info = services.clientAddress.clientInfo(for: request, context: context.parent)
            let activation = try await services.challenges.resendActivation(context.principal, id: id, clientInfo: info)
            return Answer(.accepted, ActivationEnvelope(activation: ActivationView(snapshot: activation)))

        }
        group.post("company/security/two-factor/activation/:id/verify") { request, context -> Answer in
            let id = try activationID(context)
            let body = try await JSONBody.read(VerifyActivationRequest.self, request)
            let info = services.clientAddress.clientInfo(for: request, context: context.parent)
            return try await counting(step: "activation_code") {
                let activation = try await services.challenges.verifyActivation(context.principal, id: id, code: body.code.text, clientInfo: info)
                return Answer(.ok, ActivationEnvelope(activation: ActivationView(snapshot: activation)))
            }
        }
        group.post("company/security/two-factor/enable") { request, context -> Answer in
            guard context.principal.user.isOwnerOrAdmin else { throw DomainError.forbidden }
            let body = try await JSONBody.read(EnableTwoFactorRequest.self, request)
            guard body.confirm == true else {
                throw DomainError.confirmationRequired
            }
            guard let idText = body.activationID?.text else {
                throw APIError.invalidRequest(field: "activation_id", "The field activation_id is required.")
            }
            guard let id = UUID(uuidString: idText) else { throw DomainError.noSuchActivation }
            let info = services.clientAddress.clientInfo(for: request, context: context.parent)
            let status = try await services.twoFactor.enable(context.principal, activationID: id, confirm: true, clientInfo: info)
            return Answer(.ok, TwoFactorEnvelope(twoFactor: TwoFactorView(status: status)))

        }
        group.post("company/security/two-factor/disable") { request, context -> Answer in
            let body = try await JSONBody.read(DisableTwoFactorRequest.self, request)
            let info = services.clientAddress.clientInfo(for: request, context: context.parent)
            let status = try await services.twoFactor.disable(
                context.principal,
                confirm: body.confirm == true,
                password: body.password?.text,
                login: services.login,
                clientInfo: info
            )
            return Answer(.ok, TwoFactorEnvelope(twoFactor: TwoFactorView(status: status)))

        }
        group.get("company/security/policy") { _, context -> Answer in
            Answer(.ok, PolicyEnvelope(try await services.twoFactor.signInPolicy(context.principal)))
        }
        group.patch("company/security/policy") { request, context -> Answer in
            let body = try await JSONBody.read(PolicyRequest.self, request)
            if let days = body.rememberDays, !SignInPolicy.rememberDaysRange.contains(days) {
                throw APIError.invalidRequest(field: "remember_days", "The field remember_days must be a whole number from 1 to 30.")
            }
            let info = services.clientAddress.clientInfo(for: request, context: context.parent)
            let change = SignInPolicyChange(methods: body.methods?.value, ask: body.ask?.value, rememberDays: body.rememberDays)
            let status = try await services.twoFactor.changeSignInPolicy(
                context.principal,
                change,
                password: body.password?.text,
                login: services.login,
                clientInfo: info
            )
            return Answer(.ok, PolicyEnvelope(status))
        }
        group.get("company/security/events") { request, context -> Answer in
            let limit = try queryInteger(request, "limit", range: 1...100) ?? 50
            let before = try queryInteger(request, "before", range: 1...Int(Int64.max))
            let events = try await EventView.page(for: context.principal, limit: limit, before: before, pool: services.pool)
            return Answer(.ok, EventPage(events: events.map(EventAnswer.init), nextBefore: events.count == limit ? events.last?.id : nil))
        }
    }

    /// A malformed id names nothing that exists: 404, like another company's id.
    private func activationID(_ context: DashboardContext) throws -> UUID {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else {
            throw DomainError.noSuchActivation
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
