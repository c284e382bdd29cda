import Foundation
public import Logging
public import PQ
import TollgateCore

/// Builds the worker `tollgate worker` and `tollgate dev` run: SMTP when `smtpURL` is set,
/// otherwise `.eml` files in `mailDirectory`. LISTEN goes to `listenURL` when given, else to
/// the pool's database. Only `dev` passes `logCodes`: a worker that writes files in any other
/// setting must not put codes in its log.
public func makeOutboxWorker(
    settings mail: MailSettings,
    listenURL: String? = nil,
    pool: PQPool,
    logger: Logger,
    transport: (any MailTransport)? = nil,
    logCodes: Bool = false
) throws -> OutboxWorker {
    guard let mailFrom = Mailbox(mail.mailFrom) else {
        throw ConfigurationError(variable: "MAIL_FROM", problem: "must be an address or Name <address>")
    }
    let chosen: any MailTransport
    if let transport {
        chosen = transport
    } else if let url = mail.smtpURL {
        let settings = try SMTPSettings(url: url)
        // The lease is renewed once a third of it has passed, between sends: a send that starts
        // just before that must still end inside the lease, or another worker sends it too.
        guard mail.worker.leaseSeconds >= 2 * settings.timeoutSeconds else {
            throw ConfigurationError(
                variable: "WORKER_LEASE",
                problem: "must be at least twice the SMTP timeout (\(settings.timeoutSeconds) s)"
            )
        }
        chosen = SMTPTransport(settings: settings, logger: logger)
    } else if let directory = mail.mailDirectory {
        chosen = try FileTransport(directory: directory, logCodes: logCodes, logger: logger)
    } else {
        throw ConfigurationError(variable: "SMTP_URL", problem: "is required (smtp:// or smtps://)")
    }
    // LISTEN needs a direct connection: the pool may go through a transaction pooler.
    let listen: (conninfo: String, overrides: [(String, String)])
    if let listenURL {
        listen = (listenURL, [])
    } else {
        listen = (pool.configuration.conninfo, pool.configuration.overrides)
    }
    return OutboxWorker(
        pool: pool,
        transport: chosen,
        settings: mail.worker,
        mailFrom: mailFrom,
        listen: listen,
        logger: logger
    )
}
