public import Foundation

/// A Swift value that can be decoded from a column in PostgreSQL's binary format.
public protocol PQDecodable: Sendable {
    init(pqValue bytes: UnsafeRawBufferPointer, type: PQType, column: String) throws
    /// The value for SQL NULL, or `nil` when NULL is an error for this type.
    static var pqNull: Self? { get }
}

extension PQDecodable {
    public static var pqNull: Self? { nil }
}

extension PQError {
    static func decodingFailed(column: String, into type: String) -> PQError {
        PQError(kind: .decoding, message: "column \(column) cannot be decoded as \(type)")
    }
}

extension Optional: PQDecodable where Wrapped: PQDecodable {
    public init(pqValue bytes: UnsafeRawBufferPointer, type: PQType, column: String) throws {
        self = .some(try Wrapped(pqValue: bytes, type: type, column: column))
    }
    public static var pqNull: Wrapped?? { .some(.none) }
}

private func bigEndianInteger<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, as: T.Type) -> T {
    var value: T = 0
    for byte in bytes { value = (value << 8) | T(byte) }
    return value
}

extension Int: PQDecodable {
    public init(pqValue bytes: UnsafeRawBufferPointer, type: PQType, column: String) throws {
        switch (type, bytes.count) {
        case (.int8, 8): self = Int(bigEndianInteger(bytes, as: Int64.self))
        case (.int4, 4): self = Int(bigEndianInteger(bytes, as: Int32.self))
        case (.int2, 2): self = Int(bigEndianInteger(bytes, as: Int16.self))
        case (.oid, 4): self = Int(bigEndianInteger(bytes, as: UInt32.self))
        default: throw PQError.decodingFailed(column: column, into: "Int")
        }
    }
}

extension Int64: PQDecodable {
    public init(pqValue bytes: UnsafeRawBufferPointer, type: PQType, column: String) throws {
        self = Int64(try Int(pqValue: bytes, type: type, column: column))
    }
}

extension Int32: PQDecodable {
    public init(pqValue bytes: UnsafeRawBufferPointer, type: PQType, column: String) throws {
        let wide = try Int(pqValue: bytes, type: type, column: column)
        guard let narrow = Int32(exactly: wide) else { throw PQError.decodingFailed(column: column, into: "Int32") }
        self = narrow
    }
}

extension Bool: PQDecodable {
    public init(pqValue bytes: UnsafeRawBufferPointer, type: PQType, column: String) throws {
        guard type == .bool, bytes.count == 1 else { throw PQError.decodingFailed(column: column, into: "Bool") }
        self = bytes[0] != 0
    }
}

extension Double: PQDecodable {
    public init(pqValue bytes: UnsafeRawBufferPointer, type: PQType, column: String) throws {
        switch (type, bytes.count) {
        case (.float8, 8): self = Double(bitPattern: bigEndianInteger(bytes, as: UInt64.self))
        case (.float4, 4): self = Double(Float(bitPattern: bigEndianInteger(bytes, as: UInt32.self)))
        case (.int8, _), (.int4, _), (.int2, _): self = Double(try Int(pqValue: bytes, type: type, column: column))
        default: throw PQError.decodingFailed(column: column, into: "Double")
        }
    }
}

extension String: PQDecodable {
    /// Text-like columns (text, varchar, char, name, json, jsonb, xml, and user-defined types
    /// such as enums and citext) decode as their UTF-8 text.
    ///
    /// Other built-in types (numeric, date, interval, inet, arrays, …) have binary formats that
    /// are not text; reading them as text gave garbage, so they are a decoding error: cast
    /// them to text in SQL when text is wanted.
    public init(pqValue bytes: UnsafeRawBufferPointer, type: PQType, column: String) throws {
        switch type {
        case .text, .varchar, .bpchar, .name, .char, .json, .xml, .unknown:
            self = String(decoding: bytes, as: UTF8.self)
        case .jsonb:
            guard bytes.first == 1 else { throw PQError.decodingFailed(column: column, into: "String") }
            self = String(decoding: bytes.dropFirst(), as: UTF8.self)
        case _ where type.rawValue >= PQType.firstUserDefined:
            // Enums (and extension types such as citext) send their text as the binary format.
            self = String(decoding: bytes, as: UTF8.self)
        default:
            throw PQError.decodingFailed(column: column, into: "String")
        }
    }
}

extension UUID: PQDecodable {
    public init(pqValue bytes: UnsafeRawBufferPointer, type: PQType, column: String) throws {
        guard type == .uuid, bytes.count == 16 else { throw PQError.decodingFailed(column: column, into: "UUID") }
        self = UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            )
        )
    }
}

extension Date: PQDecodable {
    public init(pqValue bytes: UnsafeRawBufferPointer, type: PQType, column: String) throws {
        guard type == .timestamptz || type == .timestamp, bytes.count == 8 else {
            throw PQError.decodingFailed(column: column, into: "Date")
        }
        self = PQTimestamp.date(fromMicroseconds: bigEndianInteger(bytes, as: Int64.self))
    }
}

extension Data: PQDecodable {
    public init(pqValue bytes: UnsafeRawBufferPointer, type: PQType, column: String) throws {
        guard type == .bytea else { throw PQError.decodingFailed(column: column, into: "Data") }
        self = Data(bytes)
    }
}

/// Conversions between `Date` and PostgreSQL timestamps (microseconds since 2000-01-01 UTC).
///
/// `Date` stores seconds since 2001-01-01 as a `Double`. Going through 1970 adds two more
/// roundings, and truncating instead of rounding turned about one value in six read from the
/// server into the previous microsecond when bound again. So: integer offsets to the
/// reference date, one division on the way in, one multiplication and a rounding on the way out.
enum PQTimestamp {
    /// Microseconds from 2000-01-01 (PostgreSQL's epoch) to 2001-01-01 (`Date`'s reference date).
    static let referenceDateOffset: Int64 = 31_622_400_000_000
    /// Microseconds from 1970-01-01 to 2000-01-01.
    static let unixToPostgres: Int64 = 946_684_800_000_000

    static func date(fromMicroseconds micros: Int64) -> Date {
        Date(timeIntervalSinceReferenceDate: Double(micros - referenceDateOffset) / 1_000_000)
    }

    /// The microsecond since the PostgreSQL epoch nearest to `date`.
    static func microseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSinceReferenceDate * 1_000_000).rounded()) + referenceDateOffset
    }

    /// An ISO 8601 UTC literal with microseconds, which PostgreSQL reads whatever its DateStyle.
    static func format(_ date: Date) -> String {
        let micros = microseconds(date) + unixToPostgres
        var seconds = micros / 1_000_000
        var fraction = micros % 1_000_000
        if fraction < 0 {
            fraction += 1_000_000
            seconds -= 1
        }
        // Civil-from-days (Howard Hinnant's algorithm), so no calendar or locale is involved.
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2)) \(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):"
            + "\(pad(secondOfDay % 60, 2)).\(pad(fraction, 6))+00"
    }
}

enum PQJSONCoding {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()
    static let decoder = JSONDecoder()
}

/// One-dimensional arrays (`text[]`, `bytea[]`, …) in PostgreSQL's binary array format: the
/// number of dimensions, a has-nulls flag, the element type, each dimension's length and lower
/// bound, then each element as a length (-1 for NULL) and its bytes. An empty array has no
/// dimension; a NULL element, or more than one dimension, is a decoding error.
extension Array: PQDecodable where Element: PQDecodable {
    public init(pqValue bytes: UnsafeRawBufferPointer, type: PQType, column: String) throws {
        var offset = 0
        func int32() throws -> Int32 {
            guard offset + 4 <= bytes.count else { throw PQError.decodingFailed(column: column, into: "Array") }
            defer { offset += 4 }
            return bigEndianInteger(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + 4]), as: Int32.self)
        }
        let dimensions = try int32()
        _ = try int32()  // has nulls: each element's length says it anyway
        let elementType = PQType(rawValue: UInt32(bitPattern: try int32()))
        guard dimensions == 0 || dimensions == 1 else { throw PQError.decodingFailed(column: column, into: "Array") }
        let count = dimensions == 0 ? 0 : Int(try int32())
        if dimensions == 1 { _ = try int32() }  // lower bound
        guard count >= 0, count <= bytes.count / 4 else { throw PQError.decodingFailed(column: column, into: "Array") }
        var elements: [Element] = []
        elements.reserveCapacity(count)
        for _ in 0..<count {
            let length = Int(try int32())
            guard length >= 0, offset + length <= bytes.count else { throw PQError.decodingFailed(column: column, into: "Array") }
            elements.append(
                try Element(pqValue: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length]), type: elementType, column: column)
            )
            offset += length
        }
        self = elements
    }
}
