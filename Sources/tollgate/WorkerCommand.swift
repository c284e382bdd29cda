import ArgumentParser

/// `tollgate worker`: drains the outbound email queue and sends it by SMTP.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", abstract: "Send queued emails by SMTP.")

    func run() async throws {
        throw fail("worker: the email worker is not built yet")
    }
}
