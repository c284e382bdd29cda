import Foundation
import Mailer
import PQ
import TestSupport
import Testing
import TollgateCore

/// The worker against a real SMTP server (aiosmtpd) and a real PostgreSQL.
@Suite(.serialized) struct DeliveryTests {
    @Test(.postgres) func aCodeEmailArrivesWithItsHeadersAndCode() async throws {
        let database = try TestDatabase.current
        let fixture = try await MailFixture.make(database)
        let sink = try await SMTPSink()
        defer { sink.stop() }
        let id = try await fixture.enqueueCode(
            "493817",
            companyName: "Café Ünïcode & Co",
            userAgent: "<script>alert(1)</script> Evil/1.0"
        )
        let messageID = try await fixture.row(id).decode("message_id", as: String.self)
        try await running(try fixture.worker(smtpURL: "smtp://127.0.0.1:\(sink.port)/?starttls=never")) {
            try await eventually("the email to be sent") { try await fixture.status(id) == "sent" }
        }
        let messages = try sink.received()
        try #require(messages.count == 1)
        let message = messages[0]
        #expect(message.rcpt_tos == ["jane.doe@acme.example"])
        #expect(message.mail_from == "tollgate@example.test")
        #expect(message.headers["From"] == "Tollgate Tests <tollgate@example.test>")
        #expect(message.headers["To"] == "jane.doe@acme.example")
        #expect(message.messageID == messageID)
        #expect(message.headers["Date"]?.hasSuffix("+0000") == true)
        #expect(message.headers["MIME-Version"] == "1.0")
        #expect(message.content_type == "multipart/alternative")
        // RFC 2047: the decoded subject names the company and never holds the code.
        let subject = try #require(message.headers["Subject"])
        #expect(subject.contains("Café Ünïcode & Co"))
        #expect(!subject.contains("493817"))
        let text = try #require(message.text)
        let html = try #require(message.html)
        #expect(text.contains("493817"))
        #expect(html.contains("493817"))
        #expect(text.contains("203.0.113.7"))
        #expect(text.range(of: #"until \d\d:\d\d UTC"#, options: .regularExpression) != nil)
        // Attacker text from the User-Agent never reaches the email: only a short parsed form.
        #expect(!html.contains("script") && !text.contains("script"))
        #expect(!html.contains("alert(1)"))
        #expect(html.contains("Café Ünïcode &amp; Co"))

        let row = try await fixture.row(id)
        #expect(try row.decode("attempts", as: Int.self) == 1)
        #expect(try row.decode("scrubbed", as: Bool.self))
        #expect(try row.decode("sent_at", as: Date?.self) != nil)
        #expect(try row.decode("lease_owner", as: String?.self) == nil)
        #expect(try await fixture.count("SELECT count(*) FROM email_attempts WHERE email_id = \(id) AND outcome = 'sent'") == 1)
        #expect(
            try await fixture.count(
                "SELECT count(*) FROM events WHERE type = 'email.sent' AND detail->>'email_id' = \(id.uuidString.lowercased())"
            ) == 1
        )
        let state = try await fixture.api.withTenant(fixture.companyID) { tx in try Outbox.deliveryState(emailID: id, in: tx) }
        #expect(state == .sent)
        await fixture.close()
    }

    @Test(.postgres) func startTLSAndAuthAreUsedWhenTheServerRequiresThem() async throws {
        let database = try TestDatabase.current
        let fixture = try await MailFixture.make(database)
        let sink = try await SMTPSink(starttls: true, auth: "mailer:s3cr@t pass")
        defer { sink.stop() }
        let caFile = try #require(sink.caFile)
        let good = try await fixture.enqueueCode("111222")
        let url = "smtp://mailer:s3cr%40t%20pass@127.0.0.1:\(sink.port)/?starttls=required&cafile=\(caFile)"
        try await running(try fixture.worker(smtpURL: url)) {
            try await eventually("the email to be sent over STARTTLS with AUTH") { try await fixture.status(good) == "sent" }
        }
        let message = try #require(try sink.received().first)
        #expect(message.tls)
        #expect(message.authenticated)

        // Wrong credentials are a transient failure (a configuration problem, not the
        // message's): the email waits in the queue with the reason, and nothing arrives.
        let waiting = try await fixture.enqueueCode("333444")
        try await running(try fixture.worker(smtpURL: "smtp://mailer:wrong@127.0.0.1:\(sink.port)/?cafile=\(caFile)&timeout=3")) {
            try await eventually("a failed attempt") {
                try await fixture.row(waiting).decode("last_error", as: String?.self) != nil
            }
        }
        #expect(try await fixture.status(waiting) == "queued")
        let error = try await fixture.row(waiting).decode("last_error", as: String?.self) ?? ""
        #expect(!error.contains("wrong"))
        #expect(sink.receivedCount == 1)
        await fixture.close()
    }

    /// Issue 11: a plain `smtp://` URL requires STARTTLS. A server (or a path that strips the
    /// offer) without it never gets a code in clear: the email waits with the reason.
    @Test(.postgres) func aServerWithoutStartTLSIsNeverSentACodeInClear() async throws {
        let database = try TestDatabase.current
        let fixture = try await MailFixture.make(database)
        let plain = try await SMTPSink()
        defer { plain.stop() }
        let waiting = try await fixture.enqueueCode("777888")
        try await running(try fixture.worker(smtpURL: "smtp://127.0.0.1:\(plain.port)/?timeout=3")) {
            try await eventually("a failed attempt") {
                try await fixture.row(waiting).decode("last_error", as: String?.self) != nil
            }
        }
        #expect(try await fixture.status(waiting) == "queued")
        #expect(plain.receivedCount == 0)

        // The same default URL against a server that offers STARTTLS delivers, encrypted.
        let secure = try await SMTPSink(starttls: true)
        defer { secure.stop() }
        let caFile = try #require(secure.caFile)
        try await running(try fixture.worker(smtpURL: "smtp://127.0.0.1:\(secure.port)/?cafile=\(caFile)")) {
            try await eventually("the email to be sent over STARTTLS") { try await fixture.status(waiting) == "sent" }
        }
        let message = try #require(try secure.received().first)
        #expect(message.tls)
        #expect(message.text?.contains("777888") == true)
        await fixture.close()
    }

    @Test(.postgres) func aPermanentRefusalFailsTheEmailWithTheReason() async throws {
        let database = try TestDatabase.current
        let fixture = try await MailFixture.make(database)
        let sink = try await SMTPSink(mode: "permfail")
        defer { sink.stop() }
        let id = try await fixture.enqueueCode("550550")
        try await running(try fixture.worker(smtpURL: "smtp://127.0.0.1:\(sink.port)/?starttls=never")) {
            try await eventually("the email to fail") { try await fixture.status(id) == "failed" }
        }
        let row = try await fixture.row(id)
        let error = try #require(try row.decode("last_error", as: String?.self))
        #expect(error.contains("550"))
        #expect(error.contains("No such user"))
        // The server named the recipient; the reason (which is logged too) carries its hint only.
        #expect(!error.lowercased().contains("jane.doe@acme.example"), "\(error)")
        #expect(error.contains("j***@acme.example"), "\(error)")
        #expect(try row.decode("attempts", as: Int.self) == 1)
        #expect(try row.decode("scrubbed", as: Bool.self))
        #expect(
            try await fixture.count(
                "SELECT count(*) FROM email_attempts WHERE email_id = \(id) AND outcome = 'failed' AND smtp_status = 550"
            ) == 1
        )
        #expect(try await fixture.count("SELECT count(*) FROM events WHERE type = 'email.failed'") == 1)
        #expect(sink.receivedCount == 0)
        let state = try await fixture.api.withTenant(fixture.companyID) { tx in try Outbox.deliveryState(emailID: id, in: tx) }
        #expect(state == .failed)
        await fixture.close()
    }

    @Test(.postgres) func aTemporaryRefusalIsRetriedUntilAccepted() async throws {
        let database = try TestDatabase.current
        let fixture = try await MailFixture.make(database)
        let sink = try await SMTPSink(mode: "tempfail")
        defer { sink.stop() }
        let id = try await fixture.enqueueCode("451451")
        try await running(try fixture.worker(smtpURL: "smtp://127.0.0.1:\(sink.port)/?starttls=never")) {
            try await eventually("a 451 to be recorded") {
                try await fixture.count("SELECT count(*) FROM email_attempts WHERE email_id = \(id) AND outcome = 'retry' AND smtp_status = 451")
                    >= 1
            }
            // Waiting for (or in) its next attempt: neither given up nor sent.
            #expect(["queued", "sending"].contains(try await fixture.status(id)))
            try sink.setMode("accept")
            try await eventually("the retry to be accepted") { try await fixture.status(id) == "sent" }
        }
        #expect(sink.receivedCount == 1)
        #expect(try await fixture.row(id).decode("attempts", as: Int.self) >= 2)
        await fixture.close()
    }

    @Test(.postgres) func anExpiredCodeIsNeverSent() async throws {
        let database = try TestDatabase.current
        let fixture = try await MailFixture.make(database)
        let sink = try await SMTPSink()
        defer { sink.stop() }
        let expired = try await fixture.enqueueCode("999000", expiresIn: -5)
        let fresh = try await fixture.enqueueCode("999001")
        try await running(try fixture.worker(smtpURL: "smtp://127.0.0.1:\(sink.port)/?starttls=never")) {
            try await eventually("both emails to be final") {
                let first = try await fixture.status(expired)
                let second = try await fixture.status(fresh)
                return first == "expired" && second == "sent"
            }
        }
        let messages = try sink.received()
        #expect(messages.count == 1)
        #expect(messages.allSatisfy { !($0.text ?? "").contains("999000") })
        let row = try await fixture.row(expired)
        #expect(try row.decode("scrubbed", as: Bool.self))
        #expect(try row.decode("body_text", as: String.self) == OutboxQueue.scrubbedBody)
        #expect(try await fixture.count("SELECT count(*) FROM events WHERE type = 'email.expired'") == 1)
        // SPEC §4: the API tells "expired before it was sent" apart from a refused delivery.
        let state = try await fixture.api.withTenant(fixture.companyID) { tx in try Outbox.deliveryState(emailID: expired, in: tx) }
        #expect(state == .expired)
        await fixture.close()
    }

    @Test(.postgres) func nothingOfADeliveredCodeRemainsInAnyTable() async throws {
        let database = try TestDatabase.current
        let fixture = try await MailFixture.make(database)
        let sink = try await SMTPSink()
        defer { sink.stop() }
        let code = "735918"
        let id = try await fixture.enqueueCode(code)
        // The scan sees the code while it is queued (so it can fail)…
        #expect(try await tablesContaining(code, fixture: fixture).contains("email_outbox.body_text"))
        try await running(try fixture.worker(smtpURL: "smtp://127.0.0.1:\(sink.port)/?starttls=never")) {
            try await eventually("the email to be sent") { try await fixture.status(id) == "sent" }
        }
        #expect(try sink.received().first?.text?.contains(code) == true)
        // …and nowhere once it is delivered.
        #expect(try await tablesContaining(code, fixture: fixture) == [])
        await fixture.close()
    }

    /// Every text, json and bytea column of every table in the public schema holding `needle`.
    func tablesContaining(_ needle: String, fixture: MailFixture) async throws -> [String] {
        let columns = try await fixture.owner.query(
            """
            SELECT quote_ident(c.table_name) AS t, quote_ident(c.column_name) AS c, c.table_name || '.' || c.column_name AS label,
                   c.data_type = 'bytea' AS binary
            FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
            WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
              AND c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea', 'ARRAY')
            """
        )
        var found: [String] = []
        for column in columns {
            let table = try column.decode("t", as: String.self)
            let name = try column.decode("c", as: String.self)
            let binary = try column.decode("binary", as: Bool.self)
            var query = PQQuery.StringInterpolation(literalCapacity: 64, interpolationCount: 1)
            query.appendLiteral("SELECT count(*) FROM ")
            query.appendInterpolation(unsafeSQL: table)
            query.appendLiteral(" WHERE ")
            if binary {
                query.appendLiteral("position(convert_to(")
                query.appendInterpolation(needle)
                query.appendLiteral(", 'UTF8') in ")
                query.appendInterpolation(unsafeSQL: name)
                query.appendLiteral(") > 0")
            } else {
                query.appendInterpolation(unsafeSQL: name)
                query.appendLiteral("::text LIKE '%' || ")
                query.appendInterpolation(needle)
                query.appendLiteral(" || '%'")
            }
            if try await fixture.owner.query(PQQuery(stringInterpolation: query)).first!.decode(at: 0, as: Int.self) > 0 {
                found.append(try column.decode("label", as: String.self))
            }
        }
        return found
    }
}
