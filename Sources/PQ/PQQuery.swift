public import struct Foundation.Data
public import struct Foundation.Date
public import struct Foundation.UUID

/// A SQL statement with its bound values.
///
/// Written by string interpolation: every interpolated value becomes a bind parameter
/// (`$1`, `$2`, …), never text in the statement. Raw SQL needs ``init(unsafeSQL:)`` or
/// ``StringInterpolation/appendInterpolation(unsafeSQL:)``.
///
///     let q: PQQuery = "SELECT id FROM users WHERE email = \(email)"
public struct PQQuery: Sendable, ExpressibleByStringInterpolation {
    public private(set) var sql: String
    public private(set) var binds: [PQBind]
    /// A name for logs and errors (for example `"session.lookup"`).
    public var name: String?

    /// Raw SQL without binds. The label is there so a reviewer sees it.
    public init(unsafeSQL sql: String) {
        self.sql = sql
        self.binds = []
    }

    public init(stringLiteral value: String) {
        self.sql = value
        self.binds = []
    }

    public init(stringInterpolation: StringInterpolation) {
        self.sql = stringInterpolation.sql
        self.binds = stringInterpolation.binds
    }

    /// The same query with a name for errors and logs.
    public func named(_ name: String) -> PQQuery {
        var copy = self
        copy.name = name
        return copy
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var binds: [PQBind] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        /// Binds a value as the next parameter.
        public mutating func appendInterpolation(_ value: some PQEncodable) {
            binds.append(value.pqBind)
            sql += "$\(binds.count)"
        }

        /// Binds an optional value; `nil` becomes SQL NULL of the wrapped type.
        public mutating func appendInterpolation<T: PQEncodable>(_ value: T?) {
            binds.append(value?.pqBind ?? PQBind(type: T.pqType, value: nil))
            sql += "$\(binds.count)"
        }

        /// Embeds another statement (a CTE's body, a subquery) with its binds, its `$n`
        /// renumbered after the binds before it. The embedded text must have no `$` but its
        /// placeholders (no dollar quoting), as every statement written by interpolation.
        public mutating func appendInterpolation(statement query: PQQuery) {
            defer { binds += query.binds }
            let offset = binds.count
            guard offset > 0 else { return sql += query.sql }
            // Walked as UTF-8 bytes: `$` and digits are ASCII, so every index met is a valid
            // place to cut the string (walking `Character`s cost thousands of instructions).
            let text = query.sql
            let bytes = text.utf8
            var copied = bytes.startIndex  // text before this index is in `sql` already
            var index = copied
            while let dollar = bytes[index...].firstIndex(of: UInt8(ascii: "$")) {
                let digitsStart = bytes.index(after: dollar)
                let digitsEnd = bytes[digitsStart...].firstIndex { !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) } ?? bytes.endIndex
                if let number = Int(text[digitsStart..<digitsEnd]) {
                    sql += text[copied..<dollar]
                    sql += "$\(number + offset)"
                    copied = digitsEnd
                }
                index = digitsEnd
            }
            sql += text[copied...]
        }

        /// Inserts raw SQL text. Never pass anything that came from outside.
        public mutating func appendInterpolation(unsafeSQL text: String) {
            sql += text
        }
    }
}

/// A bound parameter: its PostgreSQL type and its value (text format, or binary for bytea and text).
public struct PQBind: Sendable {
    public let type: PQType
    public let value: [UInt8]?
    /// Binary format (bytea, text) rather than text format.
    public let binary: Bool

    /// Why the value could not be encoded; the statement then fails before it is sent.
    let encodingFailure: String?

    public init(type: PQType, value: [UInt8]?, binary: Bool = false) {
        self.type = type
        self.value = value
        self.binary = binary
        self.encodingFailure = nil
    }

    /// A bind for a value that could not be encoded (`reason` must not contain the value).
    init(type: PQType, failure reason: String) {
        self.type = type
        self.value = nil
        self.binary = false
        self.encodingFailure = reason
    }

    init(type: PQType, text: String) {
        self.init(type: type, value: Array(text.utf8))
    }
}

/// The PostgreSQL types this library binds and decodes, by OID.
public struct PQType: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let bool = PQType(rawValue: 16)
    public static let bytea = PQType(rawValue: 17)
    /// The single-byte internal type `"char"`.
    public static let char = PQType(rawValue: 18)
    public static let name = PQType(rawValue: 19)
    public static let int8 = PQType(rawValue: 20)
    public static let int2 = PQType(rawValue: 21)
    public static let int4 = PQType(rawValue: 23)
    public static let text = PQType(rawValue: 25)
    public static let oid = PQType(rawValue: 26)
    public static let json = PQType(rawValue: 114)
    public static let xml = PQType(rawValue: 142)
    public static let float4 = PQType(rawValue: 700)
    public static let float8 = PQType(rawValue: 701)
    /// An untyped literal (`SELECT 'abc'`).
    public static let unknown = PQType(rawValue: 705)
    /// `char(n)`.
    public static let bpchar = PQType(rawValue: 1042)
    public static let varchar = PQType(rawValue: 1043)
    public static let timestamp = PQType(rawValue: 1114)
    public static let timestamptz = PQType(rawValue: 1184)
    public static let uuid = PQType(rawValue: 2950)
    public static let jsonb = PQType(rawValue: 3802)
    /// Let the server infer the type from context.
    public static let unspecified = PQType(rawValue: 0)
    /// OIDs from here on belong to types created in a database (enums, extension types).
    static let firstUserDefined: UInt32 = 16_384
}

/// A Swift value that can be bound as a query parameter.
public protocol PQEncodable: Sendable {
    static var pqType: PQType { get }
    var pqBind: PQBind { get }
}

extension String: PQEncodable {
    public static var pqType: PQType { .text }
    /// Sent in binary format (for text, the UTF-8 bytes with a length): in text format libpq
    /// stops at the first NUL and would silently store a shortened value, whereas the server
    /// refuses a NUL it is given (22021).
    public var pqBind: PQBind { PQBind(type: .text, value: Array(utf8), binary: true) }
}

extension Int: PQEncodable {
    public static var pqType: PQType { .int8 }
    public var pqBind: PQBind { PQBind(type: .int8, text: String(self)) }
}

extension Int32: PQEncodable {
    public static var pqType: PQType { .int4 }
    public var pqBind: PQBind { PQBind(type: .int4, text: String(self)) }
}

extension Int64: PQEncodable {
    public static var pqType: PQType { .int8 }
    public var pqBind: PQBind { PQBind(type: .int8, text: String(self)) }
}

extension Bool: PQEncodable {
    public static var pqType: PQType { .bool }
    public var pqBind: PQBind { PQBind(type: .bool, text: self ? "t" : "f") }
}

extension Double: PQEncodable {
    public static var pqType: PQType { .float8 }
    public var pqBind: PQBind {
        if isNaN { return PQBind(type: .float8, text: "NaN") }
        if isInfinite { return PQBind(type: .float8, text: self > 0 ? "Infinity" : "-Infinity") }
        return PQBind(type: .float8, text: "\(self)")
    }
}

extension UUID: PQEncodable {
    public static var pqType: PQType { .uuid }
    public var pqBind: PQBind { PQBind(type: .uuid, text: lowercasedString) }
}

extension Date: PQEncodable {
    public static var pqType: PQType { .timestamptz }
    public var pqBind: PQBind {
        // Microseconds since the PostgreSQL epoch, written as an unambiguous UTC literal.
        PQBind(type: .timestamptz, text: PQTimestamp.format(self))
    }
}

extension Data: PQEncodable {
    public static var pqType: PQType { .bytea }
    public var pqBind: PQBind { PQBind(type: .bytea, value: [UInt8](self), binary: true) }
}

extension Array: PQEncodable where Element == UInt8 {
    public static var pqType: PQType { .bytea }
    public var pqBind: PQBind { PQBind(type: .bytea, value: self, binary: true) }
}

/// A value bound as `jsonb`, encoded from `Encodable`.
public struct PQJSON<Value: Codable & Sendable>: PQEncodable, PQDecodable, Sendable {
    public var value: Value
    public init(_ value: Value) { self.value = value }

    public static var pqType: PQType { .jsonb }
    public var pqBind: PQBind {
        // Never a silent JSON null in place of a value that would not encode (NaN, say).
        guard let data = try? PQJSONCoding.encoder.encode(value) else {
            return PQBind(type: .jsonb, failure: "a \(Value.self) value could not be encoded as JSON")
        }
        return PQBind(type: .jsonb, value: [UInt8](data))
    }

    public init(pqValue bytes: UnsafeRawBufferPointer, type: PQType, column: String) throws {
        var payload = bytes
        if type == .jsonb {
            guard payload.first == 1 else { throw PQError.decodingFailed(column: column, into: "jsonb") }
            payload = UnsafeRawBufferPointer(rebasing: payload.dropFirst())
        } else if type != .json && type != .text {
            throw PQError.decodingFailed(column: column, into: "json")
        }
        do {
            value = try PQJSONCoding.decoder.decode(Value.self, from: Data(payload))
        } catch {
            throw PQError.decodingFailed(column: column, into: String(describing: Value.self))
        }
    }
}

/// A `uuid[]` bind, for `id = ANY(…)` over a list of ids: one bind, never a list written
/// into the statement.
public struct PQUUIDArray: PQEncodable, Sendable {
    public let values: [UUID]

    public init(_ values: [UUID]) { self.values = values }

    public static var pqType: PQType { PQType(rawValue: 2951) }
    public var pqBind: PQBind { PQBind(type: Self.pqType, text: "{" + values.map(\.lowercasedString).joined(separator: ",") + "}") }
}

/// A `bytea[]` bind, for `column = ANY(…)` over a list of hashes (one bind instead of an
/// `IN (…)` list built by hand), written as an array literal of hex strings.
public struct PQByteaArray: PQEncodable, Sendable {
    public let values: [Data]

    public init(_ values: [Data]) { self.values = values }

    public static var pqType: PQType { PQType(rawValue: 1001) }
    public var pqBind: PQBind {
        let elements = values.map { value in "\"\\\\x" + lowercaseHex(value) + "\"" }
        return PQBind(type: Self.pqType, text: "{" + elements.joined(separator: ",") + "}")
    }
}

/// Bytes as lower-case hex. Not `String(format: "%02x")` per byte: that goes through
/// Foundation's format parser each time, and it was the hottest Swift code of a verify
/// request (the token's candidate hashes are bound as hex).
public func lowercaseHex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var text: [UInt8] = []
    text.reserveCapacity(bytes.underestimatedCount * 2)
    for byte in bytes {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: text, as: UTF8.self)
}
