import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PQ
import TestSupport
import Testing
import TollgateCore

/// Two `serve` and two `worker` processes on one database: the races and the limits hold
/// across processes because they live in PostgreSQL (issue: several instances).
@Suite(.timeLimit(.minutes(5))) struct MultiProcessTests {
    static func post(_ http: HTTPClient, _ url: String, _ json: [String: any Sendable]) async throws -> (status: Int, body: [String: Any]) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        let response = try await http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
        return (Int(response.status.code), object)
    }

    /// The current code of `recipient`'s login challenge, read from the delivered message (the
    /// workers scrub the stored copy right after delivery). The challenge names its current
    /// email; the newest by created_at may be a code a concurrent resend already replaced.
    static func deliveredCode(for recipient: String, app: TestApp, mail: String) async throws -> String {
        let rows = try await app.sql(
            """
            SELECT o.message_id FROM challenges c JOIN email_outbox o ON o.id = c.email_id
            WHERE o.recipient = \(recipient) AND c.purpose = 'login' ORDER BY c.last_sent_at DESC LIMIT 1
            """
        )
        let messageID = try #require(try rows.first?.decode("message_id", as: String.self))
        // The file transport names each message after its Message-ID.
        var message: String?
        try await eventually("the email \(messageID) to be written", timeout: .seconds(30)) {
            message = try? String(contentsOfFile: mail + "/\(messageID).eml", encoding: .utf8)
            return message != nil
        }
        return try #require(TestApp.code(in: DeliveryStateTests.plainText(message ?? "")))
    }

    @Test func racesAndLimitsHoldAcrossTwoServersAndTwoWorkers() async throws {
        let mail = NSTemporaryDirectory() + "tollgate-mp-mail-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: mail) }
        try await TestApp.with({ $0.domain.codes.resendCooldown = 0 }) { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let secret = String(decoding: app.configuration.domain.secrets[0], as: UTF8.self)
            let ports = [TestPorts.pair(), TestPorts.pair()]
            var children: [TollgateProcess] = []
            for port in ports {
                children.append(
                    try TollgateProcess(
                        ["serve"],
                        environment: [
                            "DATABASE_URL": app.database.conninfo(role: "tollgate_api"), "TOLLGATE_SECRET": secret, "PORT": "\(port)",
                            "RESEND_COOLDOWN": "0", "LOG_LEVEL": "error",
                        ]
                    )
                )
            }
            for _ in 0..<2 {
                children.append(
                    try TollgateProcess(
                        ["worker"],
                        environment: [
                            "DATABASE_URL": app.database.conninfo(role: "tollgate_worker"), "MAIL_DIRECTORY": mail, "LOG_LEVEL": "error",
                        ]
                    )
                )
            }
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            do {
                let servers = ports.map { "http://127.0.0.1:\($0)" }
                for server in servers {
                    try await eventually("\(server) to be ready", timeout: .seconds(30)) {
                        (try? await CommandLineTests.status(of: URL(string: server + "/health/ready")!)) == 200
                    }
                }
                // Resends spread over both servers: at most three accepted.
                let login = try await Self.post(
                    http,
                    servers[0] + "/v1/auth/login",
                    ["email": seed.member.email, "password": seed.member.password, "client": "dashboard"]
                )
                #expect(login.status == 202)
                let token = try #require((login.body["challenge"] as? [String: Any])?["token"] as? String)
                let resends = try await withThrowingTaskGroup(of: Int.self) { group in
                    for index in 0..<20 {
                        group.addTask { try await Self.post(http, servers[index % 2] + "/v1/auth/login/resend", ["challenge_token": token]).status }
                    }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
                #expect(resends.filter { $0 == 202 }.count == 3)

                // The right code on both servers at once: exactly one session.
                let code = try await Self.deliveredCode(for: seed.member.email, app: app, mail: mail)
                let verifies = try await withThrowingTaskGroup(of: Int.self) { group in
                    for index in 0..<20 {
                        group.addTask {
                            try await Self.post(http, servers[index % 2] + "/v1/auth/login/verify", ["challenge_token": token, "code": code]).status
                        }
                    }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
                #expect(verifies.filter { $0 == 200 }.count == 1)
                #expect(verifies.filter { $0 == 410 }.count == 19)

                // Wrong passwords on both servers: the account limit (10) holds across them.
                let guesses = try await withThrowingTaskGroup(of: Int.self) { group in
                    for index in 0..<30 {
                        group.addTask {
                            try await Self.post(
                                http,
                                servers[index % 2] + "/v1/auth/login",
                                ["email": seed.admin.email, "password": "wrong-\(index)", "client": "dashboard"]
                            ).status
                        }
                    }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
                #expect(guesses.filter { $0 == 401 }.count == 10)
                #expect(guesses.filter { $0 == 429 }.count == 20)

                // Both workers drained the queue, and no email went out twice.
                try await eventually("both workers to drain the queue", timeout: .seconds(30)) {
                    let pending = try await app.sql("SELECT count(*) AS n FROM email_outbox WHERE status IN ('queued', 'sending')")
                    return try pending.first?.decode("n", as: Int.self) == 0
                }
                let queued = try await app.sql("SELECT count(*) AS n FROM email_outbox").first?.decode("n", as: Int.self) ?? 0
                let files = try FileManager.default.contentsOfDirectory(atPath: mail).filter { $0.hasSuffix(".eml") }
                #expect(files.count == queued, "each queued email written")
                // Files are named by Message-ID, so a second send would overwrite the first: the
                // attempts table is where a double send would show.
                let attempts = try await app.sql("SELECT count(*) AS n FROM email_attempts").first?.decode("n", as: Int.self)
                #expect(attempts == queued, "each queued email sent exactly once")
            } catch {
                Issue.record("\(error)")
            }
            try await http.shutdown()
            for child in children { #expect(await child.stop() == 0) }
        }
    }
}
