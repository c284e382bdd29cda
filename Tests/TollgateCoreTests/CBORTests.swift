import Testing

@testable import TollgateCore

/// The CBOR decoder reads RFC 8949's examples that fall in WebAuthn's subset exactly as the RFC
/// says, and refuses everything outside the subset, or not well-formed, with the reason and
/// the offset of the item at fault.
@Suite struct CBORTests {
    /// RFC 8949 Appendix A: the encoded bytes and the value, for every example of the subset.
    @Test(
        arguments: [
            ("00", .unsigned(0)), ("01", .unsigned(1)), ("0a", .unsigned(10)), ("17", .unsigned(23)),
            ("1818", .unsigned(24)), ("1819", .unsigned(25)), ("1864", .unsigned(100)), ("1903e8", .unsigned(1000)),
            ("1a000f4240", .unsigned(1_000_000)), ("1b000000e8d4a51000", .unsigned(1_000_000_000_000)),
            ("1bffffffffffffffff", .unsigned(.max)), ("3bffffffffffffffff", .negative(.max)),
            ("20", .negative(0)), ("29", .negative(9)), ("3863", .negative(99)), ("3903e7", .negative(999)),
            ("f4", .bool(false)), ("f5", .bool(true)), ("f6", .null),
            ("40", .bytes([])), ("4401020304", .bytes([1, 2, 3, 4])),
            ("60", .text("")), ("6161", .text("a")), ("6449455446", .text("IETF")), ("62225c", .text("\"\\")),
            ("62c3bc", .text("\u{fc}")), ("63e6b0b4", .text("\u{6c34}")), ("64f0908591", .text("\u{10151}")),
            ("80", .array([])), ("83010203", .array([.unsigned(1), .unsigned(2), .unsigned(3)])),
            ("8301820203820405", .array([.unsigned(1), .array([.unsigned(2), .unsigned(3)]), .array([.unsigned(4), .unsigned(5)])])),
            ("98190102030405060708090a0b0c0d0e0f101112131415161718181819", .array((1...25).map { .unsigned($0) })),
            ("a0", .map(cborMap([]))),
            ("a201020304", .map(cborMap([(.unsigned(1), .unsigned(2)), (.unsigned(3), .unsigned(4))]))),
            ("a26161016162820203", .map(cborMap([(.text("a"), .unsigned(1)), (.text("b"), .array([.unsigned(2), .unsigned(3)]))]))),
            ("826161a161626163", .array([.text("a"), .map(cborMap([(.text("b"), .text("c"))]))])),
            (
                "a56161614161626142616361436164614461656145",
                .map(cborMap(["a", "b", "c", "d", "e"].map { (.text($0), .text($0.uppercased())) }))
            ),
        ] as [(String, CBORValue)]
    )
    func rfc8949Examples(hex: String, value: CBORValue) throws {
        #expect(try CBOR.decode(bytes(hex)) == value)
    }

    /// The integers' edges: each encoded in its shortest form reads back as its value.
    @Test func integersAtEveryLengthBoundary() throws {
        let cases: [(String, Int)] = [
            ("17", 23), ("1818", 24), ("18ff", 255), ("190100", 256), ("19ffff", 65_535), ("1a00010000", 65_536),
            ("1affffffff", 4_294_967_295), ("1b0000000100000000", 4_294_967_296),
            ("37", -24), ("3818", -25), ("38ff", -256), ("390100", -257),
        ]
        for (hex, int) in cases { #expect(try CBOR.decode(bytes(hex)).int == int, "\(hex)") }
        // −2⁶⁴ and 2⁶⁴−1 are values, but not of `Int`.
        #expect(try CBOR.decode(bytes("3bffffffffffffffff")).int == nil)
        #expect(try CBOR.decode(bytes("1bffffffffffffffff")).int == nil)
    }

    /// Every refusal: the input, the reason and the offset of the item at fault.
    @Test(
        arguments: [
            // The input ends inside an item, or a length or count claims more than remains.
            ("", .truncated, 0), ("18", .truncated, 0), ("1900", .truncated, 0), ("1b00000000000001", .truncated, 0),
            ("4201", .truncated, 0), ("6261", .truncated, 0), ("8200", .truncated, 0), ("a101", .truncated, 0),
            ("820118", .truncated, 2), ("a20102", .truncated, 0), ("a1016261", .truncated, 2),
            ("5bffffffffffffffff", .truncated, 0), ("7b7fffffffffffffff", .truncated, 0),
            ("9bffffffffffffffff", .truncated, 0), ("bb0000000100000000", .truncated, 0), ("9a0001000000", .truncated, 0),
            ("82005a00010000", .truncated, 2),
            // Integers and lengths in more bytes than they need.
            ("1800", .nonMinimalEncoding, 0), ("1817", .nonMinimalEncoding, 0), ("1900ff", .nonMinimalEncoding, 0),
            ("1a0000ffff", .nonMinimalEncoding, 0), ("1b00000000ffffffff", .nonMinimalEncoding, 0),
            ("3800", .nonMinimalEncoding, 0), ("5800", .nonMinimalEncoding, 0), ("780161", .nonMinimalEncoding, 0),
            ("9800", .nonMinimalEncoding, 0), ("b800", .nonMinimalEncoding, 0), ("8119000a", .nonMinimalEncoding, 1),
            // Reserved additional information, and 31 on an integer.
            ("1c", .reservedEncoding, 0), ("1d", .reservedEncoding, 0), ("1e", .reservedEncoding, 0), ("1f", .reservedEncoding, 0),
            ("3f", .reservedEncoding, 0), ("5c", .reservedEncoding, 0), ("fc", .reservedEncoding, 0), ("fe", .reservedEncoding, 0),
            // Indefinite lengths (RFC 8949 Appendix A's), and a lone break.
            ("5f42010243030405ff", .indefiniteLength, 0), ("7f657374726561646d696e67ff", .indefiniteLength, 0),
            ("9fff", .indefiniteLength, 0), ("9f018202039f0405ffff", .indefiniteLength, 0),
            ("bf61610161629f0203ffff", .indefiniteLength, 0), ("ff", .indefiniteLength, 0), ("8201ff", .indefiniteLength, 2),
            // Tags (RFC 8949 Appendix A's), also where a bignum would stand for an integer.
            ("c074323031332d30332d32315432303a30343a30305a", .tagNotAllowed, 0), ("c11a514b67b0", .tagNotAllowed, 0),
            ("c249010000000000000000", .tagNotAllowed, 0), ("c349010000000000000000", .tagNotAllowed, 0),
            ("d74401020304", .tagNotAllowed, 0), ("d818456449455446", .tagNotAllowed, 0), ("a101c100", .tagNotAllowed, 2),
            // Floats of every width (RFC 8949 Appendix A's).
            ("f90000", .floatNotAllowed, 0), ("f93c00", .floatNotAllowed, 0), ("fa47c35000", .floatNotAllowed, 0),
            ("fb3ff199999999999a", .floatNotAllowed, 0), ("f97c00", .floatNotAllowed, 0), ("fb7ff8000000000000", .floatNotAllowed, 0),
            // Simple values but false, true and null.
            ("f7", .simpleValueNotAllowed, 0), ("f0", .simpleValueNotAllowed, 0), ("f8ff", .simpleValueNotAllowed, 0),
            ("e0", .simpleValueNotAllowed, 0), ("f818", .simpleValueNotAllowed, 0),
            // Text that is not UTF-8: a lone continuation byte, an overlong form, a surrogate, past U+10FFFF.
            ("61ff", .invalidUTF8, 0), ("6180", .invalidUTF8, 0), ("62c080", .invalidUTF8, 0), ("63eda080", .invalidUTF8, 0),
            ("64f4908080", .invalidUTF8, 0), ("8262c3bc61c3", .invalidUTF8, 4),
            // Map keys that are neither integers nor text.
            ("a14000", .mapKeyNotAllowed, 1), ("a18000", .mapKeyNotAllowed, 1), ("a1f600", .mapKeyNotAllowed, 1),
            ("a1a000", .mapKeyNotAllowed, 1), ("a1f400", .mapKeyNotAllowed, 1),
            // A key twice: integers, negative integers, text.
            ("a201000100", .duplicateMapKey, 3), ("a3010020000100", .duplicateMapKey, 5), ("a2616100616101", .duplicateMapKey, 4),
            ("a1646d61707aa2200020f6", .duplicateMapKey, 9),
        ] as [(String, CBORError.Kind, Int)]
    )
    func refusals(hex: String, kind: CBORError.Kind, offset: Int) {
        #expect(throws: CBORError(kind, at: offset)) { try CBOR.decode(bytes(hex)) }
    }

    @Test func decodeFirstReturnsTheRestAndDecodeRefusesIt() throws {
        let input = ArraySlice(bytes("a10102ff00"))
        let (value, rest) = try CBOR.decodeFirst(input)
        #expect(value == .map(cborMap([(.unsigned(1), .unsigned(2))])))
        #expect(Array(rest) == [0xFF, 0x00])
        #expect(throws: CBORError(.trailingBytes, at: 3)) { try CBOR.decode(input) }
        // Offsets count from the slice's start, wherever it lies in its array.
        let padded = bytes("0000a1010240")
        #expect(throws: CBORError(.trailingBytes, at: 3)) { try CBOR.decode(padded[2...]) }
        #expect(throws: CBORError(.truncated, at: 0)) { try CBOR.decode(padded[6...]) }
    }

    @Test func nestingDeeperThanTheLimitIsRefused() throws {
        let limit = CBOR.maxDepth
        let deepest = [UInt8](repeating: 0x81, count: limit) + [0x00]
        #expect(throws: Never.self) { try CBOR.decode(deepest) }
        #expect(throws: CBORError(.nestedTooDeep, at: limit)) { try CBOR.decode([0x81] + deepest) }
        // Maps count as arrays do: a map whose values nest to one level too many.
        let maps = [UInt8]((0..<limit).flatMap { _ in [0xA1, 0x00] }) + [0x80]
        #expect(throws: CBORError(.nestedTooDeep, at: 2 * limit)) { try CBOR.decode(maps) }
    }

    @Test func inputsLargerThanTheLimitAreRefusedBeforeReading() throws {
        // A byte string of exactly the limit (a 3-byte head and its content) is read ...
        let fits = [0x59, 0xFF, 0xFD] + [UInt8](repeating: 7, count: CBOR.maxInputSize - 3)
        #expect(try CBOR.decode(fits).bytes?.count == CBOR.maxInputSize - 3)
        // ... one byte more is not, whatever it holds.
        let larger = [UInt8](repeating: 0, count: CBOR.maxInputSize + 1)
        #expect(throws: CBORError(.inputTooLarge, at: CBOR.maxInputSize)) { try CBOR.decode(larger) }
    }

    @Test func mapsAreLookedUpByIntegerAndTextKeys() throws {
        // A COSE key's shape: {1: 2, 3: -7, -1: 1, -2: h'01', "x": null}.
        let value = try CBOR.decode(bytes("a50102032620012141016178f6"))
        let map = try #require(value.map)
        #expect(map.count == 5)
        #expect(map[1]?.int == 2)
        #expect(map[3]?.int == -7)
        #expect(map[-1]?.int == 1)
        #expect(map[-2]?.bytes == [1])
        #expect(map["x"] == .null)
        #expect(map[2] == nil)
        #expect(map["y"] == nil)
        #expect(map.keys == [.unsigned(1), .unsigned(3), .negative(0), .negative(1), .text("x")])
        // 0 and -1 are different keys, and so are "e\u{301}" and "\u{e9}", which Swift's String
        // calls equal.
        #expect(throws: Never.self) { try CBOR.decode(bytes("a200002000")) }
        #expect(throws: Never.self) { try CBOR.decode(bytes("a26365cc810062c3a900")) }
    }

    /// Refusals say what and where, and nothing of the content.
    @Test func errorsDescribeThemselves() {
        #expect(CBORError(.duplicateMapKey, at: 3).description == "CBOR duplicate_map_key at byte 3")
    }

    /// Whatever the test encoder writes (shortest forms, definite lengths) reads back as itself.
    @Test func encodedValuesReadBack() throws {
        var generator = SystemRandomNumberGenerator()
        func value(depth: Int) -> CBORValue {
            switch Int.random(in: 0..<(depth < 4 ? 9 : 7), using: &generator) {
            case 0: return .unsigned(UInt64.random(in: 0...UInt64.max, using: &generator) >> UInt64.random(in: 0...63, using: &generator))
            case 1: return .negative(UInt64.random(in: 0...UInt64.max, using: &generator) >> UInt64.random(in: 0...63, using: &generator))
            // Long enough at the top to need 2-byte lengths; short inside, to stay under the size limit.
            case 2: return .bytes(SecureRandom.bytes(Int.random(in: 0...(depth == 0 ? 300 : 40), using: &generator)))
            case 3: return .text(String(repeating: "é€𐅑a", count: Int.random(in: 0...6, using: &generator)))
            case 4: return .bool(Bool.random(using: &generator))
            case 5: return .null
            case 6: return .text("")
            case 7: return .array((0..<Int.random(in: 0...5, using: &generator)).map { _ in value(depth: depth + 1) })
            default:
                let count = Int.random(in: 0...5, using: &generator)
                return .map(cborMap((0..<count).map { (.negative(UInt64($0)), value(depth: depth + 1)) }))
            }
        }
        for _ in 0..<300 {
            let original = value(depth: 0)
            #expect(try CBOR.decode(encodeCBOR(original)) == original)
        }
    }
}

/// A map of `entries` (test data only: a key that is not an integer or text, or a repeated one, traps).
func cborMap(_ entries: [(CBORValue, CBORValue)]) -> CBORMap {
    var map = CBORMap()
    for (key, value) in entries { precondition(map.insert(key: CBORMap.Key(key)!, keyValue: key, value: value)) }
    return map
}

/// The shortest definite-length encoding of `value`: the tests' encoder, for building inputs.
func encodeCBOR(_ value: CBORValue) -> [UInt8] {
    func head(_ major: UInt8, _ argument: UInt64) -> [UInt8] {
        let type = major << 5
        switch argument {
        case 0..<24: return [type | UInt8(argument)]
        case 24...0xFF: return [type | 24, UInt8(argument)]
        case 0x100...0xFFFF: return [type | 25] + (0..<2).reversed().map { UInt8(truncatingIfNeeded: argument >> (8 * $0)) }
        case 0x1_0000...0xFFFF_FFFF: return [type | 26] + (0..<4).reversed().map { UInt8(truncatingIfNeeded: argument >> (8 * $0)) }
        default: return [type | 27] + (0..<8).reversed().map { UInt8(truncatingIfNeeded: argument >> (8 * $0)) }
        }
    }
    switch value {
    case .unsigned(let n): return head(0, n)
    case .negative(let n): return head(1, n)
    case .bytes(let bytes): return head(2, UInt64(bytes.count)) + bytes
    case .text(let text): return head(3, UInt64(text.utf8.count)) + Array(text.utf8)
    case .array(let elements): return head(4, UInt64(elements.count)) + elements.flatMap(encodeCBOR)
    case .map(let map): return head(5, UInt64(map.count)) + zip(map.keys, map.values).flatMap { encodeCBOR($0) + encodeCBOR($1) }
    case .bool(let bool): return [bool ? 0xF5 : 0xF4]
    case .null: return [0xF6]
    }
}

/// The bytes a hexadecimal string spells (test data only: a malformed string traps).
func bytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.utf8)
    precondition(digits.count % 2 == 0, "an odd number of hex digits")
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
}
