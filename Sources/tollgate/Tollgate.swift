import ArgumentParser
import Foundation
import Logging
import PQ
import ServiceLifecycle
import TollgateCore
import UnixSignals

/// `tollgate`: one executable, a subcommand per process of SPEC §6.
@main
struct Tollgate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate",
        abstract: "Company-wide email two-factor authentication for dashboard logins.",
        subcommands: [
            ServeCommand.self, WorkerCommand.self, MigrateCommand.self, CompanyCommand.self, UserCommand.self, APIKeyCommand.self,
            DevCommand.self,
        ]
    )
}

/// Reads the environment for a command, or exits with one line naming the bad variable.
func loadConfiguration(
    requireDatabase: Bool = true,
    requireSecret: Bool = true,
    host: String? = nil,
    port: Int? = nil
) throws -> TollgateConfiguration {
    do {
        let configuration = try TollgateConfiguration(requireDatabase: requireDatabase, requireSecret: requireSecret, host: host, port: port)
        bootstrapLogging(level: configuration.logLevel)
        return configuration
    } catch let error as ConfigurationError {
        FileHandle.standardError.write(Data("tollgate: configuration error: \(error)\n".utf8))
        throw ExitCode(78)  // EX_CONFIG
    }
}

/// One line per event on standard error, with the metadata as key=value pairs.
func bootstrapLogging(level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = LazyMetadataLogHandler(StreamLogHandler.standardError(label: label))
        handler.logLevel = level
        return handler
    }
}

/// Prints a failure the user can act on and exits non-zero.
func fail(_ message: String, code: Int32 = 1) -> ExitCode {
    FileHandle.standardError.write(Data("tollgate: \(message)\n".utf8))
    return ExitCode(code)
}

/// Runs `services` until SIGTERM or SIGINT, then stops them in reverse order: an HTTP server
/// stops accepting and finishes the requests in flight, the worker the message in hand, then
/// the pool closes. What is still running after `SHUTDOWN_TIMEOUT` seconds is cancelled.
func runUntilSignalled(_ services: [any Service], shutdownTimeout: Int, logger: Logger) async throws {
    var group = ServiceGroupConfiguration(
        services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger
    )
    group.maximumGracefulShutdownDuration = .seconds(shutdownTimeout)
    group.maximumCancellationDuration = .seconds(5)
    try await ServiceGroup(configuration: group).run()
}

/// Refuses to run `command` as a role that row-level security does not bind (SPEC §9), or
/// when the database cannot be reached; closes the pool before failing.
func requireUnprivilegedRole(pool: PQPool, command: String, role: String) async throws {
    do {
        if let problem = try await RoleCheck.privilegeProblem(pool: pool) {
            await pool.close()
            throw fail(
                "\(command): \(problem); connect as the \(role) role migrate creates (<prefix>_\(role), tollgate_\(role) by default; see docs/operations.md)"
            )
        }
    } catch let error as PQError {
        await pool.close()
        throw fail("\(command): cannot reach the database: \(error)")
    }
}
