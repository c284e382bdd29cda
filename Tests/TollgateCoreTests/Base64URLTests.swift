import Foundation
import Testing

@testable import TollgateCore

/// Tokens are unpadded base64url: every length of byte string encodes as Foundation's base64
/// does with the URL alphabet and no padding, decodes back, and nothing else decodes.
@Suite struct Base64URLTests {
    /// Foundation's encoder, as an independent reference.
    static func reference(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    @Test func everyLengthEncodesLikeTheReferenceAndDecodesBack() {
        for length in 0...66 {
            for _ in 0..<20 {
                let bytes = SecureRandom.bytes(length)
                let text = Base64URL.encode(bytes)
                #expect(text == Self.reference(bytes), "\(bytes)")
                #expect(Base64URL.decode(text) == bytes, "\(text)")
            }
        }
        // Every value of a byte in every position of a group of three.
        for value in 0...255 {
            for bytes in [[UInt8(value)], [0, UInt8(value)], [0xFF, 0xFF, UInt8(value)]] {
                #expect(Base64URL.encode(bytes) == Self.reference(bytes))
                #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
            }
        }
    }

    @Test(arguments: [
        "A",  // no encoding is 1 character longer than a multiple of 4
        "AAAAA",
        "AA==",  // padding
        "AAA=",
        "ab+c",  // the standard alphabet's characters
        "ab/c",
        "ab c",
        "abc\u{0}",
        "abé",  // outside ASCII
        "AB",  // unused bits set: "AA" is the only text of [0]
        "AAB",  // "AAA" is the only text of [0, 0]
    ])
    func anythingElseIsRefused(_ text: String) {
        #expect(Base64URL.decode(text) == nil)
    }

    @Test func aBearerTokenNamesItsCompany() throws {
        let company = UUID()
        let token = BearerToken.make(companyID: company)
        #expect(token.utf8.count == 64)
        #expect(BearerToken.companyID(of: token) == company)
        // One character changed to one outside the alphabet: no company at all.
        #expect(BearerToken.companyID(of: "+" + token.dropFirst()) == nil)
    }
}
