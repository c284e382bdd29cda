import EmbeddedPostgres
import Foundation
import PQ
import TestSupport
import Testing
import TollgateCore

/// The binary's side of issue 11: metrics off the API's port, and `dev` never seeding
/// published passwords into a database that already has companies.
extension CommandLineTests {
    @Test func serveShowsMetricsOnlyOnTheMetricsPort() async throws {
        try await TestDatabase.with { database in
            let port = TestPorts.pair()
            let metricsPort = port + 1
            let process = try TollgateProcess(
                ["serve"],
                environment: [
                    "DATABASE_URL": database.conninfo(role: "tollgate_api"), "TOLLGATE_SECRET": String(repeating: "k", count: 40),
                    "PORT": "\(port)", "METRICS_PORT": "\(metricsPort)",
                ]
            )
            let metrics = URL(string: "http://127.0.0.1:\(metricsPort)/metrics")!
            try await eventually("the metrics port to answer", timeout: .seconds(30)) { (try? await Self.status(of: metrics)) == 200 }
            let page = try await Self.fetch(metrics)
            #expect(page.body.contains("tollgate_challenges_open"))
            let onAPI = try await Self.fetch(URL(string: "http://127.0.0.1:\(port)/metrics")!)
            #expect(onAPI.status == 404 && onAPI.body.contains(#""not_found""#), "\(onAPI.body)")
            #expect(try await Self.status(of: URL(string: "http://127.0.0.1:\(metricsPort)/health/ready")!) == 200)
            #expect(try await Self.status(of: URL(string: "http://127.0.0.1:\(metricsPort)/v1/me")!) == 404)
            #expect(await process.stop(SIGTERM) == 0)

            let same = try await TollgateProcess.run(
                ["serve"],
                environment: [
                    "DATABASE_URL": database.conninfo(role: "tollgate_api"), "TOLLGATE_SECRET": String(repeating: "k", count: 40),
                    "PORT": "\(port)", "METRICS_PORT": "\(port)",
                ]
            )
            #expect(same.status == 78 && same.error.contains("METRICS_PORT"), "\(same.error)")
        }
    }

    /// Demo passwords are published in the README: `dev` pointed at a database that holds
    /// companies must not add accounts with them.
    @Test func devSeedsNoDemoAccountsIntoADatabaseWithCompanies() async throws {
        try await TestDatabase.with { database in
            let owner = database.pool(role: nil, maxConnections: 1)
            _ = try await Provisioning(pool: owner, hasher: PasswordHasher(concurrency: 1)).createCompany(
                name: "Real Co",
                ownerEmail: "boss@real.example",
                ownerPassword: "a-real-password-1",
                ownerName: nil
            )
            await owner.close()
            let port = TestPorts.pair()
            let state = NSTemporaryDirectory() + "tollgate-dev-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: state) }
            let process = try TollgateProcess(
                ["dev", "--state-directory", state],
                environment: [
                    "DATABASE_URL": database.conninfo(), "PORT": "\(port)",
                ]
            )
            try await eventually("dev to be ready", timeout: .seconds(30)) {
                (try? await Self.status(of: URL(string: "http://127.0.0.1:\(port)/health/ready")!)) == 200
            }
            let printed = process.output
            #expect(printed.contains("no demo accounts were created"), "\(printed)")
            #expect(!printed.contains("demo-owner-pass"))
            let reader = database.pool(role: nil, maxConnections: 1)
            let count = try await reader.query("SELECT count(*) AS n FROM login_directory")
            await reader.close()
            #expect(try count.first?.decode("n", as: Int.self) == 1)
            #expect(await process.stop(SIGINT) == 0)
        }
    }

    /// Issue 14: as root, from a checkout inside a folder only root may enter (root's home is
    /// mode 700), `dev` still starts: the cluster goes where its unprivileged user can reach.
    @Test(.enabled(if: geteuid() == 0, "only root hands the cluster to another user"))
    func devRunsAsRootFromAFolderOthersCannotEnter() async throws {
        let home = NSTemporaryDirectory() + "tollgate-home-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: home + "/checkout", withIntermediateDirectories: true)
        chmod(home, 0o700)
        let state = home + "/checkout/.tollgate"
        let cluster = EmbeddedPostgres.dataDirectory(forState: state)
        #expect(cluster.hasPrefix("/var/tmp/tollgate-dev-"))
        let port = TestPorts.pair()
        let process = try TollgateProcess(["dev", "--state-directory", state], environment: ["PORT": "\(port)"])
        defer {
            // A dev that had to be killed leaves its cluster running: stop that before removing it.
            let postmaster = try? String(contentsOfFile: cluster + "/postmaster.pid", encoding: .utf8)
            if let pid = postmaster?.split(separator: "\n").first.flatMap({ pid_t($0) }) { kill(pid, SIGQUIT) }
            try? FileManager.default.removeItem(atPath: home)
            try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: cluster).deletingLastPathComponent().path)
        }
        let ready = URL(string: "http://127.0.0.1:\(port)/health/ready")!
        // Not thrown at once: dev is stopped (and its cluster with it) before the test fails.
        let answered = (try? await eventually("dev to be ready", timeout: .seconds(30)) { (try? await Self.status(of: ready)) == 200 }) != nil
        let printed = process.output
        // SIGINT as a terminal's Ctrl-C: dev stops its API, worker and cluster, and exits.
        #expect(await process.stop(SIGINT) == 0, "\(process.errorOutput.suffix(2_000))")
        #expect(answered)
        #expect(printed.contains(cluster), "\(printed)")
        #expect(printed.contains("owner@demo.example"))
        #expect(FileManager.default.fileExists(atPath: cluster + "/PG_VERSION"))
    }

    /// SPEC §11: a key is printed once and stored only as its SHA-256; list never shows it.
    @Test func apiKeysAreCreatedListedAndRevokedByTheOwner() async throws {
        try await TestDatabase.with { database in
            let owner = ["DATABASE_URL": database.conninfo()]
            let created = try await TollgateProcess.run(["api-key", "create", "--name", "platform", "--json"], environment: owner)
            #expect(created.status == 0, "\(created.error)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(created.output.utf8)) as? [String: String])
            let key = try #require(object["key"])
            #expect(key.hasPrefix("tgk_") && key.count == 47)
            let pool = database.pool(role: nil, maxConnections: 1)
            let stored = try await pool.query("SELECT count(*) AS n FROM api_keys WHERE key_hash = \(APIKey.hash(key))")
            await pool.close()
            #expect(try stored.first?.decode("n", as: Int.self) == 1)
            let listed = try await TollgateProcess.run(["api-key", "list", "--json"], environment: owner)
            #expect(listed.output.contains("\"platform\"") && !listed.output.contains(key))
            #expect(try await TollgateProcess.run(["api-key", "create", "--name", "platform"], environment: owner).status != 0)
            #expect(try await TollgateProcess.run(["api-key", "revoke", "--name", "platform", "--json"], environment: owner).output.contains("true"))
            #expect(try await TollgateProcess.run(["api-key", "revoke", "--name", "platform"], environment: owner).status != 0)
        }
    }
}
