import Foundation
import Hummingbird
import NIOCore

/// Any JSON value; bodies are read as an object of these so that a missing or mistyped field
/// is reported by name (`invalid_request` with `error.field`), and unknown fields ignored.
enum JSONValue: Decodable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// A request's JSON object, read once with the SPEC §4 checks: JSON content type (415),
/// at most 64 KiB (413), an object (400).
struct RequestBody {
    let fields: [String: JSONValue]
    /// The bytes as received (an idempotent POST is recognised by them).
    var raw = Data()

    static let maximumSize = 64 * 1024
    /// No body at all (routes that take none).
    static let empty = RequestBody(fields: [:])

    static func read(_ request: Request, context: TollgateRequestContext) async throws -> RequestBody {
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard mediaType == "application/json" else { throw APIError.unsupportedMediaType }
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: maximumSize)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError.payloadTooLarge
        } catch is NIOTooManyBytesError {
            throw APIError.payloadTooLarge
        }
        let data = Data(buffer.readableBytesView)
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: data) else {
            throw APIError.invalidRequest(field: "body", "The body is not valid JSON.")
        }
        guard case .object(let fields) = value else {
            throw APIError.invalidRequest(field: "body", "The body must be a JSON object.")
        }
        return RequestBody(fields: fields, raw: data)
    }

    /// A required string field, at most `maxLength` characters.
    func string(_ name: String, maxLength: Int = 1024) throws -> String {
        guard let value = fields[name], !isNull(value) else {
            throw APIError.invalidRequest(field: name, "The field \(name) is required.")
        }
        guard case .string(let text) = value else {
            throw APIError.invalidRequest(field: name, "The field \(name) must be a string, not \(value.typeName).")
        }
        guard text.count <= maxLength else {
            throw APIError.invalidRequest(field: name, "The field \(name) is too long.")
        }
        return text
    }

    /// An optional string field (missing or null: nil), at most `maxLength` characters.
    func optionalString(_ name: String, maxLength: Int = 1024) throws -> String? {
        guard let value = fields[name], !isNull(value) else { return nil }
        return try string(name, maxLength: maxLength)
    }

    /// The body with its keys sorted and no white space: one JSON object however a client
    /// ordered it (an idempotent retry is recognised by this).
    var canonical: Data {
        guard !raw.isEmpty, let object = try? JSONSerialization.jsonObject(with: raw),
            let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        else { return raw }
        return data
    }

    /// Whether the body names `name` at all (null included): PATCH tells "clear" from "keep".
    func has(_ name: String) -> Bool { fields[name] != nil }

    /// A required nested object, read with the same checks.
    func object(_ name: String) throws -> RequestBody {
        guard let value = fields[name], !isNull(value) else { throw APIError.invalidRequest(field: name, "The field \(name) is required.") }
        guard case .object(let nested) = value else {
            throw APIError.invalidRequest(field: name, "The field \(name) must be an object, not \(value.typeName).")
        }
        return RequestBody(fields: nested)
    }

    /// An optional boolean field (missing or null: nil).
    func optionalBool(_ name: String) throws -> Bool? {
        guard let value = fields[name], !isNull(value) else { return nil }
        guard case .bool(let flag) = value else {
            throw APIError.invalidRequest(field: name, "The field \(name) must be true or false, not \(value.typeName).")
        }
        return flag
    }

    private func isNull(_ value: JSONValue) -> Bool {
        if case .null = value { return true }
        return false
    }
}
