import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing
import TollgateCore

/// Every log line, kept in memory, metadata included.
final class CapturedLog: Sendable {
    private let lines = NIOLockedValueBox<[String]>([])
    var text: String { lines.withLockedValue { $0.joined(separator: "\n") } }

    func logger() -> Logger {
        var logger = Logger(label: "tollgate.captured") { _ in Handler(log: self) }
        logger.logLevel = .trace
        return logger
    }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            log.lines.withLockedValue { $0.append("\(event.level) \(event.message) \(all)") }
        }
    }
}

/// SPEC §2 and the quality bar: codes, tokens, passwords and full addresses never reach a log
/// line, whatever the path (right and wrong codes, resends, activation, failures, limits).
@Suite struct SecretsInLogsTests {
    @Test func noCodeTokenPasswordOrAddressReachesTheLogAtTraceLevel() async throws {
        let captured = CapturedLog()
        let collected = NIOLockedValueBox<[String]>([])
        try await TestApp.with(
            {
                $0.domain.codes.resendCooldown = 0
                $0.domain.limits.failedPasswords = 2
            },
            logger: captured.logger()
        ) { app, client in
            let seed = try await app.seed()
            var secrets = [seed.owner.password, seed.admin.password, seed.member.password]
            defer { collected.withLockedValue { $0 = secrets } }
            let ownerSession = try await app.enableTwoFactor(seed, client: client)
            secrets.append(ownerSession)
            let token = try await client.login(seed.member, client: "dashboard").challengeToken()
            secrets.append(token)
            secrets.append(try await app.latestCode(for: seed.member.email))
            _ = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": "000000"])
            _ = try await client.post("/v1/auth/login/resend", ["challenge_token": token])
            let code = try await app.latestCode(for: seed.member.email)
            secrets.append(code)
            let session = try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": code]).sessionToken()
            secrets.append(session)
            _ = try await client.get("/v1/me", token: session)
            for _ in 0..<3 {
                _ = try await client.post("/v1/auth/login", ["email": seed.admin.email, "password": "wrong-password-9", "client": "dashboard"])
            }
            secrets.append("wrong-password-9")
            _ = try await client.post("/v1/auth/login", ["email": "stranger@elsewhere.test", "password": "stranger-pass-7", "client": "dashboard"])
            secrets.append("stranger-pass-7")
            _ = try await client.post("/v1/auth/logout", token: session)
        }
        let text = captured.text
        #expect(text.contains("login"), "the log was captured")
        let secrets = collected.withLockedValue { $0 }
        #expect(secrets.count == 10)
        for secret in secrets where text.contains(secret) {
            Issue.record("the log carries a secret: \(secret.prefix(3))…")
        }
        // Full addresses: only hints (j***@acme.test) may appear.
        for address in ["owner@acme.test", "admin@acme.test", "member@acme.test", "stranger@elsewhere.test"] {
            #expect(!text.contains(address), "the log carries \(address)")
        }
    }
}
