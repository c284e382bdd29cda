import ArgumentParser
import Foundation
import Logging
import TollgateCore

/// `tollgate`: one executable, a subcommand per process of SPEC §6.
@main
struct Tollgate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate",
        abstract: "Company-wide email two-factor authentication for dashboard logins.",
        subcommands: [
            ServeCommand.self, WorkerCommand.self, MigrateCommand.self, CompanyCommand.self, UserCommand.self, DevCommand.self,
        ]
    )
}

/// Reads the environment for a command, or exits with one line naming the bad variable.
func loadConfiguration(requireDatabase: Bool = true, requireSecret: Bool = true) throws -> TollgateConfiguration {
    do {
        let configuration = try TollgateConfiguration.fromEnvironment(requireDatabase: requireDatabase, requireSecret: requireSecret)
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
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}

/// Prints a failure the user can act on and exits non-zero.
func fail(_ message: String, code: Int32 = 1) -> ExitCode {
    FileHandle.standardError.write(Data("tollgate: \(message)\n".utf8))
    return ExitCode(code)
}
