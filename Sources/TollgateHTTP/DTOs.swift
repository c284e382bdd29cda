import Foundation
import Hummingbird
import TollgateCore

/// JSON answers. Keys are snake_case, times RFC 3339 UTC, and absent values are `null`
/// (not missing), as SPEC §4 shows them.
struct JSONAnswer: ResponseGenerator {
    let status: HTTPResponse.Status
    let body: [String: JSONOut]

    init(_ status: HTTPResponse.Status = .ok, _ body: [String: JSONOut]) {
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
        return try encoder.encode(JSONOut.object(body))
    }

    func response(data: Data) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// An answer value; `nil` Swift optionals become JSON null.
indirect enum JSONOut: Encodable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case string(String)
    case array([JSONOut])
    case object([String: JSONOut])

    static func string(_ value: String?) -> JSONOut { value.map { .string($0) } ?? .null }
    static func date(_ value: Date?) -> JSONOut { value.map { .string(rfc3339($0)) } ?? .null }
    static func uuid(_ value: UUID?) -> JSONOut { value.map { .string($0.uuidString.lowercased()) } ?? .null }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// `2026-12-02T05:16:09Z`: whole seconds, UTC. Written by hand from `gmtime_r`: a new
    /// `ISO8601DateFormatter` per date cost about 80 µs (measured), which made a 50-event page
    /// spend most of its time formatting dates; a shared one is not documented thread-safe here.
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

extension SessionGrant {
    var json: JSONOut {
        .object(["token": .string(token), "expires_at": .date(session.expiresAt), "client": .string(session.client.rawValue)])
    }
}

extension EventView {
    var json: JSONOut {
        var detailObject: [String: JSONOut] = [:]
        for (key, value) in detail {
            switch value {
            case .string(let text): detailObject[key] = .string(text)
            case .int(let number): detailObject[key] = .int(number)
            case .bool(let flag): detailObject[key] = .bool(flag)
            }
        }
        return .object([
            "id": .int(id), "type": .string(type), "user_id": .uuid(userID), "email": .string(email), "ip": .string(ip),
            "user_agent": .string(userAgent), "created_at": .date(createdAt), "detail": .object(detailObject),
        ])
    }
}
