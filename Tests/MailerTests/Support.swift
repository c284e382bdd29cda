import Foundation
import Logging
import Mailer
import PQ
import TestSupport
import Testing
import TollgateCore

#if canImport(Glibc)
import Glibc
#endif

/// The package's root folder, from this file's place in it.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A message as the SMTP sink received and parsed it (Python's `email` package).
struct SinkMessage: Decodable {
    let mail_from: String
    let rcpt_tos: [String]
    let headers: [String: String]
    let content_type: String
    let text: String?
    let html: String?
    let tls: Bool
    let authenticated: Bool

    /// The Message-ID without angle brackets.
    var messageID: String {
        (headers["Message-ID"] ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "<> "))
    }
}

/// A real SMTP server (Tests/MailerTests/smtp_sink.py on aiosmtpd) in a child process.
final class SMTPSink: @unchecked Sendable {
    let folder: URL
    let messages: URL
    let modeFile: URL
    let process: TollgateProcess
    let port: Int
    let caFile: String?

    struct Info: Decodable {
        let port: Int
        let cafile: String?
    }

    /// Starts the sink and waits (bounded) until it listens.
    init(
        port: Int = 0,
        mode: String = "accept",
        starttls: Bool = false,
        auth: String? = nil,
        delayMilliseconds: Int = 0,
        folder: URL? = nil
    )
        async throws
    {
        let folder = folder ?? URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("smtp-sink-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        self.folder = folder
        messages = folder.appendingPathComponent("messages")
        modeFile = folder.appendingPathComponent("mode")
        let info = folder.appendingPathComponent("info-\(UUID().uuidString).json")
        var arguments = [
            packageRoot.appendingPathComponent("Tests/MailerTests/smtp_sink.py").path, "--dir", messages.path, "--port", "\(port)",
            "--mode", mode, "--mode-file", modeFile.path, "--info", info.path, "--delay-ms", "\(delayMilliseconds)",
        ]
        if starttls { arguments.append("--starttls") }
        if let auth { arguments += ["--auth", auth] }
        // The test tools live in the repository's .venv (scripts/test); else python3 on PATH.
        let venv = packageRoot.appendingPathComponent(".venv/bin/python3").path
        let process =
            FileManager.default.isExecutableFile(atPath: venv)
            ? try TollgateProcess(arguments, program: venv)
            : try TollgateProcess(["python3"] + arguments, program: "/usr/bin/env")
        self.process = process
        var parsed: Info?
        do {
            try await eventually("the SMTP sink to listen", timeout: .seconds(20)) {
                if !process.isRunning { return true }
                guard let data = FileManager.default.contents(atPath: info.path) else { return false }
                parsed = try JSONDecoder().decode(Info.self, from: data)
                return true
            }
        } catch {
            process.kill()
            throw error
        }
        guard let parsed else {
            throw SinkFailed(message: "the SMTP sink exited: \(process.output)\(process.errorOutput)")
        }
        self.port = parsed.port
        self.caFile = parsed.cafile
    }

    struct SinkFailed: Error { let message: String }

    /// The messages received so far.
    func received() throws -> [SinkMessage] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: messages.path)) ?? []
        return try files.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.map { name in
            try JSONDecoder().decode(SinkMessage.self, from: Data(contentsOf: messages.appendingPathComponent(name)))
        }
    }

    var receivedCount: Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: messages.path)) ?? []).filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }
            .count
    }

    /// Switches the reply mode of the running server (accept, tempfail, permfail).
    func setMode(_ mode: String) throws {
        try Data(mode.utf8).write(to: modeFile, options: .atomic)
    }

    /// Stops the server.
    func stop() {
        process.kill()
    }

    deinit { stop() }
}

/// A company, its emails and workers in one test database.
struct MailFixture {
    let database: TestDatabase
    let owner: PQPool
    let api: PQPool
    let companyID: UUID

    static let mailFrom = "Tollgate Tests <tollgate@example.test>"

    static func make(_ database: TestDatabase, companyName: String = "Acme") async throws -> MailFixture {
        let owner = database.pool(role: nil)
        let companyID = UUID()
        // A company needs an owner (a deferred constraint), so both go in one transaction.
        try await owner.withTransaction { tx in
            try tx.query("INSERT INTO companies (id, name) VALUES (\(companyID), \(companyName))")
            try tx.query(
                """
                INSERT INTO users (company_id, email, role, dashboard_access, password_hash)
                VALUES (\(companyID), \("owner-\(companyID.uuidString.lowercased())@acme.example"), 'owner', true, 'not-a-hash')
                """
            )
        }
        return MailFixture(database: database, owner: owner, api: database.pool(role: "tollgate_api"), companyID: companyID)
    }

    /// Queues a login code email as the login flow does, in a tenant transaction of the API role.
    @discardableResult
    func enqueueCode(
        _ code: String,
        to recipient: String = "jane.doe@acme.example",
        expiresIn: TimeInterval = 600,
        companyName: String = "Acme",
        userAgent: String = "Mozilla/5.0 (tests)"
    ) async throws -> UUID {
        let companyID = self.companyID
        let now = Date()
        let email = EmailTemplates.loginCode(
            code: code,
            expiresAt: now.addingTimeInterval(expiresIn),
            requestedAt: now,
            client: ClientInfo(ip: "203.0.113.7", userAgent: userAgent),
            companyName: companyName
        )
        return try await api.withTenant(companyID) { tx in
            Outbox.enqueue(
                companyID: companyID,
                challengeID: nil,
                recipient: recipient,
                template: .loginCode,
                email: email,
                codeExpiresAt: now.addingTimeInterval(expiresIn),
                in: tx
            )
        }
    }

    /// Queues `count` code emails in one transaction; returns their ids.
    func enqueueMany(_ count: Int) async throws -> [UUID] {
        let companyID = self.companyID
        return try await api.withTenant(companyID) { tx in
            (0..<count).map { index in
                let code = String(format: "%06d", 100_000 + index)
                let email = EmailTemplates.loginCode(
                    code: code,
                    expiresAt: Date().addingTimeInterval(600),
                    requestedAt: Date(),
                    client: ClientInfo(ip: "203.0.113.7", userAgent: "load"),
                    companyName: "Acme"
                )
                return Outbox.enqueue(
                    companyID: companyID,
                    challengeID: nil,
                    recipient: "user\(index)@acme.example",
                    template: .loginCode,
                    email: email,
                    codeExpiresAt: Date().addingTimeInterval(600),
                    in: tx
                )
            }
        }
    }

    /// One email row, read as the owner.
    func row(_ id: UUID) async throws -> PQRow {
        try #require(
            try await owner.query(
                "SELECT *, extract(epoch FROM sent_at - created_at)::float8 AS latency FROM email_outbox WHERE id = \(id)"
            ).first
        )
    }

    func status(_ id: UUID) async throws -> String {
        try await row(id).decode("status", as: String.self)
    }

    func count(_ sql: PQQuery) async throws -> Int {
        try await owner.query(sql).first!.decode(at: 0, as: Int.self)
    }

    /// A worker for this database with the given SMTP URL and settings.
    func worker(
        smtpURL: String?,
        settings: (inout WorkerSettings) -> Void = { _ in },
        transport: (any MailTransport)? = nil
    ) throws -> (
        OutboxWorker, PQPool
    ) {
        var mail = MailSettings()
        mail.smtpURL = smtpURL
        mail.mailFrom = Self.mailFrom
        mail.worker.retryBaseSeconds = 1
        mail.worker.retryMaxSeconds = 2
        settings(&mail.worker)
        let pool = database.pool(role: "tollgate_worker", maxConnections: 2)
        var logger = Logger(label: "tollgate.tests.worker")
        logger.logLevel = .critical
        return (try makeOutboxWorker(settings: mail, pool: pool, logger: logger, transport: transport), pool)
    }

    func close() async {
        await owner.close()
        await api.close()
    }
}

/// Runs `worker` while `body` runs, then stops it gracefully and closes its pool.
func running<T>(_ worker: (OutboxWorker, PQPool), _ body: () async throws -> T) async throws -> T {
    let task = Task { try await worker.0.run() }
    do {
        let value = try await body()
        worker.0.stop()
        try await task.value
        await worker.1.close()
        return value
    } catch {
        worker.0.stop()
        _ = try? await task.value
        await worker.1.close()
        throw error
    }
}
