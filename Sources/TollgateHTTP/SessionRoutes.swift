import Foundation
import Hummingbird
import TollgateCore

/// "Where you're logged in" (SPEC §14.1): `/v1/me/sessions*` and `/v1/me/remembered-browsers/*`
/// for any session, and the owner's `/v1/company/security/end-all-sessions` for dashboard
/// sessions only.
///
/// Phone-app sessions may list and end their user's own sessions: users without dashboard
/// access have nothing else, and a user who lost a phone must be able to end its session from
/// the other one. Ending every session of the company is an owner's dashboard action, as
/// disabling 2FA is.
struct SessionRoutes {
    let services: AppServices
    let sessions: SessionList

    func register(authenticated: RouterGroup<AuthenticatedContext>, dashboard: RouterGroup<DashboardContext>) {
        let (services, sessions) = (self.services, self.sessions)
        authenticated.get("me/sessions") { _, context -> Answer in
            let listing = try await sessions.list(context.principal)
            return Answer(.ok, SessionListAnswer(listing.sessions, listing.rememberedBrowsers))
        }
        authenticated.delete("me/sessions/:id") { request, context -> Response in
            let id = try objectID(context, DomainError.noSuchSession)
            let info = services.clientAddress.clientInfo(for: request, context: context.parent)
            try await sessions.end(context.principal, sessionID: id, clientInfo: info)
            return Response(status: .noContent)
        }
        authenticated.post("me/sessions/end-others") { request, context -> Answer in
            let info = services.clientAddress.clientInfo(for: request, context: context.parent)
            let ended = try await sessions.endOthers(context.principal, clientInfo: info)
            return Answer(.ok, EndedSessionsAnswer(ended: ended))
        }
        authenticated.delete("me/remembered-browsers/:id") { request, context -> Response in
            let id = try objectID(context, DomainError.noSuchRememberedBrowser)
            let info = services.clientAddress.clientInfo(for: request, context: context.parent)
            try await sessions.forgetBrowser(context.principal, id: id, clientInfo: info)
            return Response(status: .noContent)
        }
        dashboard.post("company/security/end-all-sessions") { request, context -> Answer in
            // The role first: a member's request is refused before its body or password counts.
            guard context.principal.user.role == .owner else { throw DomainError.forbidden }
            let body = try await JSONBody.read(EndAllSessionsRequest.self, request)
            let info = services.clientAddress.clientInfo(for: request, context: context.parent)
            let ended = try await sessions.endAllInCompany(
                context.principal,
                password: body.password?.text,
                login: services.login,
                clientInfo: info
            )
            return Answer(.ok, EndedAllSessionsAnswer(sessionsEnded: ended.sessionsEnded, browsersForgotten: ended.browsersForgotten))
        }
    }

    /// The `{id}` of the path; a malformed one names nothing that exists: 404, like another
    /// company's id.
    private func objectID<Context: RequestContext>(_ context: Context, _ notFound: DomainError) throws -> UUID {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else { throw notFound }
        return id
    }
}

/// `POST /v1/company/security/end-all-sessions`: a missing `password` is 403
/// `reauthentication_required` (the service's), as for disabling 2FA.
struct EndAllSessionsRequest: RequestBody {
    let password: BoundedText<MaxLength.Password>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case password
    }
}

/// `GET /v1/me/sessions`.
struct SessionListAnswer: Encodable, Sendable {
    let sessions: [ListedSessionAnswer]
    let rememberedBrowsers: [RememberedBrowserAnswer]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case sessions
        case rememberedBrowsers = "remembered_browsers"
    }

    struct ListedSessionAnswer: Encodable, Sendable {
        let id: ObjectID
        let client: String
        let browser: String
        @NullWhenAbsent var ip: String?
        let createdAt: Timestamp
        let lastUsedAt: Timestamp
        let twoFactorVerified: Bool
        let current: Bool

        enum CodingKeys: String, CodingKey, CaseIterable {
            case id, client, browser, ip
            case createdAt = "created_at"
            case lastUsedAt = "last_used_at"
            case twoFactorVerified = "two_factor_verified"
            case current
        }
    }

    struct RememberedBrowserAnswer: Encodable, Sendable {
        let id: ObjectID
        let browser: String
        let createdAt: Timestamp
        @NullWhenAbsent var lastUsedAt: Timestamp?
        let expiresAt: Timestamp

        enum CodingKeys: String, CodingKey, CaseIterable {
            case id, browser
            case createdAt = "created_at"
            case lastUsedAt = "last_used_at"
            case expiresAt = "expires_at"
        }
    }
}

extension SessionListAnswer {
    init(_ sessions: [ListedSession], _ browsers: [RememberedBrowser]) {
        self.init(
            sessions: sessions.map { session in
                ListedSessionAnswer(
                    id: ObjectID(session.id),
                    client: session.client.rawValue,
                    browser: session.browser,
                    ip: session.ip,
                    createdAt: Timestamp(session.createdAt),
                    lastUsedAt: Timestamp(session.lastUsedAt),
                    twoFactorVerified: session.twoFactorVerified,
                    current: session.current
                )
            },
            rememberedBrowsers: browsers.map { browser in
                RememberedBrowserAnswer(
                    id: ObjectID(browser.id),
                    browser: browser.browser,
                    createdAt: Timestamp(browser.createdAt),
                    lastUsedAt: browser.lastUsedAt.map(Timestamp.init),
                    expiresAt: Timestamp(browser.expiresAt)
                )
            }
        )
    }
}

/// `POST /v1/me/sessions/end-others`.
struct EndedSessionsAnswer: Encodable, Sendable {
    let ended: Int
}

/// `POST /v1/company/security/end-all-sessions`.
struct EndedAllSessionsAnswer: Encodable, Sendable {
    let sessionsEnded: Int
    let browsersForgotten: Int

    enum CodingKeys: String, CodingKey, CaseIterable {
        case sessionsEnded = "sessions_ended"
        case browsersForgotten = "browsers_forgotten"
    }
}
