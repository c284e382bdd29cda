import Foundation
import Testing
import TollgateCore

/// The small bodies written without JSONEncoder (error envelopes, event details) read back as
/// the same JSON, and match JSONEncoder's bytes, escapes included.
@Suite struct FlatJSONTests {
    static let texts = [
        "", "plain", "quote \" and backslash \\", "application/json", "line\nbreak\ttab\rreturn", "\u{08}\u{0C}\u{01}\u{1F}",
        "ünïcödé ✓ 🔐", "NUL \u{0}",
    ]

    @Test(arguments: texts) func aStringIsWrittenAsJSONEncoderWritesIt(_ text: String) throws {
        var json = FlatJSON()
        json.add("text", text)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        #expect(String(decoding: json.object, as: UTF8.self) == String(decoding: try encoder.encode(["text": text]), as: UTF8.self))
        let read = try #require(try JSONSerialization.jsonObject(with: Data(json.object)) as? [String: String])
        #expect(read == ["text": text])
    }

    @Test func numbersFlagsAndNestedObjectsKeepTheirOrder() throws {
        var inner = FlatJSON()
        inner.add("attempts_remaining", 99)
        inner.add("code", "invalid_code")
        inner.add("negative", -3)
        inner.add("locked", false)
        var outer = FlatJSON()
        outer.add("error", json: inner.object)
        #expect(
            String(decoding: outer.object, as: UTF8.self)
                == #"{"error":{"attempts_remaining":99,"code":"invalid_code","negative":-3,"locked":false}}"#
        )
        #expect(FlatJSON().object == Array("{}".utf8))
    }
}
