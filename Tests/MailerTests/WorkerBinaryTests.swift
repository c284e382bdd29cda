import Foundation
import PQ
import TestSupport
import Testing
import TollgateCore

/// The real `tollgate worker` needs no `TOLLGATE_SECRET` (issue 22): it signs nothing, so the
/// deployment does not hand it the key (docker/compose.yaml).
@Suite(.timeLimit(.minutes(3))) struct WorkerBinaryTests {
    @Test(.postgres) func theWorkerBinaryDeliversWithoutTheSecret() async throws {
        let database = try TestDatabase.current
        let fixture = try await MailFixture.make(database)
        let sink = try await SMTPSink()
        defer { sink.stop() }
        let id = try await fixture.enqueueCode("482913", to: "no-secret@acme.example")
        let environment = [
            "DATABASE_URL": database.conninfo(role: "tollgate_worker"),
            "SMTP_URL": "smtp://127.0.0.1:\(sink.port)/?starttls=never",
            "MAIL_FROM": MailFixture.mailFrom,
            "LOG_LEVEL": "error",
        ]
        #expect(environment["TOLLGATE_SECRET"] == nil)
        let worker = try TollgateProcess(["worker"], environment: environment)
        do {
            try await eventually("the queued email to be sent", timeout: .seconds(60)) {
                guard worker.isRunning else { return true }
                return try await fixture.status(id) == "sent"
            }
            #expect(worker.isRunning, "the worker exited: \(worker.errorOutput)")
            #expect(try await fixture.status(id) == "sent")
            #expect(try sink.received().contains { $0.rcpt_tos.contains("no-secret@acme.example") })
        } catch {
            _ = await worker.stop()
            await fixture.close()
            throw error
        }
        #expect(await worker.stop() == 0, "\(worker.errorOutput)")
        await fixture.close()
    }
}
