import Foundation
import PQ
import PostgresTestSupport
import Testing

/// Every supported Swift type goes to the server as a bind and comes back in binary format unchanged.
@Suite struct PQValueTests {
    /// Binds `value`, selects it back and decodes it as its own type.
    static func roundTrip<T: PQEncodable & PQDecodable>(_ value: T, on pool: PQPool) async throws -> T {
        let rows = try await pool.query("SELECT \(value) AS v")
        return try #require(rows.first).decode("v", as: T.self)
    }

    @Test(.scratchDatabase) func integerExtremesRoundTrip() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool()
        for value in [Int.min, -1, 0, 1, Int.max] {
            #expect(try await Self.roundTrip(value, on: pool) == value)
        }
        for value in [Int32.min, -1, 0, Int32.max] {
            #expect(try await Self.roundTrip(value, on: pool) == value)
        }
        for value in [Int64.min, 0, Int64.max] {
            #expect(try await Self.roundTrip(value, on: pool) == value)
        }
        // Narrower server types widen into Int; a wide value refuses to narrow into Int32.
        let row = try #require(
            try await pool.query("SELECT (-32768)::int2 AS small, 4294967295::oid AS oid, \(Int64(Int32.max) + 1) AS wide").first
        )
        #expect(try row.decode("small", as: Int.self) == -32768)
        #expect(try row.decode("oid", as: Int.self) == 4_294_967_295)
        let error = try #require(throws: PQError.self) { try row.decode("wide", as: Int32.self) }
        #expect(error.kind == .decoding)
        #expect(error.message.contains("wide"))
        await pool.close()
    }

    @Test(.scratchDatabase) func boolsAndDoublesIncludingNaNAndInfinitiesRoundTrip() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool()
        #expect(try await Self.roundTrip(true, on: pool) == true)
        #expect(try await Self.roundTrip(false, on: pool) == false)
        let doubles: [Double] = [
            0, -0.0, 0.1, -1.5, .pi, 1e-300, .leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude,
            -.greatestFiniteMagnitude, .infinity, -.infinity,
        ]
        for value in doubles {
            let back = try await Self.roundTrip(value, on: pool)
            #expect(back.bitPattern == value.bitPattern, "\(value) came back as \(back)")
        }
        #expect(try await Self.roundTrip(Double.nan, on: pool).isNaN)
        // The server sees the values as numbers, not as text.
        let row = try #require(
            try await pool.query("SELECT \(Double.infinity) > \(Double.greatestFiniteMagnitude) AS bigger, 1.5::float4 AS single").first
        )
        #expect(try row.decode("bigger", as: Bool.self))
        #expect(try row.decode("single", as: Double.self) == 1.5)
        await pool.close()
    }

    @Test(.scratchDatabase) func unicodeStringsRoundTripByteForByte() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool()
        let strings = [
            "", "plain ascii", "👩‍👩‍👧‍👦 family emoji", "e\u{301} combining acute",
            "\u{0645}\u{0631}\u{062D}\u{0628}\u{0627} RTL",
            "\u{202E}override", "日本語テキスト", "line\nbreak\ttab", String(repeating: "ü", count: 10_000),
        ]
        for value in strings {
            let back = try await Self.roundTrip(value, on: pool)
            // Compare the bytes: Swift's == would also accept a differently normalised string.
            #expect(Array(back.utf8) == Array(value.utf8))
        }
        // The server counts characters the same way PostgreSQL's UTF-8 does.
        let row = try #require(try await pool.query("SELECT length(\("e\u{301}")) AS n").first)
        #expect(try row.decode("n", as: Int.self) == 2)
        await pool.close()
    }

    /// PostgreSQL text cannot hold NUL; a value containing one must be refused, never cut short
    /// (which would silently turn "a@x.com\0junk" into another value).
    @Test(.scratchDatabase) func aStringWithANulByteIsRefusedNotTruncated() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool()
        let error = try await #require(throws: PQError.self) {
            try await pool.query("SELECT \("before\u{0}after") AS v")
        }
        #expect(error.sqlState == "22021")
        #expect(!error.message.contains("before"))
        await pool.close()
    }

    @Test(.scratchDatabase) func byteaWithZeroBytesAndAll256ValuesRoundTrips() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool()
        let all = Data((0...255).map { UInt8($0) })
        let zeros = Data([0, 0, 1, 0, 0])
        #expect(try await Self.roundTrip(all, on: pool) == all)
        #expect(try await Self.roundTrip(zeros, on: pool) == zeros)
        #expect(try await Self.roundTrip(Data(), on: pool) == Data())
        let row = try #require(try await pool.query("SELECT length(\(all)) AS n, \([UInt8]([0, 255])) AS raw").first)
        #expect(try row.decode("n", as: Int.self) == 256)
        #expect(try row.decode("raw", as: Data.self) == Data([0, 255]))
        await pool.close()
    }

    @Test(.scratchDatabase) func uuidsRoundTripAndMatchTheServersText() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool()
        let id = UUID()
        #expect(try await Self.roundTrip(id, on: pool) == id)
        let zero = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        #expect(try await Self.roundTrip(zero, on: pool) == zero)
        let row = try #require(
            try await pool.query("SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, \(id)::text AS t").first
        )
        #expect(try row.decode("u", as: UUID.self) == UUID(uuidString: "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"))
        #expect(try row.decode("t", as: String.self) == id.uuidString.lowercased())
        await pool.close()
    }

    /// `lowercasedString` (formatted by hand, for the hot path) is Foundation's text lowercased, for
    /// every nibble in every position, and what the server prints for the same id.
    @Test(.scratchDatabase) func theHandFormattedTextIsFoundationsLowercasedAndTheServers() async throws {
        var samples = (0..<500).map { _ in UUID() }
        samples.append(UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
        samples.append(UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255)))
        samples.append(UUID(uuid: (0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10)))
        for id in samples {
            #expect(id.lowercasedString == id.uuidString.lowercased())
        }
        let pool = try ScratchDatabase.current.pool()
        let id = samples[samples.count - 1]
        let row = try #require(try await pool.query("SELECT \(id)::text AS t, \(id) = \(id.uuidString)::uuid AS same").first)
        #expect(try row.decode("t", as: String.self) == "01234567-89ab-cdef-fedc-ba9876543210")
        #expect(try row.decode("same", as: Bool.self))
        await pool.close()
    }

    @Test(.scratchDatabase) func datesKeepMicrosecondsWhateverTheSessionTimeZone() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool()
        // 2024-03-10 12:34:56.123456 UTC, and values either side of the PostgreSQL and Unix epochs.
        let literal = "2024-03-10 12:34:56.123456+00"
        let expected = Date(timeIntervalSince1970: 1_710_074_096.123456)
        // (Expectations are checked here, not in the transaction body, which runs on a pool thread.)
        let (zone, decoded, same) = try await pool.withTransaction(settings: [("TimeZone", "Pacific/Chatham")]) { tx in
            let row = try tx.query("SELECT \(unsafeSQL: "'\(literal)'")::timestamptz AS t, current_setting('TimeZone') AS zone")
                .firstRow()
            let decoded = try row.decode("t", as: Date.self)
            // The decoded Date, bound again, is the same instant to the microsecond.
            let same = try tx.query("SELECT \(decoded) = \(unsafeSQL: "'\(literal)'")::timestamptz AS same").firstRow()
            return (try row.decode("zone", as: String.self), decoded, try same.decode("same", as: Bool.self))
        }
        #expect(zone == "Pacific/Chatham")
        #expect(abs(decoded.timeIntervalSince1970 - expected.timeIntervalSince1970) < 0.000_000_5)
        #expect(same)
        let instants: [Double] = [
            1_710_074_096.123456, 1_710_074_096.999999, 1_710_074_096.000001, 946_684_800.000001, 946_684_799.999999,
            -0.000001, -1_234_567_890.654321, 4_102_444_800.5, 1_700_000_000.100001,
        ]
        for seconds in instants {
            let date = Date(timeIntervalSince1970: seconds)
            let back = try await pool.withTransaction(settings: [("TimeZone", "Pacific/Chatham")]) { tx in
                try tx.query("SELECT \(date) AS t").firstRow().decode("t", as: Date.self)
            }
            #expect(abs(back.timeIntervalSince1970 - seconds) < 0.000_000_5, "\(seconds) came back as \(back.timeIntervalSince1970)")
            // The server received the right microsecond, not one off by a rounding error.
            let micros = try #require(
                try await pool.query("SELECT (extract(epoch FROM \(date)) * 1000000)::int8 AS us").first
            ).decode("us", as: Int64.self)
            #expect(micros == Int64((seconds * 1_000_000).rounded()), "\(seconds) reached the server as \(micros) µs")
        }
        await pool.close()
    }

    /// Read a timestamp, write it back: it must be the same microsecond (keyset pagination and
    /// optimistic checks compare them for equality). Checked on many server-made instants.
    @Test(.scratchDatabase) func aDecodedTimestampBindsBackToTheSameMicrosecond() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool()
        let mismatches = try await pool.withTransaction { tx -> [String] in
            let rows = try tx.query(
                """
                SELECT n, timestamptz 'epoch' + n * interval '1 microsecond' AS t
                FROM (SELECT (floor(random() * 6e15) - 2e15)::int8 AS n FROM generate_series(1, 400)) AS s
                """
            )
            var mismatches: [String] = []
            for row in rows {
                let micros = try row.decode("n", as: Int64.self)
                let date = try row.decode("t", as: Date.self)
                let back = try tx.query("SELECT (extract(epoch FROM \(date)) * 1000000)::int8 AS n").firstRow().decode("n", as: Int64.self)
                if back != micros { mismatches.append("\(micros) came back as \(back)") }
            }
            return mismatches
        }
        #expect(mismatches.count == 0, "\(mismatches.count) of 400: \(mismatches.prefix(3))")
        await pool.close()
    }

    struct Profile: Codable, Equatable, Sendable {
        var name: String
        var count: Int
        var tags: [String]
        var nested: [String: Double]
        var missing: String?
    }

    @Test(.scratchDatabase) func jsonbDecodesIntoACodableStruct() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool()
        let profile = Profile(name: "Zoë \"quoted\"", count: 3, tags: ["a", "b"], nested: ["x": 1.5], missing: nil)
        let row = try #require(
            try await pool.query(
                "SELECT \(PQJSON(profile)) AS j, \(PQJSON(profile))->>'name' AS name, jsonb_typeof(\(PQJSON(profile))) AS kind"
            ).first
        )
        #expect(try row.decode("j", as: PQJSON<Profile>.self).value == profile)
        #expect(try row.decode("name", as: String.self) == profile.name)
        #expect(try row.decode("kind", as: String.self) == "object")
        // A jsonb column written by SQL decodes too, and as text.
        let written = try #require(
            try await pool.query(#"SELECT '{"name":"n","count":1,"tags":[],"nested":{}}'::jsonb AS j"#).first
        )
        #expect(try written.decode("j", as: PQJSON<Profile>.self).value == Profile(name: "n", count: 1, tags: [], nested: [:]))
        #expect(try written.decode("j", as: String.self).contains("\"count\": 1"))
        await pool.close()
    }

    struct Measurement: Codable, Sendable {
        var value: Double
    }

    /// JSON cannot hold NaN: a value that cannot be encoded must fail the statement, not be
    /// stored as JSON null.
    @Test(.scratchDatabase) func aValueThatCannotBeEncodedAsJSONFailsTheStatement() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool(as: .owner)
        try await pool.query("CREATE TABLE readings (body jsonb)")
        let error = try await #require(throws: PQError.self) {
            try await pool.query(("INSERT INTO readings VALUES (\(PQJSON(Measurement(value: .nan))))" as PQQuery).named("readings.insert"))
        }
        #expect(error.kind == .usage)
        #expect(error.statement == "readings.insert")
        let stored = try #require(try await pool.query("SELECT count(*) AS n FROM readings").first).decode("n", as: Int.self)
        #expect(stored == 0)
        await pool.close()
    }

    @Test(.scratchDatabase) func nullsDecodeIntoOptionalsAndNilBindsAsNull() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool()
        let row = try #require(
            try await pool.query(
                """
                SELECT NULL::int8 AS i, NULL::int4 AS i4, NULL::bool AS b, NULL::float8 AS d, NULL::text AS s,
                       NULL::bytea AS data, NULL::uuid AS u, NULL::timestamptz AS t, NULL::jsonb AS j,
                       \(Int?.none) IS NULL AS bound_null, \(String?.some("x")) AS bound_some
                """
            ).first
        )
        #expect(try row.decode("i", as: Int?.self) == nil)
        #expect(try row.decode("i", as: Int64?.self) == nil)
        #expect(try row.decode("i4", as: Int32?.self) == nil)
        #expect(try row.decode("b", as: Bool?.self) == nil)
        #expect(try row.decode("d", as: Double?.self) == nil)
        #expect(try row.decode("s", as: String?.self) == nil)
        #expect(try row.decode("data", as: Data?.self) == nil)
        #expect(try row.decode("u", as: UUID?.self) == nil)
        #expect(try row.decode("t", as: Date?.self) == nil)
        #expect(try row.decode("j", as: PQJSON<Profile>?.self) == nil)
        #expect(try row.decode("bound_null", as: Bool.self))
        #expect(try row.decode("bound_some", as: String?.self) == "x")
        await pool.close()
    }

    @Test(.scratchDatabase) func nullIntoANonOptionalIsADecodingErrorNamingTheColumn() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool()
        let row = try #require(try await pool.query("SELECT NULL::int8 AS missing_count").first)
        let error = try #require(throws: PQError.self) { try row.decode("missing_count", as: Int.self) }
        #expect(error.kind == .decoding)
        #expect(error.message.contains("missing_count"))
        await pool.close()
    }

    @Test(.scratchDatabase) func aTypeMismatchIsADecodingErrorNamingTheColumn() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool()
        let row = try #require(
            try await pool.query(
                """
                SELECT 'abc'::text AS label, 42::int8 AS answer, 12.50::numeric AS price, '2024-01-02'::date AS day,
                       '1 hour'::interval AS span, '10.0.0.1'::inet AS address, ARRAY['a'] AS list
                """
            ).first
        )
        let cases: [(String, @Sendable (PQRow) throws -> Void)] = [
            ("label", { _ = try $0.decode("label", as: Int.self) }),
            ("label", { _ = try $0.decode("label", as: UUID.self) }),
            ("label", { _ = try $0.decode("label", as: Date.self) }),
            ("answer", { _ = try $0.decode("answer", as: String.self) }),
            ("answer", { _ = try $0.decode("answer", as: Bool.self) }),
            // Binary formats that are not text must not be read as if they were.
            ("price", { _ = try $0.decode("price", as: String.self) }),
            ("price", { _ = try $0.decode("price", as: Double.self) }),
            ("day", { _ = try $0.decode("day", as: String.self) }),
            ("span", { _ = try $0.decode("span", as: String.self) }),
            ("address", { _ = try $0.decode("address", as: String.self) }),
            ("list", { _ = try $0.decode("list", as: String.self) }),
        ]
        for (column, decode) in cases {
            let error = try #require(throws: PQError.self, "decoding \(column)") { try decode(row) }
            #expect(error.kind == .decoding)
            #expect(error.message.contains(column))
        }
        let missing = try #require(throws: PQError.self) { try row.decode("nope", as: Int.self) }
        #expect(missing.kind == .usage)
        await pool.close()
    }

    @Test(.scratchDatabase) func textLikeColumnsIncludingEnumsDecodeAsString() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool(as: .owner)
        try await pool.query("CREATE TYPE mood AS ENUM ('happy', 'sad')")
        let row = try #require(
            try await pool.query(
                """
                SELECT 'sad'::mood AS mood, 'ab'::char(4) AS padded, current_user AS role, 'lit' AS literal,
                       'x'::"char" AS byte, '<a/>'::xml AS doc, '{"k": 1}'::json AS j, 'v'::varchar(5) AS v
                """
            ).first
        )
        #expect(try row.decode("mood", as: String.self) == "sad")
        #expect(try row.decode("padded", as: String.self) == "ab  ")
        #expect(try row.decode("role", as: String.self) == "tollgate")
        #expect(try row.decode("literal", as: String.self) == "lit")
        #expect(try row.decode("byte", as: String.self) == "x")
        #expect(try row.decode("doc", as: String.self) == "<a/>")
        #expect(try row.decode("j", as: String.self) == #"{"k": 1}"#)
        #expect(try row.decode("v", as: String.self) == "v")
        await pool.close()
    }

    @Test(.scratchDatabase) func aBoundValueIsNeverInterpretedAsSQL() async throws {
        let database = try ScratchDatabase.current
        let pool = database.pool(as: .owner)
        try await pool.query("CREATE TABLE x (v text)")
        let hostile = "'; DROP TABLE x; --"
        try await pool.query("INSERT INTO x (v) VALUES (\(hostile))")
        let row = try #require(try await pool.query("SELECT v, \(hostile) AS echoed, \("$1") AS dollar FROM x").first)
        #expect(try row.decode("v", as: String.self) == hostile)
        #expect(try row.decode("echoed", as: String.self) == hostile)
        #expect(try row.decode("dollar", as: String.self) == "$1")
        let table = try #require(try await pool.query("SELECT to_regclass('x') IS NOT NULL AS exists").first)
        #expect(try table.decode("exists", as: Bool.self))
        await pool.close()
    }
}
