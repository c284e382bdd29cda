import Foundation
import Hummingbird
import PQ
import TollgateCore

/// A JSON answer: a status and an `Encodable` body. Keys are sorted, so the same answer is
/// the same bytes (an idempotent POST replays them).
struct Answer: ResponseGenerator {
    let status: HTTPResponse.Status
    let body: any Encodable & Sendable

    init(_ status: HTTPResponse.Status = .ok, _ body: any Encodable & Sendable) {
        self.status = status
        self.body = body
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        response(data: try encoded())
    }

    /// The body as sent (kept by the provisioning API to replay an idempotent POST).
    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(body)
    }

    func response(data: Data) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// An optional answer value written as JSON `null` rather than left out: SPEC §4 shows
/// absent values as null, never as missing keys.
@propertyWrapper
struct NullWhenAbsent<Value: Encodable & Sendable>: Encodable, Sendable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

/// A time in an answer: `2026-12-02T05:16:09Z`, RFC 3339 UTC with whole seconds.
struct Timestamp: Encodable, Sendable {
    let date: Date

    init(_ date: Date) { self.date = date }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Self.rfc3339(date))
    }

    /// Written by hand from `gmtime_r`: a new `ISO8601DateFormatter` per date cost about 80 µs
    /// (measured), which made a 50-event page spend most of its time formatting dates; a
    /// shared one is not documented thread-safe here.
    static func rfc3339(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let year = String(parts.tm_year + 1900)
        return String(repeating: "0", count: max(0, 4 - year.count)) + year + "-" + two(parts.tm_mon + 1) + "-" + two(parts.tm_mday)
            + "T" + two(parts.tm_hour) + ":" + two(parts.tm_min) + ":" + two(parts.tm_sec) + "Z"
    }
}

/// An id in an answer: a lower-case UUID.
struct ObjectID: Encodable, Sendable {
    let uuid: UUID

    init(_ uuid: UUID) { self.uuid = uuid }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(uuid.lowercasedString)
    }
}

/// An answer with an empty object for a body (`202 {}`).
struct EmptyAnswer: Encodable, Sendable {}

// MARK: - Sessions and /v1/me

/// SPEC §4 `Session`.
struct SessionAnswer: Encodable, Sendable {
    let token: String
    let expiresAt: Timestamp
    let client: String

    enum CodingKeys: String, CodingKey, CaseIterable {
        case token
        case expiresAt = "expires_at"
        case client
    }
}

extension SessionAnswer {
    init(_ grant: SessionGrant) {
        self.init(token: grant.token, expiresAt: Timestamp(grant.session.expiresAt), client: grant.session.client.rawValue)
    }
}

/// `{"session": Session}`.
struct SessionEnvelope: Encodable, Sendable {
    let session: SessionAnswer
    /// The browser just remembered (SPEC §14.1), when the user asked and the policy allows.
    var rememberedBrowser: RememberedBrowserAnswer? = nil

    enum CodingKeys: String, CodingKey, CaseIterable {
        case session
        case rememberedBrowser = "remembered_browser"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(session, forKey: .session)
        try container.encode(rememberedBrowser, forKey: .rememberedBrowser)
    }
}

/// `{"token", "expires_at"}` of a remembered browser: the token is shown this once.
struct RememberedBrowserAnswer: Encodable, Sendable {
    let token: String
    let expiresAt: Timestamp

    enum CodingKeys: String, CodingKey, CaseIterable {
        case token
        case expiresAt = "expires_at"
    }

    init(_ grant: RememberedBrowserGrant) {
        token = grant.token
        expiresAt = Timestamp(grant.expiresAt)
    }
}

/// `{"policy": …}` (SPEC §13.1).
struct PolicyEnvelope: Encodable, Sendable {
    let policy: Policy

    struct Policy: Encodable, Sendable {
        let methods: String
        let ask: String
        let rememberDays: Int
        let usersWithoutPasskey: Int

        enum CodingKeys: String, CodingKey, CaseIterable {
            case methods, ask
            case rememberDays = "remember_days"
            case usersWithoutPasskey = "users_without_passkey"
        }
    }

    init(_ status: SignInPolicyStatus) {
        policy = Policy(
            methods: status.policy.methods.rawValue,
            ask: status.policy.ask.rawValue,
            rememberDays: status.policy.rememberDays,
            usersWithoutPasskey: status.usersWithoutPasskey
        )
    }
}

/// `GET /v1/me`: the caller, its company and its session.
struct MeAnswer: Encodable, Sendable {
    let user: User
    let company: Company
    let session: Session
    /// The session may only add a passkey (SPEC §13.1, policy `phishing_resistant`).
    let enrollmentOnly: Bool

    enum CodingKeys: String, CodingKey, CaseIterable {
        case user, company, session
        case enrollmentOnly = "enrollment_only"
    }

    struct User: Encodable, Sendable {
        let id: ObjectID
        let email: String
        let name: String
        let role: String
        let dashboardAccess: Bool

        enum CodingKeys: String, CodingKey, CaseIterable {
            case id, email, name, role
            case dashboardAccess = "dashboard_access"
        }
    }

    struct Company: Encodable, Sendable {
        let id: ObjectID
        let name: String
        let twoFactorEnabled: Bool

        enum CodingKeys: String, CodingKey, CaseIterable {
            case id, name
            case twoFactorEnabled = "two_factor_enabled"
        }
    }

    struct Session: Encodable, Sendable {
        let client: String
        let expiresAt: Timestamp
        let twoFactorVerified: Bool

        enum CodingKeys: String, CodingKey, CaseIterable {
            case client
            case expiresAt = "expires_at"
            case twoFactorVerified = "two_factor_verified"
        }
    }
}

extension MeAnswer {
    init(_ principal: Principal) {
        let user = principal.user
        self.init(
            user: User(id: ObjectID(user.id), email: user.email, name: user.name, role: user.role.rawValue, dashboardAccess: user.hasDashboardAccess),
            company: Company(id: ObjectID(principal.company.id), name: principal.company.name, twoFactorEnabled: principal.company.twoFactorEnabled),
            session: Session(
                client: principal.session.client.rawValue,
                expiresAt: Timestamp(principal.session.expiresAt),
                twoFactorVerified: principal.session.twoFactorVerified
            ),
            enrollmentOnly: principal.session.enrollmentOnly
        )
    }
}

// MARK: - Events

/// SPEC §4 `Event`.
struct EventAnswer: Encodable, Sendable {
    let id: Int
    let type: String
    @NullWhenAbsent var userID: ObjectID?
    @NullWhenAbsent var email: String?
    @NullWhenAbsent var ip: String?
    @NullWhenAbsent var userAgent: String?
    let createdAt: Timestamp
    let detail: [String: EventValue]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, type
        case userID = "user_id"
        case email, ip
        case userAgent = "user_agent"
        case createdAt = "created_at"
        case detail
    }
}

extension EventAnswer {
    init(_ event: EventView) {
        self.init(
            id: event.id,
            type: event.type,
            userID: event.userID.map(ObjectID.init),
            email: event.email,
            ip: event.ip,
            userAgent: event.userAgent,
            createdAt: Timestamp(event.createdAt),
            detail: event.detail
        )
    }
}

/// `GET /v1/company/security/events`: a page, newest first; `next_before` is null on the last.
struct EventPage: Encodable, Sendable {
    let events: [EventAnswer]
    @NullWhenAbsent var nextBefore: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case events
        case nextBefore = "next_before"
    }
}
