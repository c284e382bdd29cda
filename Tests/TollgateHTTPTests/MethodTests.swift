import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PQ
import TestSupport
import Testing
import TollgateCore

@testable import TollgateHTTP

/// "Your sign-in methods" (SPEC §13, §13.1): adding an authenticator app, confirming it with a
/// code computed here, listing and removing it; the reauthentication rule, the limit of two
/// apps under concurrency, tenancy, the secret's secrecy, and the provisioning API's view and
/// reset (SPEC §11), against the real router and database.
@Suite struct MethodTests {
    // MARK: Helpers

    /// A dashboard session of `account` that has just passed a login code (2FA must be on).
    static func freshSession(_ app: TestApp, _ client: Client, _ account: Seed.Account) async throws -> String {
        let token = try await client.login(account, client: "dashboard").challengeToken()
        let code = try await app.latestCode(for: account.email)
        return try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": code]).sessionToken()
    }

    /// Makes a session's login code older than the 10 minutes that count as recent.
    static func age(_ app: TestApp, session token: String) async throws {
        try await app.sql("UPDATE sessions SET created_at = now() - interval '11 minutes' WHERE token_hash = \(BearerToken.hash(token))")
    }

    /// RFC 4648 base32 without padding, as the API answers it.
    static func base32Decode(_ text: String) -> [UInt8]? {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var bytes: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for character in text {
            guard let value = alphabet.firstIndex(of: character) else { return nil }
            buffer = (buffer << 5) | UInt32(value)
            bits += 5
            if bits >= 8 {
                bits -= 8
                bytes.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        return bytes
    }

    /// The app's code `offset` steps from now.
    static func code(_ secret: [UInt8], offset: Int64 = 0) -> String {
        TOTP.code(secret: secret, step: TOTP.step(at: Date()) + offset)
    }

    /// Starts an enrollment; its id and secret.
    static func enroll(
        _ client: Client,
        token: String,
        name: String = "Phone",
        password: String? = nil
    ) async throws -> (id: String, secret: [UInt8], reply: Reply) {
        var body: [String: any Sendable] = ["name": name]
        if let password { body["password"] = password }
        let reply = try await client.post("/v1/me/methods/totp", body, token: token)
        #expect(reply.status == .created, "\(String(decoding: reply.body, as: UTF8.self))")
        let secret = try #require(base32Decode(try reply.string("enrollment", "secret")))
        return (try reply.string("enrollment", "id"), secret, reply)
    }

    /// Enrolls and confirms an app; its method id and secret. `offset` picks the code's step
    /// (a second app confirmed in the same 30 seconds needs the next step's code: each step
    /// counts once per user).
    static func addApp(_ client: Client, token: String, name: String = "Phone", offset: Int64 = 0) async throws -> (id: String, secret: [UInt8]) {
        let (id, secret, _) = try await enroll(client, token: token, name: name)
        let confirmed = try await client.post("/v1/me/methods/totp/\(id)/confirm", ["code": code(secret, offset: offset)], token: token)
        #expect(confirmed.status == .ok, "\(String(decoding: confirmed.body, as: UTF8.self))")
        return (try confirmed.string("method", "id"), secret)
    }

    static func delete(_ client: Client, _ path: String, _ json: [String: any Sendable]? = nil, token: String) async throws -> Reply {
        guard let json else { return try await client.request(.delete, path, token: token) }
        let data = try JSONSerialization.data(withJSONObject: json)
        return try await client.request(.delete, path, body: ByteBuffer(bytes: data), token: token)
    }

    static func methods(_ client: Client, token: String) async throws -> [[String: Any]] {
        let reply = try await client.get("/v1/me/methods", token: token)
        #expect(reply.status == .ok)
        return reply.json["methods"] as? [[String: Any]] ?? []
    }

    static func count(_ app: TestApp, _ query: PQQuery) async throws -> Int {
        try await app.sql(query).first?.decode("n", as: Int.self) ?? -1
    }

    // MARK: The flow

    @Test func anAppIsAddedWithACodeListedAndRemoved() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let session = try await Self.freshSession(app, client, seed.member)

            let before = try await Self.methods(client, token: session)
            #expect(before.count == 1)
            #expect(before.first?["id"] as? String == "email" && before.first?["kind"] as? String == "email")
            #expect(before.first?["last_used_at"] is NSNull)

            let (id, secret, started) = try await Self.enroll(client, token: session, name: "  Work phone  ")
            #expect(secret.count == 20)
            let text = try started.string("enrollment", "secret")
            #expect(text.count == 32 && text.allSatisfy { $0.isUppercase || ("2"..."7").contains($0) })
            #expect(
                try started.string("enrollment", "otpauth_uri")
                    == "otpauth://totp/Acme:member%40acme.test?secret=\(text)&issuer=Acme&algorithm=SHA1&digits=6&period=30"
            )
            let svg = try started.string("enrollment", "qr_svg")
            #expect(svg.hasPrefix("<svg ") && svg.contains("role=\"img\"") && svg.contains("crispEdges"))
            // Not a method until confirmed.
            #expect(try await Self.methods(client, token: session).count == 1)

            let wrongCode = Self.code(secret, offset: 5)
            let wrong = try await client.post("/v1/me/methods/totp/\(id)/confirm", ["code": wrongCode], token: session)
            #expect(wrong.status == .unauthorized && wrong.errorCode == "invalid_code")
            let confirmed = try await client.post("/v1/me/methods/totp/\(id)/confirm", ["code": Self.code(secret)], token: session)
            #expect(confirmed.status == .ok)
            #expect(confirmed.value("method", "kind") as? String == "totp")
            #expect(confirmed.value("method", "name") as? String == "Work phone")
            #expect(confirmed.value("method", "id") as? String == id)
            // Confirmed once: the same enrollment cannot be confirmed again.
            let again = try await client.post("/v1/me/methods/totp/\(id)/confirm", ["code": Self.code(secret, offset: 1)], token: session)
            #expect(again.status == .notFound && again.errorCode == "not_found")

            let listed = try await Self.methods(client, token: session)
            #expect(listed.map { $0["kind"] as? String } == ["email", "totp"])
            #expect(listed.last?["id"] as? String == id)
            // The step of the confirming code is the user's last: it cannot count again.
            let step = try await app.sql("SELECT totp_last_step FROM users WHERE id = \(seed.member.id)").first?.decode(
                "totp_last_step",
                as: Int64?.self
            )
            #expect(step.map { abs($0 - TOTP.step(at: Date())) <= 1 } == true)

            #expect(try await Self.count(app, "SELECT count(*) AS n FROM events WHERE type = 'method.added' AND user_id = \(seed.member.id)") == 1)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM events WHERE type = 'method.confirm_failed'") == 1)
            let detail = try await app.sql("SELECT detail::text AS d FROM events WHERE type = 'method.added'").first?.decode("d", as: String.self)
            #expect(detail?.contains("\"kind\": \"totp\"") == true && detail?.contains("Work phone") == true && detail?.contains(id) == true)
            #expect(
                try await Self.count(
                    app,
                    "SELECT count(*) AS n FROM email_outbox WHERE template = 'method_added' AND recipient = \(seed.member.email)"
                ) == 1
            )

            let removed = try await Self.delete(client, "/v1/me/methods/\(id)", token: session)
            #expect(removed.status == .noContent)
            #expect(try await Self.methods(client, token: session).count == 1)
            #expect(try await Self.delete(client, "/v1/me/methods/\(id)", token: session).status == .notFound)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM events WHERE type = 'method.removed' AND detail->>'method_id' = \(id)") == 1)
            #expect(
                try await Self.count(
                    app,
                    "SELECT count(*) AS n FROM email_outbox WHERE template = 'method_removed' AND recipient = \(seed.member.email)"
                ) == 1
            )
            // Email stays with every account.
            let email = try await Self.delete(client, "/v1/me/methods/email", token: session)
            #expect(email.status == .conflict && email.errorCode == "last_required_method")
        }
    }

    // MARK: Reauthentication

    @Test func addingAndRemovingNeedARecentCodeOrThePassword() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let session = try await Self.freshSession(app, client, seed.admin)
            let (id, _) = try await Self.addApp(client, token: session)
            try await Self.age(app, session: session)

            let noPassword = try await client.post("/v1/me/methods/totp", ["name": "Tablet"], token: session)
            #expect(noPassword.status == .forbidden && noPassword.errorCode == "reauthentication_required")
            let wrong = try await client.post("/v1/me/methods/totp", ["name": "Tablet", "password": "not-the-password"], token: session)
            #expect(wrong.status == .forbidden && wrong.errorCode == "reauthentication_required")
            // The wrong password counted as a failed password of the address (SPEC §5).
            #expect(try await Self.count(app, "SELECT coalesce(sum(count), 0)::int AS n FROM rate_limits WHERE key LIKE 'failed_password:%'") == 1)
            _ = try await Self.enroll(client, token: session, name: "Tablet", password: seed.admin.password)
            #expect(try await Self.count(app, "SELECT coalesce(sum(count), 0)::int AS n FROM rate_limits WHERE key LIKE 'failed_password:%'") == 1)

            let removeBare = try await Self.delete(client, "/v1/me/methods/\(id)", token: session)
            #expect(removeBare.status == .forbidden && removeBare.errorCode == "reauthentication_required")
            let removeWrong = try await Self.delete(client, "/v1/me/methods/\(id)", ["password": "not-the-password"], token: session)
            #expect(removeWrong.status == .forbidden && removeWrong.errorCode == "reauthentication_required")
            #expect(try await Self.methods(client, token: session).count == 2, "nothing was removed")
            #expect(try await Self.delete(client, "/v1/me/methods/\(id)", ["password": seed.admin.password], token: session).status == .noContent)

            // A session made by the password alone (2FA off) has passed no second factor.
            let globex = try await app.seed(name: "Globex", domain: "globex.test")
            let passwordOnly = try await client.login(globex.owner, client: "dashboard").sessionToken()
            let refused = try await client.post("/v1/me/methods/totp", ["name": "Phone"], token: passwordOnly)
            #expect(refused.status == .forbidden && refused.errorCode == "reauthentication_required")
            _ = try await Self.enroll(client, token: passwordOnly, password: globex.owner.password)

            // The phone app's sessions are refused on every dashboard route.
            let phone = try await client.login(seed.member, client: "phone_app").sessionToken()
            for reply in [
                try await client.get("/v1/me/methods", token: phone),
                try await client.post("/v1/me/methods/totp", ["name": "Phone", "password": seed.member.password], token: phone),
                try await Self.delete(client, "/v1/me/methods/\(id)", token: phone),
            ] {
                #expect(reply.status == .forbidden && reply.errorCode == "dashboard_session_required")
            }
            #expect(try await client.get("/v1/me/methods").status == .unauthorized)
        }
    }

    // MARK: Limits

    @Test func aUserHasAtMostTwoAppsAndAnUnconfirmedOneMakesRoom() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let session = try await Self.freshSession(app, client, seed.owner)
            _ = try await Self.addApp(client, token: session, name: "Phone")
            // One confirmed and one pending: a third start replaces the pending one.
            let (first, firstSecret, _) = try await Self.enroll(client, token: session, name: "Tablet")
            let (second, secondSecret, _) = try await Self.enroll(client, token: session, name: "Tablet")
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM user_methods WHERE user_id = \(seed.owner.id)") == 2)
            let replaced = try await client.post("/v1/me/methods/totp/\(first)/confirm", ["code": Self.code(firstSecret, offset: 1)], token: session)
            #expect(replaced.status == .notFound)
            let kept = try await client.post("/v1/me/methods/totp/\(second)/confirm", ["code": Self.code(secondSecret, offset: 1)], token: session)
            #expect(kept.status == .ok)
            // Two confirmed: no room.
            let third = try await client.post("/v1/me/methods/totp", ["name": "Laptop"], token: session)
            #expect(third.status == .conflict && third.errorCode == "method_limit_reached")
            #expect(try await Self.methods(client, token: session).count == 3)
        }
    }

    @Test func tenParallelEnrollmentsNeverMakeMoreThanTwoApps() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let session = try await Self.freshSession(app, client, seed.member)
            let started = try await RaceTests.parallel(10) { index in
                try await client.post("/v1/me/methods/totp", ["name": "Phone \(index)"], token: session)
            }
            #expect(started.allSatisfy { $0.status == .created })
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM user_methods WHERE user_id = \(seed.member.id)") == 2)

            // Two confirmed, then ten more at once: all refused, still two.
            var confirmed = 0
            for (offset, reply) in started.enumerated() {
                let id = try reply.string("enrollment", "id")
                let secret = try #require(Self.base32Decode(try reply.string("enrollment", "secret")))
                let answer = try await client.post(
                    "/v1/me/methods/totp/\(id)/confirm",
                    ["code": Self.code(secret, offset: Int64(confirmed))],
                    token: session
                )
                if answer.status == .ok { confirmed += 1 } else { #expect(answer.status == .notFound, "\(offset)") }
            }
            #expect(confirmed == 2)
            let more = try await RaceTests.parallel(10) { index in
                try await client.post("/v1/me/methods/totp", ["name": "Extra \(index)"], token: session)
            }
            #expect(more.allSatisfy { $0.status == .conflict && $0.errorCode == "method_limit_reached" })
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM user_methods WHERE user_id = \(seed.member.id)") == 2)
        }
    }

    @Test func wrongConfirmCodesCountAgainstTheAccountsHourlyLimit() async throws {
        try await TestApp.with({ $0.domain.limits.wrongCodesPerAccount = 3 }) { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let session = try await Self.freshSession(app, client, seed.member)
            let (id, secret, _) = try await Self.enroll(client, token: session)
            for _ in 0..<3 {
                let wrong = try await client.post("/v1/me/methods/totp/\(id)/confirm", ["code": "000000"], token: session)
                #expect(wrong.status == .unauthorized && wrong.errorCode == "invalid_code")
            }
            // Past the limit even the right code waits for the hour (the login's counter).
            let limited = try await client.post("/v1/me/methods/totp/\(id)/confirm", ["code": Self.code(secret)], token: session)
            #expect(limited.status == .tooManyRequests && limited.errorCode == "rate_limited")
            #expect(limited.headers[.retryAfter] != nil)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM events WHERE type = 'method.rate_limited'") == 1)
            #expect(try await client.login(seed.member, client: "dashboard").status == .tooManyRequests, "one counter for both")
        }
    }

    // MARK: Tenancy and bad input

    @Test func anotherUsersOrCompanysMethodIsNotFound() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let globex = try await app.seed(name: "Globex", domain: "globex.test")
            let globexSession = try await client.login(globex.owner, client: "dashboard").sessionToken()
            let (globexPending, globexSecret, _) = try await Self.enroll(client, token: globexSession, password: globex.owner.password)

            let owner = try await Self.freshSession(app, client, seed.owner)
            let member = try await Self.freshSession(app, client, seed.member)
            let (ownerApp, _) = try await Self.addApp(client, token: owner)
            let (ownerPending, ownerSecret, _) = try await Self.enroll(client, token: owner, name: "Tablet")

            for (id, secret) in [(globexPending, globexSecret), (ownerPending, ownerSecret)] {
                let confirm = try await client.post("/v1/me/methods/totp/\(id)/confirm", ["code": Self.code(secret, offset: 1)], token: member)
                #expect(confirm.status == .notFound && confirm.errorCode == "not_found")
            }
            let removeOther = try await Self.delete(client, "/v1/me/methods/\(ownerApp)", token: member)
            #expect(removeOther.status == .notFound && removeOther.errorCode == "not_found")
            #expect(try await Self.methods(client, token: owner).count == 2)
            // Malformed ids name nothing.
            for id in ["not-a-uuid", String(repeating: "9", count: 300), UUID().uuidString] {
                #expect(try await client.post("/v1/me/methods/totp/\(id)/confirm", ["code": "123456"], token: member).status == .notFound)
                #expect(try await Self.delete(client, "/v1/me/methods/\(id)", token: member).status == .notFound)
            }
        }
    }

    @Test func badInputIsRefusedWithTheEnvelope() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let session = try await Self.freshSession(app, client, seed.member)
            let path = "/v1/me/methods/totp"
            let bodies: [([String: any Sendable], String)] = [
                ([:], "name"), (["name": 7], "name"), (["name": ""], "name"), (["name": "   "], "name"),
                (["name": String(repeating: "n", count: 65)], "name"), (["name": String(repeating: "n", count: 50_000)], "name"),
                (["name": "two\nlines"], "name"), (["name": "Phone", "password": 12_345], "password"), (["name": ["Phone"]], "name"),
            ]
            for (body, field) in bodies {
                let reply = try await client.post(path, body, token: session)
                #expect(reply.status == .badRequest && reply.errorCode == "invalid_request", "\(body)")
                #expect(reply.errorField == field, "\(body)")
            }
            let notJSON = try await client.request(.post, path, body: ByteBuffer(string: "{name"), token: session)
            #expect(notJSON.status == .badRequest && notJSON.errorField == "body")
            let wrongType = try await client.request(.post, path, body: ByteBuffer(string: "name=x"), contentType: "text/plain", token: session)
            #expect(wrongType.status == .unsupportedMediaType)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM user_methods") == 0)

            let (id, _, _) = try await Self.enroll(client, token: session)
            for (body, field) in [([:], "code"), (["code": 123_456], "code"), (["code": String(repeating: "1", count: 65)], "code")]
                as [([String: any Sendable], String)]
            {
                let reply = try await client.post("\(path)/\(id)/confirm", body, token: session)
                #expect(reply.status == .badRequest && reply.errorField == field, "\(body)")
            }
            let letters = try await client.post("\(path)/\(id)/confirm", ["code": "abcdef"], token: session)
            #expect(letters.status == .unauthorized && letters.errorCode == "invalid_code")
            // A DELETE's body is optional, but a body sent is JSON.
            let textBody = try await client.request(
                .delete,
                "/v1/me/methods/\(UUID())",
                body: ByteBuffer(string: "x"),
                contentType: "text/plain",
                token: session
            )
            #expect(textBody.status == .unsupportedMediaType)
            let mistyped = try await Self.delete(client, "/v1/me/methods/\(UUID())", ["password": false], token: session)
            #expect(mistyped.status == .badRequest && mistyped.errorField == "password")
        }
    }

    // MARK: The secret

    @Test func theSecretIsSealedAndNeverShownOrRecordedAgain() async throws {
        let captured = CapturedLog()
        try await TestApp.with({ _ in }, logger: captured.logger()) { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let session = try await Self.freshSession(app, client, seed.member)
            let (id, secret, started) = try await Self.enroll(client, token: session)
            let text = try started.string("enrollment", "secret")
            let confirmed = try await client.post("/v1/me/methods/totp/\(id)/confirm", ["code": Self.code(secret)], token: session)
            #expect(confirmed.status == .ok)

            // Stored sealed: not the secret, and opened only by the server's secrets.
            let sealed = try #require(
                try await app.sql("SELECT totp_sealed FROM user_methods WHERE id = \(UUID(uuidString: id)!)").first?.decode(
                    "totp_sealed",
                    as: Data.self
                )
            )
            #expect(sealed.range(of: Data(secret)) == nil && sealed.range(of: Data(text.utf8)) == nil)
            let secrets = app.configuration.domain.secrets
            #expect(MethodSecretBox(secrets: secrets).open(sealed) == secret)
            #expect(MethodSecretBox(secrets: [Array("another-secret-another-secret-000".utf8)]).open(sealed) == nil)

            // Nowhere else: answers, events, emails, support's view, logs.
            let hex = secret.map { String(format: "%02x", $0) }.joined()
            var seen = [
                String(decoding: confirmed.body, as: UTF8.self),
                String(decoding: try await client.get("/v1/me/methods", token: session).body, as: UTF8.self),
            ]
            seen += try await app.sql("SELECT type || ' ' || detail::text AS t FROM events").map { try $0.decode("t", as: String.self) }
            seen += try await app.sql("SELECT subject || body_text || body_html AS t FROM email_outbox").map { try $0.decode("t", as: String.self) }
            seen += try await app.sql("SELECT m::text AS t FROM support.methods m").map { try $0.decode("t", as: String.self) }
            seen.append(captured.text)
            for place in seen {
                #expect(!place.contains(text) && !place.lowercased().contains(hex), "the secret in: \(place.prefix(200))")
            }
            #expect(!captured.text.contains("otpauth"))
        }
    }

    /// After `TOLLGATE_SECRET` is rotated (the new secret first, the old kept), an app sealed
    /// under the old one still confirms.
    @Test func aRotationKeepsEnrollmentsUsable() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let session = try await Self.freshSession(app, client, seed.member)
            let (id, secret, _) = try await Self.enroll(client, token: session)

            var configuration = app.configuration
            configuration.domain.secrets = [Array("rotated-secret-rotated-secret-rotated".utf8)] + app.configuration.domain.secrets
            let rotated = configuration
            let router = try buildRouter(http: rotated.http, domain: rotated.domain, pool: app.api, logger: TestPostgres.logger)
            try await Application(router: router, logger: TestPostgres.logger).test(.router) { rotatedClient in
                let client = Client(client: rotatedClient)
                let confirmed = try await client.post("/v1/me/methods/totp/\(id)/confirm", ["code": Self.code(secret)], token: session)
                #expect(confirmed.status == .ok)
                // Confirmed, it was sealed anew under the new first secret.
                let resealed = try #require(
                    try await app.sql("SELECT totp_sealed FROM user_methods WHERE id = \(UUID(uuidString: id)!)").first?.decode(
                        "totp_sealed",
                        as: Data.self
                    )
                )
                #expect(MethodSecretBox(secrets: [rotated.domain.secrets[0]]).open(resealed) == secret)
                // New enrollments are sealed under the new first secret.
                let (newID, _, _) = try await Self.enroll(client, token: session, name: "Tablet")
                let sealed = try #require(
                    try await app.sql("SELECT totp_sealed FROM user_methods WHERE id = \(UUID(uuidString: newID)!)").first?.decode(
                        "totp_sealed",
                        as: Data.self
                    )
                )
                #expect(MethodSecretBox(secrets: app.configuration.domain.secrets).open(sealed) == nil)
                #expect(MethodSecretBox(secrets: rotated.domain.secrets).open(sealed) != nil)
            }
        }
    }

    // MARK: The QR code

    /// The SVG decodes (zbarimg on a rasterised copy) to exactly the `otpauth_uri`, for the
    /// longest URI an enrollment can make; skipped where the tools are missing.
    @Test func theQRCodeDecodesToTheURI() throws {
        let longest = OTPAuthURI.make(
            secret: TOTP.base32(SecureRandom.bytes(20)),
            issuer: String(repeating: "é", count: 200),
            account: String(repeating: "x", count: 64) + "@" + String(repeating: "d", count: 185) + ".test"
        )
        #expect(longest.utf8.count < 2000)
        let uris = [
            OTPAuthURI.make(secret: TOTP.base32(SecureRandom.bytes(20)), issuer: "Acme & Co: Payments", account: "olga@acme.test"), longest,
        ]
        for uri in uris {
            let svg = try #require(QRCodeSVG.svg(for: uri, title: "a <title>"))
            #expect(svg.contains("<title>a &lt;title></title>"))
            #expect(svg.components(separatedBy: "<path").count == 2, "one path")
            guard let decoded = try Self.zbar(svg) else { continue }
            #expect(decoded == uri)
        }
        #expect(QRCodeSVG.svg(for: String(repeating: "x", count: 3000)) == nil)
    }

    /// The module matrix is the one the `qrencode` command draws for the same text.
    @Test func theModulesAreQrencodes() throws {
        let uri = OTPAuthURI.make(secret: TOTP.base32(SecureRandom.bytes(20)), issuer: "Acme", account: "olga@acme.test")
        let modules = try #require(QRCodeSVG.modules(for: uri))
        guard let ascii = try Self.run("/usr/bin/qrencode", ["-l", "M", "-m", "0", "-t", "ASCII", uri]) else { return }
        // Two characters per module, `#` for dark.
        let rows = ascii.split(separator: "\n").map { line in
            let characters = Array(line)
            return (0..<modules.count).map { 2 * $0 < characters.count && characters[2 * $0] == "#" }
        }
        #expect(rows == modules)
    }

    /// `executable arguments…`'s standard output, or nil when it is not installed.
    static func run(_ executable: String, _ arguments: [String]) throws -> String? {
        guard FileManager.default.isExecutableFile(atPath: executable) else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(executable) \(arguments)")
        return String(decoding: data, as: UTF8.self)
    }

    /// The text zbarimg reads from `svg` rasterised by rsvg-convert; nil without the tools.
    static func zbar(_ svg: String) throws -> String? {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-qr-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let svgFile = folder.appendingPathComponent("code.svg")
        let pngFile = folder.appendingPathComponent("code.png")
        try Data(svg.utf8).write(to: svgFile)
        guard try run("/usr/bin/rsvg-convert", ["-z", "3", "-o", pngFile.path, svgFile.path]) != nil,
            let text = try run("/usr/bin/zbarimg", ["--raw", "-q", "-Sbinary", pngFile.path])
        else { return nil }
        return text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    // MARK: The provisioning API

    @Test func thePlatformSeesMethodKindsAndResetsThem() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let globex = try await app.seed(name: "Globex", domain: "globex.test")
            let key = try await AdminAPITests.key(app)
            let globexKey = try await AdminAPITests.key(app, "globex", company: globex.companyID)
            let userPath = "/v1/admin/users/\(seed.member.id.uuidString.lowercased())"
            #expect(try await client.get(userPath, token: key).value("user", "methods") as? [String] == ["email"])

            let session = try await Self.freshSession(app, client, seed.member)
            _ = try await Self.addApp(client, token: session)
            _ = try await Self.enroll(client, token: session, name: "Pending")
            #expect(try await client.get(userPath, token: key).value("user", "methods") as? [String] == ["email", "totp"])
            let page = try await client.get("/v1/admin/companies/\(seed.companyID.uuidString)/users", token: key)
            let users = page.json["users"] as? [[String: Any]] ?? []
            #expect(users.first { $0["id"] as? String == seed.member.id.uuidString.lowercased() }?["methods"] as? [String] == ["email", "totp"])

            let company = seed.companyID.uuidString.lowercased()
            let resetPath = "/v1/admin/companies/\(company)/users/\(seed.member.id.uuidString.lowercased())/reset-methods"
            // Another company's key, another company's id for the user, malformed ids: 404.
            #expect(try await client.post(resetPath, token: globexKey).status == .notFound)
            let wrongCompany = "/v1/admin/companies/\(globex.companyID.uuidString)/users/\(seed.member.id.uuidString)/reset-methods"
            #expect(try await client.post(wrongCompany, token: key).status == .notFound)
            #expect(try await client.post("/v1/admin/companies/\(company)/users/nope/reset-methods", token: key).status == .notFound)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM user_methods WHERE user_id = \(seed.member.id)") == 2)

            var headers = HTTPFields()
            headers[HTTPField.Name("Idempotency-Key")!] = "reset-member-1"
            let reset = try await client.post(resetPath, token: key, headers: headers)
            #expect(reset.status == .ok)
            #expect(reset.value("user", "methods") as? [String] == ["email"])
            let replay = try await client.post(resetPath, token: key, headers: headers)
            #expect(replay.status == .ok && replay.body == reset.body && replay.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM user_methods WHERE user_id = \(seed.member.id)") == 0)
            #expect(try await Self.count(app, "SELECT count(*) AS n FROM events WHERE type = 'methods.reset' AND (detail->>'removed')::int = 1") == 1)
            #expect(
                try await Self.count(
                    app,
                    "SELECT count(*) AS n FROM email_outbox WHERE template = 'methods_reset' AND recipient = \(seed.member.email)"
                ) == 1
            )
            #expect(try await Self.methods(client, token: session).count == 1)
        }
    }
}
