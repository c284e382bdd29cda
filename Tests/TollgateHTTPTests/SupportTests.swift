import Foundation
import PQ
import TestSupport
import Testing
import TollgateCore

/// Support investigates with psql through read-only views, and can read nothing else (SPEC §9).
@Suite struct SupportTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every SELECT in the ```sql blocks of a document (the README's "Investigating with psql").
    static func documentedQueries(in file: String = "README.md") throws -> [String] {
        let text = try String(contentsOf: repository.appendingPathComponent(file), encoding: .utf8)
        var queries: [String] = []
        for block in text.components(separatedBy: "```sql").dropFirst() {
            let sql = block.components(separatedBy: "```")[0]
            for statement in sql.components(separatedBy: ";") {
                let lines = statement.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }
                let query = lines.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
                if query.uppercased().hasPrefix("SELECT") || query.uppercased().hasPrefix("WITH") { queries.append(query) }
            }
        }
        return queries
    }

    @Test func theDocumentedQueriesRunAsSupportAndSeeEveryCompany() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            _ = try await client.login(seed.member, client: "dashboard")
            _ = try await app.seed(name: "Globex", domain: "globex.test")
            let queries = try Self.documentedQueries() + Self.documentedQueries(in: "docs/operations.md")
            // Why no code, recent attempts, who turned 2FA off, which emails failed (SPEC §9).
            #expect(try Self.documentedQueries().count >= 9)
            let support = app.database.pool(role: "tollgate_support", maxConnections: 1)
            for query in queries {
                do {
                    try await support.query(PQQuery(unsafeSQL: query))
                } catch {
                    Issue.record("support could not run: \(query.prefix(120))… — \(error)")
                }
            }
            let companies = try await support.query("SELECT count(DISTINCT company_id) AS n FROM support.users")
            #expect(try companies.first?.decode("n", as: Int.self) == 2)
            let challenges = try await support.query("SELECT state, delivery FROM support.challenges WHERE purpose = 'login'")
            #expect(try challenges.first?.decode("state", as: String.self) == "pending")
            await support.close()
        }
    }

    @Test func supportCannotReadBaseTablesOrSecretColumns() async throws {
        try await TestApp.with { app, client in
            _ = try await app.seed()
            let support = app.database.pool(role: "tollgate_support", maxConnections: 1)
            let tables = try await app.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").map {
                try $0.decode("tablename", as: String.self)
            }
            #expect(tables.contains("users") && tables.contains("challenges"))
            for table in tables {
                do {
                    try await support.query(PQQuery(unsafeSQL: "SELECT * FROM public.\(table) LIMIT 1"))
                    Issue.record("support read the base table \(table)")
                } catch let error as PQError {
                    #expect(error.sqlState == "42501", "\(table): \(error)")
                }
            }
            let columns = try await support.query(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'support'"
            ).map { try $0.decode("column_name", as: String.self) }
            #expect(!columns.isEmpty)
            for secret in ["password_hash", "code_hash", "token_hash", "body_text", "body_html", "subject"] {
                #expect(!columns.contains(secret), "support sees \(secret)")
            }
            await #expect(throws: PQError.self) { try await support.query("SELECT * FROM login_lookup('owner@acme.test')") }
            await support.close()
        }
    }
}
