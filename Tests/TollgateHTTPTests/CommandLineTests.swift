import Foundation
import PQ
import TestSupport
import Testing
import TollgateCore

/// The built `tollgate` binary, run as a user runs it (SPEC §6, §7).
@Suite(.timeLimit(.minutes(5))) struct CommandLineTests {

    /// An empty database (not migrated) on the test server.
    static func withEmptyDatabase(_ body: (String) async throws -> Void) async throws {
        try await TestDatabase.with(migrated: false) { try await body($0.conninfo()) }
    }

    @Test func fourMigrateProcessesStartedTogetherApplyEachFileOnce() async throws {
        try await Self.withEmptyDatabase { url in
            let runs = try await withThrowingTaskGroup(of: TollgateProcess.Run.self) { group in
                for _ in 0..<4 { group.addTask { try await TollgateProcess.run(["migrate"], environment: ["DATABASE_URL": url]) } }
                return try await group.reduce(into: [TollgateProcess.Run]()) { $0.append($1) }
            }
            #expect(runs.allSatisfy { $0.status == 0 }, "\(runs.map(\.error))")
            #expect(runs.filter { $0.output.contains("applied") }.count == 1)
            let rows = try await offCooperativePool {
                try PQConnection.connect(url).query("SELECT version, count(*) AS n FROM schema_migrations GROUP BY version")
            }
            #expect(rows.count == (try Migration.bundled().count))
            #expect(try rows.allSatisfy { try $0.decode("n", as: Int.self) == 1 })
            let again = try await TollgateProcess.run(["migrate"], environment: ["DATABASE_URL": url])
            #expect(again.status == 0 && again.output.contains("up to date"))
        }
    }

    @Test(.postgres) func provisioningPrintsJSONAndRefusesClearly() async throws {
        let database = try TestDatabase.current
        let env = ["DATABASE_URL": database.conninfo(role: "tollgate_api")]
        let created = try await TollgateProcess.run(
            ["company", "create", "--name", "Acme", "--owner-email", "Owner@Acme.test", "--owner-password", "long-enough-1", "--json"],
            environment: env
        )
        #expect(created.status == 0, "\(created.error)")
        let ids = try #require(try JSONSerialization.jsonObject(with: Data(created.output.utf8)) as? [String: String])
        let companyID = try #require(ids["company_id"])
        #expect(ids["owner_id"] != nil)

        let added = try await TollgateProcess.run(
            ["user", "add", "--company-id", companyID, "--email", "m@acme.test", "--password", "long-enough-2", "--role", "member", "--json"],
            environment: env
        )
        #expect(added.status == 0, "\(added.error)")
        #expect((try JSONSerialization.jsonObject(with: Data(added.output.utf8)) as? [String: String])?["user_id"] != nil)

        let refusals: [([String], String)] = [
            (
                ["user", "add", "--company-id", companyID, "--email", "owner@acme.test", "--password", "long-enough-3", "--role", "admin"],
                "exists"
            ),
            (
                ["user", "add", "--company-id", UUID().uuidString, "--email", "x@acme.test", "--password", "long-enough-3", "--role", "admin"],
                "company"
            ),
            (["user", "add", "--company-id", companyID, "--email", "y@acme.test", "--password", "long-enough-3", "--role", "boss"], "role"),
            (["user", "add", "--company-id", companyID, "--email", "z@acme.test", "--password", "short", "--role", "admin"], "password"),
            (["user", "add", "--company-id", companyID, "--email", "not-an-email", "--password", "long-enough-3", "--role", "admin"], "email"),
            (["user", "unlock", "--email", "nobody@acme.test"], "No account"),
        ]
        for (arguments, words) in refusals {
            let refused = try await TollgateProcess.run(arguments, environment: env)
            #expect(refused.status != 0, "\(arguments)")
            #expect(refused.error.contains(words), "\(arguments): \(refused.error)")
            #expect(!refused.error.contains("long-enough"), "a password must not be echoed")
        }
        let unlocked = try await TollgateProcess.run(["user", "unlock", "--email", "m@acme.test", "--json"], environment: env)
        #expect(unlocked.status == 0)
        // A JSON boolean, not the string "true".
        #expect((try JSONSerialization.jsonObject(with: Data(unlocked.output.utf8)) as? [String: Any])?["unlocked"] as? Bool == true)
        #expect(!unlocked.output.contains("\"true\""))
    }

    @Test func aBadOrMissingSettingStopsTheProgramNamingTheVariable() async throws {
        let base = ["DATABASE_URL": "host=/nonexistent dbname=x", "TOLLGATE_SECRET": String(repeating: "s", count: 40)]
        let cases: [([String: String], String)] = [
            (["PORT": "eighty"], "PORT"), (["CODE_TTL": "-5"], "CODE_TTL"), (["TOLLGATE_SECRET": "short"], "TOLLGATE_SECRET"),
            (["TRUSTED_PROXIES": "10.0.0.0/99"], "TRUSTED_PROXIES"), (["LIMIT_LOGINS_PER_IP": "1.5"], "LIMIT_LOGINS_PER_IP"),
            (["SMTP_URL": "http://mail"], "SMTP_URL"), (["TLS_CERT_PATH": "/x.pem"], "TLS_"), (["LOG_LEVEL": "loud"], "LOG_LEVEL"),
            (["DATABASE_ROLE_PREFIX": "Prod-1"], "DATABASE_ROLE_PREFIX"), (["WORKER_METRICS_PORT": "0"], "WORKER_METRICS_PORT"),
            (["SHUTDOWN_TIMEOUT": "0"], "SHUTDOWN_TIMEOUT"), (["DATABASE_STATEMENT_TIMEOUT": "ten"], "DATABASE_STATEMENT_TIMEOUT"),
        ]
        for (change, variable) in cases {
            let run = try await TollgateProcess.run(["serve"], environment: base.merging(change) { $1 })
            #expect(run.status == 78, "\(change)")
            #expect(run.error.contains(variable) && run.error.split(separator: "\n").count == 1, "\(change): \(run.error)")
        }
        let noSecret = try await TollgateProcess.run(["serve"], environment: ["DATABASE_URL": "host=/x"])
        #expect(noSecret.status == 78 && noSecret.error.contains("TOLLGATE_SECRET"))
        let noDatabase = try await TollgateProcess.run(["migrate"], environment: [:])
        #expect(noDatabase.status == 78 && noDatabase.error.contains("DATABASE_URL"))
    }

    @Test(.postgres) func serveAndWorkerRefuseAPrivilegedDatabaseRole() async throws {
        let database = try TestDatabase.current
        for command in ["serve", "worker"] {
            let run = try await TollgateProcess.run(
                [command],
                environment: ["DATABASE_URL": database.conninfo(role: nil), "TOLLGATE_SECRET": String(repeating: "k", count: 40)]
            )
            #expect(run.status != 0, "\(command)")
            #expect(run.error.contains("superuser"), "\(command): \(run.error)")
        }
    }

    @Test func everySubcommandHasHelp() async throws {
        for command in [["serve"], ["worker"], ["migrate"], ["company", "create"], ["user", "add"], ["user", "unlock"], ["dev"]] {
            let run = try await TollgateProcess.run(command + ["--help"])
            #expect(run.status == 0, "\(command)")
            #expect(run.output.contains("USAGE"), "\(command)")
        }
        // Both commands that listen say where, and that PORT and HOST are the defaults.
        for command in ["serve", "dev"] {
            let help = try await TollgateProcess.run([command, "--help"]).output
            #expect(help.contains("--port") && help.contains("overrides PORT") && help.contains("--host"), "\(command)")
        }
    }

    @Test(.postgres) func serveAnswersAndStopsOnSIGTERM() async throws {
        let database = try TestDatabase.current
        let port = TestPorts.pair()
        let process = try TollgateProcess(
            ["serve"],
            environment: [
                "DATABASE_URL": database.conninfo(role: "tollgate_api"), "TOLLGATE_SECRET": String(repeating: "k", count: 40),
                "PORT": "\(port)",
            ]
        )
        // Wait until it answers (bounded), then ask it a real question.
        let url = URL(string: "http://127.0.0.1:\(port)/health/ready")!
        try await eventually("serve to be ready", timeout: .seconds(30)) { (try? await Self.status(of: url)) == 200 }
        #expect(await process.stop(SIGTERM) == 0, "serve must exit cleanly on SIGTERM")
    }

    /// SIGTERM: the server stops accepting connections at once, still answers the request in
    /// flight (here held up by a lock), then exits cleanly.
    @Test func serveFinishesTheRequestInFlightOnSIGTERMButTakesNoNewOnes() async throws {
        try await Self.withServeAndALoginInFlight(shutdownTimeout: 60) { process, base, login, releaseLock in
            process.send(SIGTERM)
            // No new connections: the listening socket closes while the login still waits.
            try await eventually("serve to stop listening", timeout: .seconds(30)) {
                (try? await Self.status(of: URL(string: base + "/health/live")!)) == 0
            }
            #expect(process.isRunning, "serve must wait for the request in flight")
            try await releaseLock()
            let answer = try await login.value
            #expect(answer.status == 200, "the request in flight gets its answer: \(answer.body)")
            #expect(answer.body.contains(#""token""#))
            #expect(await process.finish(within: .seconds(30)) == 0, "serve must exit cleanly on SIGTERM")
        }
    }

    /// The wait for requests in flight is bounded: past SHUTDOWN_TIMEOUT the server cuts the
    /// connection, cancels the statement still waiting for the lock and exits, while the lock
    /// is still held (the statement timeout is far away).
    @Test func serveCutsOffARequestStillRunningAfterTheShutdownTimeout() async throws {
        try await Self.withServeAndALoginInFlight(shutdownTimeout: 1) { process, _, login, releaseLock in
            // A valve, not a clock: a serve that never stops is killed, and the test fails.
            let status = await process.stop(SIGTERM, within: .seconds(60))
            // 0: shut down in order, not killed by the valve nor crashed by the service group's
            // last resort (a fatal error when cancellation does not end the services).
            #expect(status == 0, "serve must exit cleanly by itself while the request is stuck")
            let answer = try await login.value
            #expect(answer.status == 0, "cut off, not answered: \(answer.status) \(answer.body)")
            try await releaseLock()
        }
    }

    /// Runs `serve` on a database with one company, starts a phone-app login of its owner and
    /// holds it up on a lock of the sessions table until `releaseLock` is called.
    static func withServeAndALoginInFlight(
        shutdownTimeout: Int,
        _ body: (TollgateProcess, String, Task<(status: Int, body: String), any Error>, () async throws -> Void) async throws -> Void
    ) async throws {
        try await TestDatabase.with { database in
            let owner = database.pool(role: nil, maxConnections: 1)
            _ = try await Provisioning(pool: owner, hasher: PasswordHasher(concurrency: 1)).createCompany(
                name: "Acme",
                ownerEmail: "owner@acme.test",
                ownerPassword: "owner-password-1",
                ownerName: nil
            )
            let port = TestPorts.pair()
            let process = try TollgateProcess(
                ["serve"],
                environment: [
                    "DATABASE_URL": database.conninfo(role: "tollgate_api"), "TOLLGATE_SECRET": String(repeating: "k", count: 40),
                    "PORT": "\(port)", "SHUTDOWN_TIMEOUT": "\(shutdownTimeout)", "DATABASE_STATEMENT_TIMEOUT": "300",
                ]
            )
            let base = "http://127.0.0.1:\(port)"
            try await eventually("serve to be ready", timeout: .seconds(30)) {
                (try? await Self.status(of: URL(string: base + "/health/ready")!)) == 200
            }

            let blocker = try await offCooperativePool { () -> PQConnection in
                let connection = try PQConnection.connect(database.conninfo())
                try connection.execute(unsafeSQL: "BEGIN; LOCK TABLE sessions IN SHARE MODE")
                return connection
            }
            let login = Task {
                try await Self.fetch(
                    URL(string: base + "/v1/auth/login")!,
                    curlArguments: [
                        "--max-time", "60", "-H", "Content-Type: application/json",
                        "-d", #"{"email":"owner@acme.test","password":"owner-password-1","client":"phone_app"}"#,
                    ]
                )
            }
            let waitingOnLock: PQQuery = """
                SELECT count(*) AS n FROM pg_stat_activity
                WHERE datname = current_database() AND usename = 'tollgate_api' AND wait_event_type = 'Lock'
                """
            try await eventually("the login to wait on the lock", timeout: .seconds(30)) {
                try await owner.query(waitingOnLock).first?.decode("n", as: Int.self) == 1
            }
            await owner.close()
            try await body(process, base, login) {
                _ = try await offCooperativePool { try blocker.execute(unsafeSQL: "COMMIT") }
            }
        }
    }

    /// A worker running as a process of its own can be scraped and probed: its queue and
    /// delivery metrics were recorded but, before WORKER_METRICS_PORT, served nowhere.
    @Test(.postgres) func aWorkerOnItsOwnServesMetricsAndHealthChecks() async throws {
        let database = try TestDatabase.current
        let owner = database.pool(role: nil, maxConnections: 1)
        let provisioning = Provisioning(pool: owner, hasher: PasswordHasher(concurrency: 1))
        let (companyID, _) = try await provisioning.createCompany(
            name: "Acme",
            ownerEmail: "owner@acme.test",
            ownerPassword: "owner-password-1",
            ownerName: nil
        )
        try await owner.query(
            """
            INSERT INTO email_outbox (company_id, recipient, template, subject, body_text, body_html, message_id)
            VALUES (\(companyID), 'owner@acme.test', 'two_factor_enabled', 'Two-factor authentication is on',
                    'It is on.', '<p>It is on.</p>', \("<\(UUID().uuidString)@tollgate.test>"))
            """
        )
        await owner.close()
        let mail = NSTemporaryDirectory() + "tollgate-worker-mail-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: mail) }
        let port = TestPorts.pair()
        let process = try TollgateProcess(
            ["worker"],
            environment: [
                "DATABASE_URL": database.conninfo(role: "tollgate_worker"), "MAIL_DIRECTORY": mail, "WORKER_METRICS_PORT": "\(port)",
            ]
        )

        // Wait (bounded) until the queued email shows as sent on the worker's own page.
        let metrics = URL(string: "http://127.0.0.1:\(port)/metrics")!
        var page = ""
        try await eventually("the worker's page to count the email sent", timeout: .seconds(30)) {
            page = (try? await Self.fetch(metrics))?.body ?? ""
            return page.contains("\ntollgate_emails_sent_total 1")
        }
        #expect(page.contains("tollgate_email_queue_depth") && page.contains("tollgate_db_pool_open"))
        #expect(!page.contains("tollgate_challenges_open"), "the worker role may not count challenges")
        let files = try FileManager.default.contentsOfDirectory(atPath: mail).filter { $0.hasSuffix(".eml") }
        #expect(files.count == 1)
        #expect(try await Self.status(of: URL(string: "http://127.0.0.1:\(port)/health/ready")!) == 200)
        let unknown = try await Self.fetch(URL(string: "http://127.0.0.1:\(port)/v1/me")!)
        #expect(unknown.status == 404 && unknown.body.contains(#""error""#), "\(unknown.body)")

        #expect(await process.stop(SIGTERM) == 0, "the worker must exit cleanly on SIGTERM")
    }

    /// A GET with curl, so the test does not depend on an HTTP client library.
    static func status(of url: URL) async throws -> Int {
        try await fetch(url).status
    }

    static func fetch(_ url: URL, curlArguments: [String] = ["--max-time", "2"]) async throws -> (status: Int, body: String) {
        // curl writes the status after the body, on a line of its own.
        let run = try await TollgateProcess.run(
            ["-s", "-w", "\n%{http_code}"] + curlArguments + [url.absoluteString],
            program: "/usr/bin/curl",
            within: .seconds(120)
        )
        var text = run.output
        guard let newline = text.lastIndex(of: "\n") else { return (0, "") }
        let status = Int(text[text.index(after: newline)...]) ?? 0
        text.removeSubrange(newline...)
        return (status, text)
    }
}
