import Foundation
import Testing

/// The README's configuration table is what an operator reads: it names every environment
/// variable the program reads, and only those. Read from the sources' text, like
/// `OpenAPIContractTests` reads openapi.yaml: a variable added to a settings reader but not
/// to the table, or left in the table after its reader went, fails here.
@Suite struct ConfigurationDocsTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The first column of each row of the README's configuration table (the one headed
    /// `| variable | default | meaning |`): `` `HOST`, `PORT` ``.
    static func documented() throws -> Set<String> {
        let readme = try String(contentsOf: repository.appendingPathComponent("README.md"), encoding: .utf8)
        let lines = readme.split(separator: "\n", omittingEmptySubsequences: false)
        guard let header = lines.firstIndex(where: { $0.hasPrefix("| variable | default | meaning |") }) else { return [] }
        var names: Set<String> = []
        for line in lines[(header + 2)...].prefix(while: { $0.hasPrefix("|") }) {
            let firstCell = line.dropFirst(2).prefix { $0 != "|" }
            for match in firstCell.matches(of: /`([A-Z][A-Z0-9_]+)`/) { names.insert(String(match.output.1)) }
        }
        return names
    }

    /// Every name a settings type asks its `EnvironmentReader` for, and the one read directly.
    static func read() throws -> Set<String> {
        var names: Set<String> = []
        let sources = repository.appendingPathComponent("Sources")
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        for file in files where file.pathExtension == "swift" {
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in text.matches(of: /reader\.[a-zA-Z]+\(\s*"([A-Z][A-Z0-9_]+)"/) { names.insert(String(match.output.1)) }
            for match in text.matches(of: /processInfo\.environment\["([A-Z][A-Z0-9_]+)"\]/) { names.insert(String(match.output.1)) }
        }
        // The program looks up its tools on the system's PATH; it is not Tollgate's setting.
        names.remove("PATH")
        return names
    }

    @Test func theReadmeNamesExactlyTheVariablesTheProgramReads() throws {
        let documented = try Self.documented()
        let read = try Self.read()
        #expect(read.count >= 40, "the sources were not found or not read: \(read.sorted())")
        #expect(read.subtracting(documented).sorted() == [], "read but not in the README's table")
        #expect(documented.subtracting(read).sorted() == [], "in the README's table but read nowhere")
    }
}
