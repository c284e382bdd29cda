/// A flat JSON object of strings, integers and booleans written straight to bytes: for the
/// small bodies made on every request (an error envelope, an event's `detail`), where
/// Foundation's `JSONEncoder` (a coder, a container per value, a dictionary of boxes) cost a
/// wrong-code verify about a tenth of the server's own CPU (bench/RESULTS.md, issue 27).
///
/// Keys are written in the order added; callers that promise sorted keys sort them. Strings are
/// escaped as `JSONEncoder` escapes them (the slash too), so the bytes are the same.
public struct FlatJSON: Sendable {
    public private(set) var bytes: [UInt8] = [UInt8(ascii: "{")]

    public init() {}

    public mutating func add(_ key: String, _ value: String) {
        self.key(key)
        Self.quote(value, into: &bytes)
    }

    public mutating func add(_ key: String, _ value: Int) {
        self.key(key)
        bytes.append(contentsOf: String(value).utf8)
    }

    public mutating func add(_ key: String, _ value: Bool) {
        self.key(key)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    /// `key` and its value, already JSON (a nested object or array).
    public mutating func add(_ key: String, json value: [UInt8]) {
        self.key(key)
        bytes.append(contentsOf: value)
    }

    /// The object, closed.
    public var object: [UInt8] { bytes + [UInt8(ascii: "}")] }

    private mutating func key(_ key: String) {
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
        Self.quote(key, into: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    /// `text` as a JSON string: quote, backslash, slash and control characters escaped.
    static func quote(_ text: String, into bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "/"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "/")])
            case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
