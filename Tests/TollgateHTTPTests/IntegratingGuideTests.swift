import Foundation
import Testing

/// docs/integrating.md is where another team learns the API: its route table names exactly the
/// operations openapi.yaml documents, each pointing at a section of the guide that exists. A
/// route added to the document but not to the guide, or left in the guide after it went, fails
/// here (as `ConfigurationDocsTests` holds the README's table to the code).
@Suite struct IntegratingGuideTests {
    static func guide() throws -> String {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try String(contentsOf: repository.appendingPathComponent("docs/integrating.md"), encoding: .utf8)
    }

    /// The rows of the table headed `| route | where this guide covers it |`: the route in the
    /// first cell (`` `POST /v1/auth/login` ``), the section's anchor in the second.
    static func routes(in guide: String) -> [(route: String, anchor: String)] {
        let lines = guide.split(separator: "\n", omittingEmptySubsequences: false)
        guard let header = lines.firstIndex(where: { $0.hasPrefix("| route | where this guide covers it |") }) else { return [] }
        return lines[(header + 2)...].prefix(while: { $0.hasPrefix("|") }).compactMap { line in
            guard let route = line.firstMatch(of: /^\| `([A-Z]+ \/[^`]*)`/)?.output.1,
                let anchor = line.firstMatch(of: /\]\(#([a-z0-9-]+)\)/)?.output.1
            else { return nil }
            return (String(route), String(anchor))
        }
    }

    /// GitHub's anchor for each heading (not a `#` comment in a code block): lower case,
    /// punctuation dropped, spaces as hyphens.
    static func anchors(in guide: String) -> Set<String> {
        var anchors: Set<String> = []
        var inCode = false
        for line in guide.split(separator: "\n") {
            if line.hasPrefix("```") { inCode.toggle() }
            guard !inCode, line.hasPrefix("#") else { continue }
            let title = line.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces).lowercased()
            let kept = title.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) || $0 == " " || $0 == "-" || $0 == "_" }
            anchors.insert(String(String.UnicodeScalarView(kept)).replacingOccurrences(of: " ", with: "-"))
        }
        return anchors
    }

    @Test func theGuideCoversExactlyTheDocumentedRoutes() throws {
        let guide = try Self.guide()
        let rows = Self.routes(in: guide)
        let documented = Set(OpenAPIContractTests.operations())
        #expect(documented.count >= 29, "openapi.yaml was not read")
        #expect(rows.count == Set(rows.map(\.route)).count, "a route is listed twice")
        #expect(documented.subtracting(rows.map(\.route)).sorted() == [], "in openapi.yaml but not in the guide's route table")
        #expect(Set(rows.map(\.route)).subtracting(documented).sorted() == [], "in the guide's route table but not in openapi.yaml")
        let anchors = Self.anchors(in: guide)
        for row in rows { #expect(anchors.contains(row.anchor), "\(row.route) points at #\(row.anchor), which is no heading of the guide") }
    }

    /// Every path of the table is also shown in the guide's text (a request, or the prose
    /// around one), not only listed; `{id}` may be written as a shell variable (`$ID`).
    @Test func everyRouteIsShownOutsideTheTable() throws {
        let guide = try Self.guide()
        let table = Set(Self.routes(in: guide).map(\.route))
        let prose = guide.split(separator: "\n").filter { !$0.hasPrefix("| `") }.joined(separator: "\n")
        for route in table {
            let path = String(route.split(separator: " ")[1])
            let pattern = NSRegularExpression.escapedPattern(for: path).replacingOccurrences(of: #"\{id\}"#, with: #"[^/\s"]+"#)
            let regex = try NSRegularExpression(pattern: pattern + #"(?![A-Za-z0-9/_-])"#)
            let found = regex.firstMatch(in: prose, range: NSRange(prose.startIndex..., in: prose)) != nil
            #expect(found, "\(route) is only in the table")
        }
    }
}
