/// A data item of the CBOR subset WebAuthn needs (RFC 8949): integers, byte and text strings,
/// arrays, maps and the simple values false, true and null. Floats, tags, `undefined` and the
/// other simple values are refused by the decoder, so they have no case here.
public enum CBORValue: Sendable, Hashable {
    /// Major type 0: 0 … 2⁶⁴−1.
    case unsigned(UInt64)
    /// Major type 1: the value −1 − `n`, so −1 … −2⁶⁴.
    case negative(UInt64)
    case bytes([UInt8])
    /// Valid UTF-8, kept as sent (no normalization).
    case text(String)
    case array([CBORValue])
    case map(CBORMap)
    case bool(Bool)
    case null

    /// The value as an `Int`, when it is an integer that fits one.
    public var int: Int? {
        switch self {
        case .unsigned(let n): return n <= UInt64(Int.max) ? Int(n) : nil
        case .negative(let n): return n <= UInt64(Int.max) ? -1 - Int(n) : nil
        default: return nil
        }
    }

    public var bytes: [UInt8]? {
        if case .bytes(let bytes) = self { return bytes }
        return nil
    }

    public var text: String? {
        if case .text(let text) = self { return text }
        return nil
    }

    public var map: CBORMap? {
        if case .map(let map) = self { return map }
        return nil
    }
}

/// A CBOR map whose keys are integers or text strings, each at most once, in the order they
/// were encoded. WebAuthn's maps (attestation objects, COSE keys, extensions) need no other keys.
public struct CBORMap: Sendable, Hashable {
    /// A key's identity: text is compared by its UTF-8 bytes, as CBOR compares it, not by
    /// Unicode canonical equivalence as `String` is.
    enum Key: Hashable {
        case unsigned(UInt64)
        case negative(UInt64)
        case text([UInt8])

        init?(_ value: CBORValue) {
            switch value {
            case .unsigned(let n): self = .unsigned(n)
            case .negative(let n): self = .negative(n)
            case .text(let text): self = .text(Array(text.utf8))
            default: return nil
            }
        }

        init(_ int: Int) {
            self = int >= 0 ? .unsigned(UInt64(int)) : .negative(UInt64(-1 - int))
        }
    }

    public private(set) var keys: [CBORValue] = []
    public private(set) var values: [CBORValue] = []
    private var index: [Key: Int] = [:]

    public init() {}

    public var count: Int { keys.count }

    public subscript(key: Int) -> CBORValue? { index[Key(key)].map { values[$0] } }

    public subscript(key: String) -> CBORValue? { index[.text(Array(key.utf8))].map { values[$0] } }

    /// Adds an entry; false, and nothing added, when the key is already there.
    mutating func insert(key: Key, keyValue: CBORValue, value: CBORValue) -> Bool {
        guard index[key] == nil else { return false }
        index[key] = keys.count
        keys.append(keyValue)
        values.append(value)
        return true
    }
}

/// Why bytes are not a CBOR item of the subset, and where: `offset` is the first byte of the
/// data item at fault (for ``Kind/trailingBytes``, the first byte after the item).
public struct CBORError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
        /// More than ``CBOR/maxInputSize`` bytes.
        case inputTooLarge = "input_too_large"
        /// The input ends inside an item, or a length claims more bytes than remain.
        case truncated
        /// Additional information 28–30, or 31 on an integer: not well-formed CBOR.
        case reservedEncoding = "reserved_encoding"
        /// An indefinite-length string, array or map, or a "break" byte.
        case indefiniteLength = "indefinite_length"
        /// An integer or length in more bytes than its value needs (RFC 8949 §4.2.1).
        case nonMinimalEncoding = "non_minimal_encoding"
        case tagNotAllowed = "tag_not_allowed"
        case floatNotAllowed = "float_not_allowed"
        /// `undefined` or any simple value but false, true and null.
        case simpleValueNotAllowed = "simple_value_not_allowed"
        case invalidUTF8 = "invalid_utf8"
        /// Arrays and maps nested more than ``CBOR/maxDepth`` deep.
        case nestedTooDeep = "nested_too_deep"
        /// A map key that is neither an integer nor a text string.
        case mapKeyNotAllowed = "map_key_not_allowed"
        case duplicateMapKey = "duplicate_map_key"
        /// Bytes after the one item ``CBOR/decode(_:)`` expects.
        case trailingBytes = "trailing_bytes"
    }

    public let kind: Kind
    public let offset: Int

    public init(_ kind: Kind, at offset: Int) {
        self.kind = kind
        self.offset = offset
    }

    public var description: String { "CBOR \(kind.rawValue) at byte \(offset)" }
}

/// A strict decoder of the subset: definite lengths only, shortest integer and length
/// encodings, unique integer or text map keys, bounded depth and input size. No length is
/// trusted: each is checked against the bytes that remain before anything is read or reserved,
/// so a claimed length never allocates.
public enum CBOR {
    /// The largest input accepted; WebAuthn's attestation objects are a few hundred bytes.
    public static let maxInputSize = 65_536
    /// The deepest nesting of arrays and maps; a COSE key inside an attestation object is two.
    public static let maxDepth = 16

    /// The one item that `bytes` holds, with nothing after it.
    public static func decode(_ bytes: [UInt8]) throws(CBORError) -> CBORValue {
        try decode(bytes[...])
    }

    /// The one item that `bytes` holds; offsets in errors count from `bytes`' start.
    public static func decode(_ bytes: ArraySlice<UInt8>) throws(CBORError) -> CBORValue {
        let (value, rest) = try decodeFirst(bytes)
        guard rest.isEmpty else { throw CBORError(.trailingBytes, at: rest.startIndex - bytes.startIndex) }
        return value
    }

    /// The first item of `bytes` and the bytes after it (authenticator data puts a COSE key and
    /// then an extensions map one after the other). Offsets in errors count from `bytes`' start.
    public static func decodeFirst(_ bytes: ArraySlice<UInt8>) throws(CBORError) -> (value: CBORValue, rest: ArraySlice<UInt8>) {
        guard bytes.count <= maxInputSize else { throw CBORError(.inputTooLarge, at: maxInputSize) }
        var reader = Reader(bytes: bytes)
        let value = try reader.item(depth: 0)
        return (value, bytes[reader.position...])
    }
}

/// Reads items from a slice; `position` is an index of `bytes`.
private struct Reader {
    let bytes: ArraySlice<UInt8>
    var position: Int

    init(bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.position = bytes.startIndex
    }

    var offset: Int { position - bytes.startIndex }
    var remaining: Int { bytes.endIndex - position }

    /// One item whose enclosing arrays and maps number `depth`.
    mutating func item(depth: Int) throws(CBORError) -> CBORValue {
        let start = offset
        guard remaining > 0 else { throw CBORError(.truncated, at: start) }
        let initial = bytes[position]
        position += 1
        let major = initial >> 5
        let info = initial & 0x1F
        if major == 6 { throw CBORError(.tagNotAllowed, at: start) }
        if major == 7 { return try simple(info, start: start) }
        if info == 31 { throw CBORError(major >= 2 ? .indefiniteLength : .reservedEncoding, at: start) }
        let argument = try argument(info, start: start)
        switch major {
        case 0:
            return .unsigned(argument)
        case 1:
            return .negative(argument)
        case 2:
            return .bytes(Array(try take(argument, start: start)))
        case 3:
            let raw = try take(argument, start: start)
            guard let text = String(validating: raw, as: UTF8.self) else { throw CBORError(.invalidUTF8, at: start) }
            return .text(text)
        case 4:
            guard depth < CBOR.maxDepth else { throw CBORError(.nestedTooDeep, at: start) }
            // Each element takes at least one byte, so a count above what remains is a lie.
            guard argument <= UInt64(remaining) else { throw CBORError(.truncated, at: start) }
            var elements: [CBORValue] = []
            elements.reserveCapacity(Int(argument))
            for _ in 0..<argument { elements.append(try item(depth: depth + 1)) }
            return .array(elements)
        default:
            guard depth < CBOR.maxDepth else { throw CBORError(.nestedTooDeep, at: start) }
            // Each entry takes at least two bytes, a key and a value.
            guard argument <= UInt64(remaining / 2) else { throw CBORError(.truncated, at: start) }
            var map = CBORMap()
            for _ in 0..<argument {
                let keyStart = offset
                let keyValue = try item(depth: depth + 1)
                guard let key = CBORMap.Key(keyValue) else { throw CBORError(.mapKeyNotAllowed, at: keyStart) }
                let value = try item(depth: depth + 1)
                guard map.insert(key: key, keyValue: keyValue, value: value) else { throw CBORError(.duplicateMapKey, at: keyStart) }
            }
            return .map(map)
        }
    }

    /// Major type 7: false, true and null; everything else is refused with the reason.
    private mutating func simple(_ info: UInt8, start: Int) throws(CBORError) -> CBORValue {
        switch info {
        case 20: return .bool(false)
        case 21: return .bool(true)
        case 22: return .null
        case 25, 26, 27: throw CBORError(.floatNotAllowed, at: start)
        case 28, 29, 30: throw CBORError(.reservedEncoding, at: start)
        case 31: throw CBORError(.indefiniteLength, at: start)
        default: throw CBORError(.simpleValueNotAllowed, at: start)  // 0–19, undefined (23), one-byte simple values (24)
        }
    }

    /// The integer an initial byte's additional information (0–27) carries, in its shortest form only.
    private mutating func argument(_ info: UInt8, start: Int) throws(CBORError) -> UInt64 {
        // How many bytes follow, and the smallest value they may carry: one that fits a shorter
        // form must use it.
        let size: UInt64
        let smallest: UInt64
        switch info {
        case 0..<24: return UInt64(info)
        case 24: (size, smallest) = (1, 24)
        case 25: (size, smallest) = (2, 0x100)
        case 26: (size, smallest) = (4, 0x1_0000)
        case 27: (size, smallest) = (8, 0x1_0000_0000)
        default: throw CBORError(.reservedEncoding, at: start)
        }
        var value: UInt64 = 0
        for byte in try take(size, start: start) { value = value << 8 | UInt64(byte) }
        guard value >= smallest else { throw CBORError(.nonMinimalEncoding, at: start) }
        return value
    }

    /// The next `count` bytes; `truncated`, for the item starting at `start`, when fewer remain.
    private mutating func take(_ count: UInt64, start: Int) throws(CBORError) -> ArraySlice<UInt8> {
        guard count <= UInt64(remaining) else { throw CBORError(.truncated, at: start) }
        let end = position + Int(count)
        defer { position = end }
        return bytes[position..<end]
    }
}
