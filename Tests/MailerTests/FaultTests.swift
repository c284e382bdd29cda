import Foundation
import Mailer
import PQ
import TestSupport
import Testing
import TollgateCore

#if canImport(Glibc)
import Glibc
#endif

/// Faults: the SMTP server away, the database connection cut, workers killed, workers racing.
/// Serialized: several of these measure timing, and on a 2-core machine a dozen parallel
/// tests (each cloning a database with blocking calls) starve the in-process worker.
@Suite(.serialized, .timeLimit(.minutes(10))) struct FaultTests {
    @Test(.postgres) func emailsQueuedWhileTheServerIsDownAreAllDeliveredWhenItComesBack() async throws {
        let database = try TestDatabase.current
        let fixture = try await MailFixture.make(database)
        // Learn a free port, then leave it closed: connections are refused.
        let probe = try await SMTPSink()
        let port = probe.port
        probe.stop()
        let ids = try await fixture.enqueueMany(20)
        try await running(try fixture.worker(smtpURL: "smtp://127.0.0.1:\(port)/?timeout=2&starttls=never") { $0.maxAttempts = 1000 }) {
            try await eventually("every email to have failed once", timeout: .seconds(120)) {
                try await fixture.count("SELECT count(*) FROM email_outbox WHERE attempts >= 1") == 20
            }
            #expect(try await fixture.count("SELECT count(*) FROM email_outbox WHERE status IN ('queued', 'sending')") == 20)
            let sink = try await SMTPSink(port: port)
            defer { sink.stop() }
            try await eventually("every email to be sent", timeout: .seconds(30)) {
                try await fixture.count("SELECT count(*) FROM email_outbox WHERE status = 'sent'") == 20
            }
            let received = try sink.received().map(\.messageID)
            let expected = try await ids.asyncMap { try await fixture.row($0).decode("message_id", as: String.self) }
            #expect(received.count == 20)
            #expect(Set(received) == Set(expected))
        }
        #expect(try await fixture.count("SELECT count(*) FROM email_attempts WHERE outcome = 'retry' AND error LIKE '%connect%'") >= 20)
        await fixture.close()
    }

    @Test(.postgres) func theWorkerReconnectsAfterItsDatabaseConnectionsAreTerminated() async throws {
        let database = try TestDatabase.current
        let fixture = try await MailFixture.make(database)
        let sink = try await SMTPSink()
        defer { sink.stop() }
        // A long fallback poll: after the cut, only a re-established LISTEN wakes the worker in time.
        try await running(try fixture.worker(smtpURL: "smtp://127.0.0.1:\(sink.port)/?starttls=never") { $0.pollIntervalSeconds = 120 }) {
            try await waitForListener(fixture)
            let first = try await fixture.enqueueCode("100001")
            try await eventually("the first email") { try await fixture.status(first) == "sent" }
            let terminated = try await fixture.count(
                """
                SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE datname = current_database() AND usename = 'tollgate_worker'
                """
            )
            #expect(terminated >= 2)  // the pool's connection and the listener's
            try await waitForListener(fixture)
            let second = try await fixture.enqueueCode("100002")
            try await eventually("the email queued after the cut", timeout: .seconds(15)) { try await fixture.status(second) == "sent" }
        }
        #expect(sink.receivedCount == 2)
        await fixture.close()
    }

    @Test(.postgres) func aFreshlyCommittedEmailIsSentAtOnceThanksToListen() async throws {
        let database = try TestDatabase.current
        let fixture = try await MailFixture.make(database)
        let sink = try await SMTPSink()
        defer { sink.stop() }
        try await running(try fixture.worker(smtpURL: "smtp://127.0.0.1:\(sink.port)/?starttls=never") { $0.pollIntervalSeconds = 60 }) {
            try await waitForListener(fixture)
            // The first email may be found by the rescan that follows LISTEN; the worker is
            // then idle with a 60 s poll, so the second can only arrive through NOTIFY.
            let first = try await fixture.enqueueCode("200001")
            try await eventually("the first email") { try await fixture.status(first) == "sent" }
            let second = try await fixture.enqueueCode("200002")
            try await eventually("the second email on the sink", timeout: .seconds(10), every: .milliseconds(10)) {
                sink.receivedCount == 2
            }
            try await eventually("the second email recorded") { try await fixture.status(second) == "sent" }
            // Queued to recorded as sent, by the database's clock (the test's own polling
            // may lag on a busy machine; the worker's latency is what matters).
            let latency = try await fixture.row(second).decode("latency", as: Double.self)
            // Loose on purpose (shared machine): far below the 60 s poll it would otherwise wait.
            #expect(latency < 10, "commit to accepted took \(latency) s")
        }
        await fixture.close()
    }

    @Test(.postgres) func twoWorkersOnOneQueueNeverSendAnEmailTwice() async throws {
        let database = try TestDatabase.current
        let fixture = try await MailFixture.make(database)
        let sink = try await SMTPSink()
        defer { sink.stop() }
        _ = try await fixture.enqueueMany(200)
        let one = try fixture.worker(smtpURL: "smtp://127.0.0.1:\(sink.port)/?starttls=never") { $0.batchSize = 5 }
        let two = try fixture.worker(smtpURL: "smtp://127.0.0.1:\(sink.port)/?starttls=never") { $0.batchSize = 5 }
        try await running(one) {
            try await running(two) {
                try await eventually("all 200 sent", timeout: .seconds(90), every: .milliseconds(200)) {
                    try await fixture.count("SELECT count(*) FROM email_outbox WHERE status = 'sent'") == 200
                }
            }
        }
        let received = try sink.received().map(\.messageID)
        #expect(received.count == 200)
        #expect(Set(received).count == 200)
        #expect(try await fixture.count("SELECT count(*) FROM email_attempts") == 200)
        // Both took part (a single worker draining everything would prove nothing).
        #expect(try await fixture.count("SELECT count(DISTINCT worker) FROM email_attempts") == 2)
        await fixture.close()
    }

    @Test func aWorkerProcessKilledMidBatchLosesNothing() async throws {
        try await TestDatabase.with { database in try await Self.killScenario(database) }
    }

    /// Kept out of the test's closure: inside it, Swift 6.3.1 crashed (SendNonSendable pass).
    static func killScenario(_ database: TestDatabase) async throws {
        let fixture = try await MailFixture.make(database)
        // Each DATA takes a while, so a kill lands in the middle of a batch.
        let sink = try await SMTPSink(delayMilliseconds: 40)
        defer { sink.stop() }
        let total = 60
        let ids = try await fixture.enqueueMany(total)
        let environment = [
            "DATABASE_URL": database.conninfo(role: "tollgate_worker"), "SMTP_URL": "smtp://127.0.0.1:\(sink.port)/?timeout=2&starttls=never",
            "MAIL_FROM": MailFixture.mailFrom, "WORKER_LEASE": "4", "WORKER_BATCH_SIZE": "5", "LOG_LEVEL": "error",
        ]
        let kills = 3
        // The kill loop runs on a thread of its own: the test's tasks share a small
        // cooperative pool with the other tests, and a late look at the sink would let
        // the worker finish its batch before the kill.
        let rounds = try await killRepeatedly(kills, sink: sink, environment: environment)
        #expect(rounds.count == kills)
        let last = try TollgateProcess(["worker"], environment: environment)
        try await eventually("every email to be sent", timeout: .seconds(60), every: .milliseconds(100)) {
            try await fixture.count("SELECT count(*) FROM email_outbox WHERE status = 'sent'") == total
        }
        last.send(SIGTERM)
        let received = try sink.received().map(\.messageID)
        let expected = try await ids.asyncMap { try await fixture.row($0).decode("message_id", as: String.self) }
        #expect(Set(received) == Set(expected), "every email arrived")
        var copies: [String: Int] = [:]
        for id in received { copies[id, default: 0] += 1 }
        let duplicated = copies.filter { $0.value > 1 }
        // At most the message in flight at each kill: accepted, but not yet recorded.
        #expect(duplicated.count <= kills)
        #expect(duplicated.values.allSatisfy { $0 == 2 })
        // The kills did land mid-batch: claimed emails were left behind and taken over.
        #expect(try await fixture.count("SELECT count(*) FROM email_attempts WHERE outcome = 'abandoned'") >= 1)
        for messageID in duplicated.keys {
            #expect(
                try await fixture.count(
                    """
                    SELECT count(*) FROM email_attempts a JOIN email_outbox o ON o.id = a.email_id
                    WHERE o.message_id = \(messageID) AND a.outcome = 'abandoned'
                    """
                ) == 1,
                "a duplicate is only ever an abandoned attempt"
            )
        }
        await fixture.close()
    }

    @Test(.postgres) func sigtermFinishesTheMessageInHandAndReleasesTheRest() async throws {
        let database = try TestDatabase.current
        let fixture = try await MailFixture.make(database)
        // A batch of 20 that takes about 8 s, so the signal lands inside it even on a busy machine.
        let sink = try await SMTPSink(delayMilliseconds: 400)
        defer { sink.stop() }
        _ = try await fixture.enqueueMany(20)
        let worker = try TollgateProcess(
            ["worker"],
            environment: [
                "DATABASE_URL": database.conninfo(role: "tollgate_worker"), "SMTP_URL": "smtp://127.0.0.1:\(sink.port)/?timeout=5&starttls=never",
                "MAIL_FROM": MailFixture.mailFrom, "WORKER_BATCH_SIZE": "20", "LOG_LEVEL": "error",
            ]
        )
        try await eventually("one email accepted", every: .milliseconds(10)) { sink.receivedCount >= 1 }
        #expect(await worker.stop(SIGTERM) == 0)
        // Nothing is left under a lease; what was sent is recorded; the rest waits untouched.
        #expect(try await fixture.count("SELECT count(*) FROM email_outbox WHERE status = 'sending' OR lease_owner IS NOT NULL") == 0)
        let sent = try await fixture.count("SELECT count(*) FROM email_outbox WHERE status = 'sent'")
        #expect(sent == sink.receivedCount)
        #expect(sent < 20)
        #expect(try await fixture.count("SELECT count(*) FROM email_outbox WHERE status = 'queued' AND attempts = 0") == 20 - sent)
        await fixture.close()
    }
}

/// Waits until the worker's listener connection is up and listening.
func waitForListener(_ fixture: MailFixture) async throws {
    try await eventually("the worker to LISTEN") {
        try await fixture.count(
            """
            SELECT count(*) FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = 'tollgate-listener' AND query LIKE 'LISTEN%'
            """
        ) == 1
    }
}

/// Starts `tollgate worker` and SIGKILLs it once 8 more emails arrived (or after 30 s
/// without them), `times` times.
func killRepeatedly(_ times: Int, sink: SMTPSink, environment: [String: String]) async throws -> [Int] {
    var killedAt: [Int] = []
    for _ in 1...times {
        let worker = try TollgateProcess(["worker"], environment: environment)
        let target = sink.receivedCount + 8
        // A worker that stalls is killed all the same: the test then finds the emails missing.
        try? await eventually("8 more emails", timeout: .seconds(30), every: .milliseconds(5)) { sink.receivedCount >= target }
        worker.kill()
        killedAt.append(sink.receivedCount)
    }
    return killedAt
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
