import ArgumentParser
import Logging
import PQ
import TollgateCore

/// `tollgate migrate`: applies `sql/` in order; safe to run concurrently and repeatedly.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the SQL migrations (as the database owner role).",
        discussion: """
            Safe to run concurrently and repeatedly: an advisory lock serialises runs and each file is applied once. \
            Creates the roles the API, the worker and support connect as: <prefix>_api, <prefix>_worker and \
            <prefix>_support, with DATABASE_ROLE_PREFIX (default tollgate) fixed at the first run. \
            Stores the retention periods of RETENTION_SESSIONS, RETENTION_CHALLENGES, RETENTION_EMAILS and \
            RETENTION_EVENTS (defaults when unset), which the worker's purge reads.
            """
    )

    func run() async throws {
        let configuration = try loadConfiguration(requireSecret: false)
        let logger = Logger(label: "tollgate.migrate")
        let pool = makePool(configuration.database, size: 1, logger: logger)
        do {
            let applied = try await Migrator(migrations: try Migration.bundled(), roles: configuration.database.roles, logger: logger).migrate(
                pool: pool
            )
            try await configuration.retention.store(pool: pool)
            await pool.close()
            print(applied.isEmpty ? "migrations: up to date" : "migrations: applied \(applied.map(String.init).joined(separator: ", "))")
        } catch {
            await pool.close()
            throw fail("migrate: \(error)")
        }
    }
}
