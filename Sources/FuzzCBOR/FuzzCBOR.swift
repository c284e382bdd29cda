import Foundation
import TollgateCore

/// One input through every parser that reads a passkey ceremony's untrusted bytes: the CBOR
/// decoder, COSE keys, authenticator data and attestation objects. A refusal is the expected
/// answer to almost every input; a crash, a sanitizer report, a hang or a broken invariant
/// (a trap below) is a bug.
func exercise(_ bytes: [UInt8]) {
    // decodeFirst and decode agree: the same value when nothing follows it, else trailing bytes
    // where the rest starts; the same refusal when the first item is refused.
    do {
        let (value, rest) = try CBOR.decodeFirst(bytes[...])
        precondition(rest.endIndex == bytes.endIndex && rest.startIndex > bytes.startIndex, "the rest is not a suffix")
        do {
            let whole = try CBOR.decode(bytes)
            precondition(rest.isEmpty && whole == value, "decode and decodeFirst disagree")
        } catch {
            precondition(error == CBORError(.trailingBytes, at: rest.startIndex), "decode refused what decodeFirst read")
        }
    } catch {
        precondition(error.offset >= 0 && error.offset <= max(bytes.count, CBOR.maxInputSize), "an offset outside the input")
        precondition((try? CBOR.decode(bytes)) == nil, "decode read what decodeFirst refused")
    }

    // A key that parses parses again from its own bytes into the same key.
    if let key = try? PasskeyPublicKey(coseKey: bytes) {
        precondition((try? PasskeyPublicKey(coseKey: key.coseKey)) == key, "a COSE key does not read back")
        _ = key.isValidSignature(Array(bytes.suffix(72)), for: bytes)
    }

    if let authData = try? AuthenticatorData(bytes), let credential = authData.attestedCredential {
        precondition((try? PasskeyPublicKey(coseKey: credential.publicKey.coseKey)) == credential.publicKey, "an attested key does not read back")
        _ = credential.publicKey.isValidSignature(Array(bytes.suffix(72)), for: bytes)
    }

    if let attestation = try? AttestationObject(bytes) {
        precondition((try? AuthenticatorData(attestation.authenticatorDataBytes)) == attestation.authenticatorData, "authData does not read back")
    }
}

/// libFuzzer's entry point (scripts/fuzz-cbor).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    exercise(Array(UnsafeBufferPointer(start: start, count: count)))
    return 0
}

#if !FUZZING
/// Without libFuzzer (a plain `swift build`), the product replays files: each argument is an
/// input file or a folder of them, so a corpus or a crash artifact can be run under a debugger.
@main struct ReplayInputs {
    static func main() throws {
        var count = 0
        for argument in CommandLine.arguments.dropFirst() {
            let url = URL(fileURLWithPath: argument)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: argument))?.sorted()
            for file in names.map({ $0.map { url.appendingPathComponent($0) } }) ?? [url] {
                exercise(Array(try Data(contentsOf: file)))
                count += 1
            }
        }
        print("FuzzCBOR: \(count) inputs replayed, no failure")
    }
}
#endif
