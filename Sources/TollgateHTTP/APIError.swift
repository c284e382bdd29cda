import Foundation
public import Hummingbird
import TollgateCore

/// An error answer of the API: `{"error": {"code", "message", ...extra}}` (SPEC §4).
///
/// The one place where errors become HTTP: domain errors are mapped to this in
/// `ErrorMapping.swift`, and `ErrorEnvelopeMiddleware` turns anything else into an envelope.
public struct APIError: Error, HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    /// Extra fields beside code and message (`field`, `attempts_remaining`, …).
    public var extra: [String: ExtraValue] = [:]
    /// Seconds for a `Retry-After` header.
    public var retryAfter: Int?
    /// The methods for an `Allow` header (405 answers).
    public var allow: String?

    /// A value of an extra field.
    public enum ExtraValue: Sendable, Encodable, Equatable {
        case int(Int)
        case string(String)

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .int(let value): try container.encode(value)
            case .string(let value): try container.encode(value)
            }
        }
    }

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, extra: [String: ExtraValue] = [:], retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra
        self.retryAfter = retryAfter
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"]
        if let retryAfter { headers[.retryAfter] = String(max(1, retryAfter)) }
        if let allow { headers[.allow] = allow }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body())))
    }

    /// The JSON envelope, every key sorted (as clients and stored idempotent answers have
    /// always seen it).
    func body() -> [UInt8] {
        var fields = extra
        fields["code"] = .string(code)
        fields["message"] = .string(message)
        var inner = FlatJSON()
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            switch value {
            case .int(let number): inner.add(key, number)
            case .string(let text): inner.add(key, text)
            }
        }
        var envelope = FlatJSON()
        envelope.add("error", json: inner.object)
        return envelope.object
    }

    // MARK: Common answers

    public static func invalidRequest(field: String, _ message: String) -> APIError {
        APIError(.badRequest, "invalid_request", message, extra: ["field": .string(field)])
    }
    public static let notFound = APIError(.notFound, "not_found", "There is nothing here.")
    public static let methodNotAllowed = APIError(.methodNotAllowed, "method_not_allowed", "This path does not accept that method.")
    public static let payloadTooLarge = APIError(.contentTooLarge, "payload_too_large", "The request body is larger than 64 KiB.")
    public static let unsupportedMediaType = APIError(
        .unsupportedMediaType,
        "unsupported_media_type",
        "Send the request body as application/json."
    )
    public static let internalError = APIError(.internalServerError, "internal_error", "Something went wrong on our side.")
    public static func unavailable(retryAfter: Int) -> APIError {
        APIError(.serviceUnavailable, "unavailable", "The service cannot answer right now; try again shortly.", retryAfter: retryAfter)
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
