import Foundation
import Testing

/// `assets/api.js` is the module other teams copy or import unchanged, so it is held to the
/// document: it names the document's `info.version`, every path it calls is a documented one,
/// every call the reference pages make goes through one of its named, typed calls, and each
/// named call carries its JSDoc.
@Suite struct DashboardModuleTests {
    static let assets = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/TollgateHTTP/Dashboard/assets")

    static func text(_ name: String) throws -> String {
        try String(contentsOf: assets.appendingPathComponent(name), encoding: .utf8)
    }

    @Test func theModuleSpeaksTheDocumentsVersion() throws {
        let version = try #require(OpenAPIContractTests.document["info"]?["version"]?.scalar)
        #expect(try Self.text("api.js").contains("export const API_VERSION = '\(version)';"))
    }

    @Test func everyPathTheModuleCallsIsDocumented() throws {
        let documented = OpenAPIContractTests.operations().map { String($0.split(separator: " ")[1]) }
        let called = try Self.text("api.js").matches(of: /'(\/v1\/[a-z0-9\/_-]*)|`(\/v1\/[a-z0-9\/_-]*)/).map {
            String($0.output.1 ?? $0.output.2 ?? "")
        }
        #expect(called.count >= 15, "the module's paths were not found")
        for path in called {
            // An id is appended at run time (`…/activation/${id}`): the literal is then a prefix.
            #expect(documented.contains { $0 == path || $0.hasPrefix(path) }, "\(path)")
        }
    }

    @Test func thePagesCallTheAPIOnlyThroughTheModulesNamedCalls() throws {
        let pages = try FileManager.default.contentsOfDirectory(atPath: Self.assets.path).filter { $0.hasSuffix(".js") && $0 != "api.js" }
        #expect(pages.count >= 8)
        for page in pages {
            let text = try Self.text(page)
            #expect(!text.contains("'/v1/") && !text.contains("`/v1/") && !text.contains("fetch("), "\(page) calls the API itself")
        }
        // Each exported call is documented, and says which route it calls.
        let module = try Self.text("api.js")
        let lines = module.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() where line.hasPrefix("export const ") && line.contains("async (") {
            let opening = lines[..<index].lastIndex { $0.hasPrefix("/**") } ?? index
            let documentation = lines[opening..<index].joined(separator: "\n")
            #expect(lines[index - 1].hasSuffix("*/") && documentation.contains("@returns"), "\(line.prefix(60)): no JSDoc")
        }
    }
}
