import ArgumentParser
import EmbeddedPostgres
import Foundation
import Hummingbird
import Logging
import Mailer
import Metrics
import NIOPosix
import PQ
import Prometheus
import ServiceLifecycle
import TollgateCore
import TollgateHTTP

/// `tollgate dev`: the whole product on one machine with no set-up (SPEC §6).
struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Run everything locally: a private PostgreSQL, migrations, a demo company, the API and the email worker.",
        discussion: "Without DATABASE_URL, a private cluster lives in .tollgate/postgres. Emails are written to .tollgate/mail as .eml files."
    )

    @Option(help: "Folder for the private cluster, secret and mail.") var stateDirectory = ".tollgate"
    @Option(help: "Address to listen on (overrides HOST).") var host: String?
    @Option(help: "Port to listen on (overrides PORT; 8080 by default).") var port: Int?

    func run() async throws {
        var configuration = try loadConfiguration(requireDatabase: false, requireSecret: false, host: host, port: port)
        MetricsSystem.bootstrap(PrometheusMetricsFactory())
        let logger = Logger(label: "tollgate.dev")
        let state = URL(fileURLWithPath: stateDirectory).standardizedFileURL.path
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)

        var cluster: EmbeddedPostgres?
        // Like production, the API and the worker connect to the private cluster as their own
        // roles (row-level security applies); to a DATABASE_URL, as the URL says.
        var roles: (api: String, worker: String)?
        if configuration.database.url == nil {
            let dataDirectory = EmbeddedPostgres.dataDirectory(forState: state)
            if dataDirectory != state + "/postgres" {
                FileHandle.standardOutput.write(
                    Data("dev: the cluster user cannot reach \(state), so the private PostgreSQL lives in \(dataDirectory)\n".utf8)
                )
            }
            let embedded = EmbeddedPostgres(dataDirectory: dataDirectory, logger: logger)
            do {
                try await Self.offCooperativePool { try embedded.start() }
            } catch {
                throw fail("dev: \(error)")
            }
            cluster = embedded
            configuration.database.url = embedded.conninfo(database: "tollgate")
            try await Self.createDatabase(configuration.database, logger: logger)
            roles = ("tollgate_api", "tollgate_worker")
        }
        do {
            try await Self.runProduct(configuration, roles: roles, state: state, logger: logger)
        } catch {
            if let cluster { try? await Self.offCooperativePool { cluster.stop() } }
            throw error
        }
        if let cluster { try? await Self.offCooperativePool { cluster.stop() } }
    }

    /// `pg_ctl` and `initdb` block their thread until the child exits (seconds, when a cluster
    /// is created): they run on NIO's blocking pool, not on Swift's cooperative threads.
    static func offCooperativePool(_ body: @escaping @Sendable () throws -> Void) async throws {
        try await NIOThreadPool.singleton.runIfActive(body)
    }

    /// Migrates, makes the demo company, then runs the API and the worker until a signal.
    static func runProduct(
        _ configuration: TollgateConfiguration,
        roles: (api: String, worker: String)?,
        state: String,
        logger: Logger
    ) async throws {
        var configuration = configuration
        if configuration.domain.secrets.isEmpty { configuration.domain.secrets = [try devSecret(in: state)] }
        configuration.mail.mailDirectory = configuration.mail.mailDirectory ?? state + "/mail"
        let database = configuration.database

        let ownerPool = makePool(database, size: 1, logger: logger)
        do {
            try await Migrator(migrations: try Migration.bundled(), logger: logger).migrate(pool: ownerPool)
            try await configuration.retention.store(pool: ownerPool)
            try await DemoData.ensure(pool: ownerPool, state: state, logger: logger)
        } catch {
            await ownerPool.close()
            throw fail("dev: \(error)")
        }
        await ownerPool.close()

        let pool = makePool(database, role: roles?.api, size: database.poolSize, statementTimeout: database.statementTimeout, logger: logger)
        // The email worker runs in this process, as the worker role, writing .eml files to the
        // mail folder (or sending by SMTP when SMTP_URL is set).
        let workerPool = makePool(
            database,
            role: roles?.worker,
            size: 2,
            statementTimeout: database.statementTimeout,
            applicationName: "tollgate-worker",
            logger: logger
        )
        let worker = try makeOutboxWorker(
            settings: configuration.mail,
            listenURL: database.listenURL,
            pool: workerPool,
            logger: logger,
            logCodes: true
        )
        let purger = Purger.worker(pool: workerPool, retention: configuration.retention, logger: logger)
        let app = try buildApplication(
            http: configuration.http,
            domain: configuration.domain,
            pool: pool,
            logger: logger,
            services: [workerPool, worker, purger]
        )
        logger.notice("dev.ready", metadata: ["url": "\(configuration.http.serverURL)"])
        try await runUntilSignalled(
            [app] + (try metricsListener(configuration.http, pool: pool, logger: logger)),
            shutdownTimeout: configuration.shutdownTimeout,
            logger: logger
        )
    }

    /// Creates the `tollgate` database in the private cluster on its first start. Through a
    /// pool, so that libpq runs on the pool's thread and not on Swift's cooperative threads.
    static func createDatabase(_ settings: DatabaseSettings, logger: Logger) async throws {
        let admin = makePool(settings, database: "postgres", size: 1, logger: logger)
        do {
            try await admin.withConnection { connection in
                if try connection.query("SELECT 1 FROM pg_database WHERE datname = 'tollgate'").isEmpty {
                    try connection.execute(unsafeSQL: "CREATE DATABASE tollgate")
                }
            }
        } catch {
            await admin.close()
            throw error
        }
        await admin.close()
    }

    /// A random HMAC secret kept in the state folder, so codes survive a restart.
    static func devSecret(in state: String) throws -> [UInt8] {
        let path = state + "/secret"
        if let existing = try? String(contentsOfFile: path, encoding: .utf8), existing.utf8.count >= 32 {
            return Array(existing.utf8)
        }
        let secret = Base64URL.encode(SecureRandom.bytes(32))
        _ = FileManager.default.createFile(atPath: path, contents: Data(secret.utf8), attributes: [.posixPermissions: 0o600])
        return Array(secret.utf8)
    }
}

/// The demo company `tollgate dev` creates once and whose credentials it prints.
enum DemoData {
    static let accounts: [(email: String, password: String, role: Role, dashboard: Bool, note: String)] = [
        ("owner@demo.example", "demo-owner-pass", .owner, true, "owner"),
        ("admin@demo.example", "demo-admin-pass", .admin, true, "admin"),
        ("member@demo.example", "demo-member-pass", .member, false, "member, phone app only"),
    ]

    /// The demo's platform API key: made once with the demo company and kept in the state
    /// folder (0600) so every start can print it; nil when the folder has none and the
    /// database already has a key of that name (made by another state folder).
    static func demoAPIKey(provisioning: Provisioning, state: String) async throws -> String? {
        let path = state + "/api-key"
        if let existing = try? String(contentsOfFile: path, encoding: .utf8), existing.hasPrefix("tgk_") {
            return existing.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let (_, key) = try? await provisioning.createAPIKey(name: "demo-platform", companyID: nil) else { return nil }
        _ = FileManager.default.createFile(atPath: path, contents: Data(key.utf8), attributes: [.posixPermissions: 0o600])
        return key
    }

    static func ensure(pool: PQPool, state: String, logger: Logger) async throws {
        let provisioning = Provisioning(pool: pool, hasher: PasswordHasher(concurrency: 1))
        let existing = try await pool.query("SELECT company_id FROM login_lookup(\(accounts[0].email))")
        var companyID = try existing.first?.decode("company_id", as: UUID?.self)
        // Demo accounts have published passwords: they go only into a database with no
        // company yet, never into one that DATABASE_URL points at and that holds real accounts.
        if companyID == nil, try await !pool.query("SELECT 1 FROM login_directory LIMIT 1").isEmpty {
            let text =
                "\nThis database already has companies, so no demo accounts were created (their passwords are public).\n"
                + "Log in with an existing account, or create one with `tollgate company create`.\n\n"
            FileHandle.standardOutput.write(Data(text.utf8))
            logger.notice("dev.demo_skipped", metadata: ["reason": "database has companies"])
            return
        }
        if companyID == nil {
            let owner = accounts[0]
            companyID = try await provisioning.createCompany(
                name: "Demo Company",
                ownerEmail: owner.email,
                ownerPassword: owner.password,
                ownerName: "Olivia Owner"
            ).companyID
            for account in accounts.dropFirst() {
                _ = try await provisioning.addUser(
                    companyID: companyID!,
                    email: account.email,
                    password: account.password,
                    role: account.role,
                    dashboardAccess: account.dashboard,
                    name: nil
                )
            }
        }
        var lines = ["", "Demo company \(companyID!.lowercasedString) — log in with:"]
        for account in accounts { lines.append("  \(account.email)  \(account.password)  (\(account.note))") }
        if let key = try await demoAPIKey(provisioning: provisioning, state: state) {
            lines.append("A platform key for the provisioning API (/v1/admin, docs/integrating.md):")
            lines.append("  \(key)")
        }
        lines.append("")
        // Written straight to the descriptor, so it shows at once even when the output is a file
        // or a pipe (print is buffered there until exit).
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}
