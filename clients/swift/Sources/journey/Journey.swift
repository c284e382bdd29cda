// Every documented flow, through the client swift-openapi-generator makes from openapi.yaml.
// Run by scripts/test-clients against a live `tollgate dev` (behind clients/validating_proxy.py,
// which checks each answer against the document); the same journey as clients/python/journey.py,
// on a company of its own made with the demo platform key. Codes and links come from the `.eml`
// files `dev` writes. Usage: journey BASE_URL MAIL_DIRECTORY PLATFORM_KEY
import Foundation
import HTTPTypes
import OpenAPIRuntime
import OpenAPIURLSession

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What every step needs: the clients, the mailbox, and a count of the checks made.
final class Journey {
    let base: URL
    let mail: Mailbox
    let anonymous: Client
    let platform: Client
    let run = UUID().uuidString.prefix(8).lowercased()
    var steps = 0

    init(base: URL, mailDirectory: String, platformKey: String) {
        self.base = base
        mail = Mailbox(mailDirectory)
        anonymous = Self.client(base, nil)
        platform = Self.client(base, platformKey)
    }

    static func client(_ base: URL, _ token: String?) -> Client {
        Client(serverURL: base, transport: URLSessionTransport(), middlewares: token.map { [Bearer(token: $0)] } ?? [])
    }

    func client(_ token: String) -> Client { Self.client(base, token) }

    func check(_ condition: Bool, _ what: String) {
        steps += 1
        if !condition { fail(what) }
    }
}

func fail(_ what: String) -> Never {
    FileHandle.standardError.write(Data("swift journey: FAILED: \(what)\n".utf8))
    exit(1)
}

/// The code of a refusal: the known enum's raw value, or the string of a code this client has never seen.
func errorCode(_ error: Components.Schemas._Error) -> String {
    error.error.code.value1?.rawValue ?? error.error.code.value2 ?? ""
}

/// Sends `Authorization: Bearer` (the document's security schemes are not applied by the generator).
struct Bearer: ClientMiddleware {
    let token: String
    func intercept(
        _ request: HTTPRequest,
        body: HTTPBody?,
        baseURL: URL,
        operationID: String,
        next: (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        request.headerFields[.authorization] = "Bearer \(token)"
        return try await next(request, body, baseURL)
    }
}

/// The `.eml` files `tollgate dev` writes: the next one to an address, by subject.
final class Mailbox {
    let directory: URL
    var seen: Set<String> = []

    init(_ path: String) {
        directory = URL(fileURLWithPath: path)
        seen = Set(files().map(\.lastPathComponent))
    }

    func files() -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: [.contentModificationDateKey])) ?? []
        let dated = names.filter { $0.pathExtension == "eml" }.map { url in
            (url, (try? url.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast)
        }
        return dated.sorted { $0.1 < $1.1 }.map(\.0)
    }

    /// The text of the next email to `address` whose subject contains `subject`.
    func next(to address: String, subject: String) async throws -> String {
        for _ in 0..<150 {
            for file in files() where !seen.contains(file.lastPathComponent) {
                let message = EML(try String(contentsOf: file, encoding: .utf8))
                if message.headers["to", default: ""].contains(address) && message.headers["subject", default: ""].contains(subject) {
                    seen.insert(file.lastPathComponent)
                    return message.text
                }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        fail("no email to \(address) about \(subject) within 30 s")
    }

    func code(for address: String) async throws -> (code: String, text: String) {
        let text = try await next(to: address, subject: "code")
        guard let found = text.firstMatch(of: /\b(\d{6})\b/)?.output.1 else { fail("no code in the email") }
        return (String(found), text)
    }
}

/// A message as `tollgate dev` writes it: folded headers with RFC 2047 words, base64 parts.
struct EML {
    var headers: [String: String] = [:]
    var text = ""

    init(_ raw: String) {
        let lines = raw.components(separatedBy: "\r\n")
        var index = 0
        var unfolded: [String] = []
        while index < lines.count, !lines[index].isEmpty {
            if lines[index].hasPrefix(" "), !unfolded.isEmpty {
                unfolded[unfolded.count - 1] += lines[index].trimmingCharacters(in: .whitespaces)
            } else {
                unfolded.append(lines[index])
            }
            index += 1
        }
        for line in unfolded {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers[line[..<colon].lowercased()] = Self.words(value)
        }
        var (base64, collecting, chunk) = (false, false, "")
        for line in lines[index...] {
            if line.lowercased() == "content-transfer-encoding: base64" {
                base64 = true
            } else if base64 && !collecting && line.isEmpty {
                collecting = true
            } else if collecting && (line.isEmpty || line.hasPrefix("--")) {
                text += Self.decoded(chunk)
                (base64, collecting, chunk) = (false, false, "")
            } else if collecting {
                chunk += line
            }
        }
        text += Self.decoded(chunk)
    }

    static func decoded(_ base64: String) -> String {
        Data(base64Encoded: base64).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// `=?UTF-8?B?…?=` words decoded; plain text as it is.
    static func words(_ value: String) -> String {
        value.replacing(/=\?UTF-8\?B\?([A-Za-z0-9+\/=]+?)\?=/) { decoded(String($0.output.1)) }
    }
}

func linkToken(_ text: String, _ path: String) -> String {
    guard let match = try? Regex("\(path)#token=([A-Za-z0-9_-]+)"), let found = text.firstMatch(of: match)?.output[1].substring else {
        fail("no \(path) link in the email")
    }
    return String(found)
}

@main enum Main {
    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 4, let base = URL(string: arguments[1]) else { fail("usage: journey BASE_URL MAIL_DIRECTORY PLATFORM_KEY") }
        let journey = Journey(base: base, mailDirectory: arguments[2], platformKey: arguments[3])
        try await journey.operations()
        try await journey.provisioning()
        try await journey.logins()
        journey.futureValues()
        print("swift journey: \(journey.steps) checks passed")
    }
}
