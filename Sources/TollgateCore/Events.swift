public import Foundation
public import PQ

/// A value in an event's `detail`.
public enum EventValue: Codable, Sendable, Equatable {
    case string(String)
    case int(Int)
    case bool(Bool)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else {
            self = .string(try container.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        }
    }
}

/// Every kind of event Tollgate records; the raw value is `events.type` (SPEC §4 names the
/// stable ones, and support's queries and the dashboard read them). One list, so a type is
/// never spelled twice.
public enum EventType: String, Sendable, CaseIterable {
    case loginPasswordFailed = "login.password_failed"
    case loginPasswordSucceeded = "login.password_succeeded"
    case loginCodeSent = "login.code_sent"
    case loginCodeResent = "login.code_resent"
    case loginCodeFailed = "login.code_failed"
    case loginCodeExpired = "login.code_expired"
    case loginSucceeded = "login.succeeded"
    case loginChallengeClosed = "login.challenge_closed"
    case loginRateLimited = "login.rate_limited"
    case loginReported = "login.reported"
    /// A login that offers other methods than email began: nothing was mailed (SPEC §13).
    case loginChallengeStarted = "login.challenge_started"
    case loginRememberedBrowserUsed = "login.remembered_browser_used"
    case rememberedBrowserAdded = "remembered_browser.added"
    case policyChanged = "policy.changed"
    case activationStarted = "two_factor.activation_started"
    case activationCodeResent = "two_factor.activation_code_resent"
    case activationCodeFailed = "two_factor.activation_code_failed"
    case activationCodeExpired = "two_factor.activation_code_expired"
    case activationVerified = "two_factor.activation_verified"
    case activationClosed = "two_factor.activation_closed"
    case activationRateLimited = "two_factor.activation_rate_limited"
    case twoFactorRateLimited = "two_factor.rate_limited"
    case twoFactorEnabled = "two_factor.enabled"
    case twoFactorDisabled = "two_factor.disabled"
    case twoFactorDisableDenied = "two_factor.disable_denied"
    case sessionRevoked = "session.revoked"
    /// An owner ended every session and forgot every remembered browser of the company.
    case companySessionsEnded = "company.sessions_ended"
    /// A user forgot one of its remembered browsers (the other ways they end are counted in
    /// the event of what ended them: `password.changed`, `login.reported`, …).
    case rememberedBrowserForgotten = "remembered_browser.forgotten"
    case accountUnlocked = "account.unlocked"
    case passwordChanged = "password.changed"
    case passwordReset = "password.reset"
    case passwordSet = "password.set"
    case passwordResetRequested = "password.reset_requested"
    case passwordRateLimited = "password.rate_limited"
    case adminCompanyCreated = "admin.company_created"
    case adminCompanyUpdated = "admin.company_updated"
    case adminUserCreated = "admin.user_created"
    case adminUserUpdated = "admin.user_updated"
    case adminUserDeactivated = "admin.user_deactivated"
    case adminUserReactivated = "admin.user_reactivated"
    case adminUserUnlocked = "admin.user_unlocked"
    case adminPasswordResetSent = "admin.password_reset_sent"
    case methodAdded = "method.added"
    case methodRemoved = "method.removed"
    case methodConfirmFailed = "method.confirm_failed"
    case methodRateLimited = "method.rate_limited"
    case methodsReset = "methods.reset"
    /// A passkey registration the ceremony's checks refused (`reason` in the detail).
    case passkeyRejected = "passkey.rejected"
    /// A passkey signed with a counter not above the stored one: possibly a cloned
    /// authenticator. The assertion was refused and counted as a wrong code.
    case passkeyCounterRegression = "passkey.counter_regression"
    /// The one email-code login of a user without a passkey under `phishing_resistant`.
    case passkeyEnrollmentLogin = "login.passkey_enrollment"
    case emailSent = "email.sent"
    case emailFailed = "email.failed"
    case emailExpired = "email.expired"
}

/// One entry of the append-only event log (SPEC §4 `Event`).
public struct Event: Sendable {
    public var companyID: UUID
    public var type: EventType
    public var userID: UUID?
    public var email: String?
    public var client: ClientInfo?
    /// What support needs (challenge id, attempts left, reason); never a code or token.
    public var detail: [String: EventValue]

    public init(
        companyID: UUID,
        type: EventType,
        userID: UUID? = nil,
        email: String? = nil,
        client: ClientInfo? = nil,
        detail: [String: EventValue] = [:]
    ) {
        self.companyID = companyID
        self.type = type
        self.userID = userID
        self.email = email
        self.client = client
        self.detail = detail
    }

    /// Writes the event inside the caller's transaction, so it stands or falls with the
    /// change it records. Queued: nobody reads the insert's answer, so it travels with the
    /// transaction's next statement or its COMMIT (a failure fails the transaction there).
    public func record(in tx: PQTransaction) {
        tx.queue(
            "event.record",
            """
            INSERT INTO events (company_id, type, user_id, email, ip, user_agent, detail)
            VALUES (\(companyID), \(type.rawValue), \(userID), \(email), \(client?.ip), \(client?.userAgent), \(EventDetail(detail)))
            """
        )
    }
}

/// An event's `detail` bound as `jsonb`, written by ``FlatJSON`` (keys sorted, as `PQJSON`'s
/// encoder sorted them; PostgreSQL keeps jsonb in its own order anyway).
struct EventDetail: PQEncodable {
    let detail: [String: EventValue]

    init(_ detail: [String: EventValue]) { self.detail = detail }

    static var pqType: PQType { .jsonb }
    var pqBind: PQBind {
        var json = FlatJSON()
        for (key, value) in detail.sorted(by: { $0.key < $1.key }) {
            switch value {
            case .string(let text): json.add(key, text)
            case .int(let number): json.add(key, number)
            case .bool(let flag): json.add(key, flag)
            }
        }
        return PQBind(type: .jsonb, value: json.object)
    }
}

/// An event as the API lists it.
public struct EventView: Sendable, Codable, Equatable {
    public let id: Int
    public let type: String
    public let userID: UUID?
    public let email: String?
    public let ip: String?
    public let userAgent: String?
    public let createdAt: Date
    public let detail: [String: EventValue]

    /// The company's events, newest first, `limit` of them before the id `before`.
    /// One page of the company's log for its owners and admins (SPEC §1: members may not read it).
    public static func page(for principal: Principal, limit: Int, before: Int?, pool: PQPool) async throws -> [EventView] {
        guard principal.user.isOwnerOrAdmin else { throw DomainError.forbidden }
        return try await pool.withTenant(principal.company.id) { tx in try list(limit: limit, before: before, in: tx) }
    }

    public static func list(limit: Int, before: Int?, in tx: PQTransaction) throws -> [EventView] {
        let rows = try tx.query(
            "event.list",
            """
            SELECT id, type, user_id, email, ip, user_agent, created_at, detail FROM events
            WHERE company_id = app_company() AND (\(before)::bigint IS NULL OR id < \(before))
            ORDER BY id DESC LIMIT \(limit)
            """
        )
        return try rows.map { row in
            EventView(
                id: try row.decode("id"),
                type: try row.decode("type"),
                userID: try row.decode("user_id"),
                email: try row.decode("email"),
                ip: try row.decode("ip"),
                userAgent: try row.decode("user_agent"),
                createdAt: try row.decode("created_at"),
                detail: try row.decode("detail", as: PQJSON<[String: EventValue]>.self).value
            )
        }
    }
}
