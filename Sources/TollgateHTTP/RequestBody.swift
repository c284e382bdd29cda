import Foundation
import Hummingbird
import NIOCore
import TollgateCore

/// A request body the API reads: a `Decodable` struct whose `CodingKeys` are the JSON names.
///
/// Fields are decoded in declaration order, and each field's type refuses what the API does
/// not take (a string too long, a role that does not exist), so the first faulty field is the
/// one named in `error.field`. Unknown fields are ignored (SPEC §4).
protocol RequestBody: Decodable, Sendable {}

/// The longest a string field may be, by what it holds.
protocol TextLimit { static var maxLength: Int { get } }

/// The string limits of request fields.
enum MaxLength {
    enum Email: TextLimit { static let maxLength = 320 }
    enum Password: TextLimit { static let maxLength = 1024 }
    enum Token: TextLimit { static let maxLength = 256 }
    enum Code: TextLimit { static let maxLength = 64 }
    /// An id sent in a body (`activation_id`); a longer one cannot be a UUID anyway.
    enum Identifier: TextLimit { static let maxLength = 64 }
    enum Name: TextLimit { static let maxLength = 200 }
    enum WebAddress: TextLimit { static let maxLength = 300 }
}

/// A string field of at most `Limit.maxLength` characters; longer is `invalid_request` naming it.
struct BoundedText<Limit: TextLimit>: Decodable, Sendable {
    let text: String

    init(from decoder: any Decoder) throws {
        text = try decoder.singleValueContainer().decode(String.self)
        guard text.count <= Limit.maxLength else { throw JSONBody.refusal(decoder.codingPath, "is too long") }
    }
}

/// What a field naming one of a fixed set of values refuses: a name longer than any of them is
/// too long, an unknown one is told the choices.
protocol FieldChoice: RawRepresentable<String>, Sendable {
    static var maxLength: Int { get }
    /// "owner, admin or member".
    static var choices: String { get }
}

extension Role: FieldChoice {
    static let maxLength = 16
    static let choices = "owner, admin or member"
}

extension SessionClient: FieldChoice {
    static let maxLength = 32
    static let choices = #""dashboard" or "phone_app""#
}

/// A string field that names one of `Value`'s cases.
struct Choice<Value: FieldChoice>: Decodable, Sendable {
    let value: Value

    init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard text.count <= Value.maxLength else { throw JSONBody.refusal(decoder.codingPath, "is too long") }
        guard let value = Value(rawValue: text) else { throw JSONBody.refusal(decoder.codingPath, "must be \(Value.choices)") }
        self.value = value
    }
}

/// A body as received: the decoded value and the bytes (an idempotent POST is recognised by them).
struct ReceivedBody<Body: RequestBody> {
    /// The decoded body, or the `invalid_request` of its first faulty field.
    let decoded: Result<Body, APIError>
    let raw: Data

    /// The body, or its field's refusal.
    func get() throws -> Body { try decoded.get() }

    /// The body with its keys sorted and no white space: one JSON object however a client
    /// ordered it (an idempotent retry is recognised by this).
    var canonical: Data {
        guard !raw.isEmpty, let object = try? JSONSerialization.jsonObject(with: raw),
            let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        else { return raw }
        return data
    }
}

/// Reads request bodies with the SPEC §4 checks: JSON content type (415), at most 64 KiB
/// (413), a JSON object (400 naming `body`), then the fields (400 naming the field).
enum JSONBody {
    static let maximumSize = 64 * 1024

    /// The decoded body; any refusal is thrown.
    static func read<Body: RequestBody>(_ type: Body.Type, _ request: Request) async throws -> Body {
        try await receive(type, request).get()
    }

    /// The body's bytes and its decoding. Whatever makes the whole body unreadable (media type,
    /// size, not JSON, not an object) is thrown; a faulty field is kept in `decoded`, so that
    /// the provisioning API records it as the first answer to an idempotent POST (as before).
    static func receive<Body: RequestBody>(_ type: Body.Type, _ request: Request) async throws -> ReceivedBody<Body> {
        let data = try await bytes(of: request)
        do {
            return ReceivedBody(decoded: .success(try decode(type, from: data)), raw: data)
        } catch let error as APIError where error.namesAField {
            return ReceivedBody(decoded: .failure(error), raw: data)
        }
    }

    static func bytes(of request: Request) async throws -> Data {
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard mediaType == "application/json" else { throw APIError.unsupportedMediaType }
        var request = request
        do {
            return Data(try await request.collectBody(upTo: maximumSize).readableBytesView)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError.payloadTooLarge
        } catch is NIOTooManyBytesError {
            throw APIError.payloadTooLarge
        }
    }

    /// Decodes `data`, turning a `DecodingError` into the `invalid_request` that names its
    /// coding path's last key; a field's own refusal (``BoundedText``, ``Choice``) passes as is.
    static func decode<Body: RequestBody>(_ type: Body.Type, from data: Data) throws -> Body {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw refusal(for: error, in: data)
        }
    }

    /// "The field role must be owner, admin or member." for the field at `path`.
    static func refusal(_ path: [any CodingKey], _ problem: String) -> APIError {
        let field = field(of: path) ?? "body"
        return APIError.invalidRequest(field: field, "The field \(field) \(problem).")
    }

    private static func refusal(for error: DecodingError, in data: Data) -> APIError {
        switch error {
        case .keyNotFound(let key, _):
            return required(key.stringValue)
        case .valueNotFound(_, let context):
            guard let field = field(of: context.codingPath) else { return notAnObject }
            return required(field)
        case .typeMismatch(let expected, let context):
            guard let field = field(of: context.codingPath) else { return notAnObject }
            let wanted =
                switch expected {
                case is String.Type: "a string"
                case is Bool.Type: "true or false"
                default: "an object"
                }
            let found = JSONKind.at(context.codingPath, in: data)
            return APIError.invalidRequest(field: field, "The field \(field) must be \(wanted), not \(found).")
        case .dataCorrupted:
            // Not JSON at all, not UTF-8, or a number no Swift type holds.
            return APIError.invalidRequest(field: "body", "The body is not valid JSON.")
        @unknown default:
            return APIError.invalidRequest(field: "body", "The body is not valid JSON.")
        }
    }

    /// The field a coding path names: its last key (a nested object's fields are named alone,
    /// `email` for `owner.email`, as the API always has); nil for the body itself.
    private static func field(of path: [any CodingKey]) -> String? {
        path.last { $0.intValue == nil }?.stringValue
    }

    private static func required(_ field: String) -> APIError {
        APIError.invalidRequest(field: field, "The field \(field) is required.")
    }

    private static let notAnObject = APIError.invalidRequest(field: "body", "The body must be a JSON object.")
}

extension APIError {
    /// An `invalid_request` about one field rather than the whole body.
    fileprivate var namesAField: Bool { code == "invalid_request" && extra["field"] != .string("body") }
}

/// What kind of JSON value sits at a coding path ("a number", "an array", …), for the message
/// of a mistyped field. Decoded only when a field was refused.
private struct JSONKind: Decodable {
    static let pathKey = CodingUserInfoKey(rawValue: "tollgate.jsonKindPath")!
    let name: String

    static func at(_ path: [any CodingKey], in data: Data) -> String {
        let decoder = JSONDecoder()
        decoder.userInfo[pathKey] = path.map(\.stringValue)
        return (try? decoder.decode(JSONKind.self, from: data))?.name ?? "a value of another type"
    }

    init(from decoder: any Decoder) throws {
        var keys = (decoder.userInfo[Self.pathKey] as? [String] ?? [])[...]
        var value = decoder
        while let key = keys.popFirst() {
            value = try value.container(keyedBy: AnyKey.self).superDecoder(forKey: AnyKey(key))
        }
        let single = try value.singleValueContainer()
        if single.decodeNil() {
            name = "null"
        } else if (try? single.decode(Bool.self)) != nil {
            name = "a boolean"
        } else if (try? single.decode(String.self)) != nil {
            name = "a string"
        } else if (try? value.unkeyedContainer()) != nil {
            name = "an array"
        } else if (try? value.container(keyedBy: AnyKey.self)) != nil {
            name = "an object"
        } else {
            name = "a number"
        }
    }
}
