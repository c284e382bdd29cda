import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Mailer
import PQ
import ServiceLifecycle
import TestSupport
import Testing
import TollgateCore

/// The challenge's `delivery` follows its code email through the real worker (SPEC §4).
@Suite struct DeliveryStateTests {
    /// The decoded text/plain part of a MIME message, as a mail client shows it.
    static func plainText(_ message: String) -> String {
        let normalized = message.replacingOccurrences(of: "\r\n", with: "\n")
        guard let start = normalized.range(of: "Content-Type: text/plain") else { return normalized }
        let rest = normalized[start.upperBound...]
        guard let bodyStart = rest.range(of: "\n\n") else { return "" }
        let body = rest[bodyStart.upperBound...].prefix { $0 != "-" }
        let base64 = body.filter { !$0.isWhitespace }
        return Data(base64Encoded: String(base64)).map { String(decoding: $0, as: UTF8.self) } ?? String(body)
    }

    @Test func aChallengeReportsSentOnceTheWorkerDeliveredItsEmail() async throws {
        let folder = NSTemporaryDirectory() + "tollgate-mail-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await TestApp.with({ $0.mail.mailDirectory = folder }) { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let login = try await client.login(seed.member, client: "dashboard")
            #expect(try login.string("challenge", "delivery") == "queued")
            let token = try login.challengeToken()
            let code = try await app.latestCode(for: seed.member.email)

            let workerPool = app.database.pool(role: "tollgate_worker", maxConnections: 2)
            let worker = try makeOutboxWorker(
                settings: app.configuration.mail,
                listenURL: app.database.conninfo(role: "tollgate_worker"),
                pool: workerPool,
                logger: TestPostgres.logger
            )
            let running = Task { try await worker.run() }
            defer { running.cancel() }

            // Wait (bounded) for what the user would see: the dashboard's delivery state.
            try await eventually("the challenge to show its email as sent") {
                try await client.post("/v1/auth/login/challenge", ["challenge_token": token]).string("challenge", "delivery") == "sent"
            }
            // The file the user got holds the code; the stored copy no longer does.
            let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".eml") }
            let messages = try files.map { try String(contentsOfFile: folder + "/" + $0, encoding: .utf8) }
            let toMember = messages.filter { $0.contains("To: \(seed.member.email)") }
            #expect(toMember.count == 1)
            #expect(toMember.map(Self.plainText).contains { $0.contains(code) })
            let stored = try await app.sql("SELECT count(*) AS n FROM email_outbox WHERE position(\(code) IN body_text) > 0")
            #expect(try stored.first?.decode("n", as: Int.self) == 0)
            #expect(try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": code]).status == .ok)
            running.cancel()
            _ = try? await running.value
            await workerPool.close()
        }
    }
}
