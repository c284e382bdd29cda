import EmbeddedPostgres
public import Foundation
import NIOConcurrencyHelpers
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A child process of a test: the built `tollgate` binary (or another program), started with
/// default signal handling and an empty signal mask, its output in files, reaped by this type
/// alone and never waited on without a deadline. A child that outlives its deadline is killed
/// and the test fails saying so, instead of the whole test run hanging on it.
public final class TollgateProcess: Sendable {
    /// The binary `swift build --product tollgate` leaves in the checkout.
    public static let binary: String = repositoryRoot + "/.build/debug/tollgate"
    /// The checkout this test bundle was built from.
    public static let repositoryRoot: String =
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    public let pid: pid_t
    public let program: String
    /// Files holding the child's standard output and standard error.
    public let outputPath: String
    public let errorPath: String
    private let folder: String
    private let exit = NIOLockedValueBox<Int32?>(nil)

    /// What a finished run printed and how it ended (128 + signal when killed).
    public struct Run: Sendable {
        public let status: Int32
        public let output: String
        public let error: String
    }

    /// Starts `program` (the tollgate binary by default) with `environment` plus PATH; nothing
    /// else of the test's environment is inherited.
    public init(_ arguments: [String], environment: [String: String] = [:], program: String = TollgateProcess.binary) throws {
        self.program = program
        folder = NSTemporaryDirectory() + "tollgate-child-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        outputPath = folder + "/out"
        errorPath = folder + "/err"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        // Nothing else of the test process: a child holding one of its pipes or sockets would
        // keep it open for as long as the child runs.
        EmbeddedPostgres.closeInheritedDescriptors(&actions)
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let variables = environment.merging(["PATH": path]) { mine, _ in mine }.map { "\($0.key)=\($0.value)" }
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        let envp = variables.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var child: pid_t = 0
        let spawned = EmbeddedPostgres.withDefaultSignals { posix_spawn(&child, program, &actions, &$0, argv, envp) }
        guard spawned == 0 else {
            try? FileManager.default.removeItem(atPath: folder)
            throw SpawnFailed(program: program, errno: spawned)
        }
        pid = child
    }

    /// Runs the binary to completion and returns what it printed; a run still going after
    /// `limit` is killed and fails the test.
    public static func run(
        _ arguments: [String],
        environment: [String: String] = [:],
        program: String = TollgateProcess.binary,
        within limit: Duration = .seconds(120)
    ) async throws -> Run {
        let child = try TollgateProcess(arguments, environment: environment, program: program)
        let status = await child.finish(within: limit)
        return Run(status: status, output: child.output, error: child.errorOutput)
    }

    public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }
    public var errorOutput: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }

    /// Whether the child has not exited yet (reaping it if it has).
    public var isRunning: Bool { reap() == nil }

    /// Sends `signal` (unless the child has already exited).
    public func send(_ signal: Int32) {
        if isRunning { Glibc.kill(pid, signal) }
    }

    /// The exit status once the child exits, or nil if it is still running after `limit`.
    /// Polls without blocking a thread, so it can be cancelled.
    public func exitStatus(within limit: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + limit
        while true {
            if let status = reap() { return status }
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The exit status. A child still running after `limit` is killed, and the test fails
    /// naming it.
    @discardableResult
    public func finish(within limit: Duration = .seconds(20)) async -> Int32 {
        await exitStatus(within: limit) ?? kill(after: limit)
    }

    /// Sends `signal` and returns the exit status, as ``finish(within:)``.
    @discardableResult
    public func stop(_ signal: Int32 = SIGTERM, within limit: Duration = .seconds(20)) async -> Int32 {
        send(signal)
        return await finish(within: limit)
    }

    /// SIGKILL, which no process can ignore, and the status of the killed child.
    @discardableResult
    public func kill() -> Int32 {
        if isRunning { Glibc.kill(pid, SIGKILL) }
        return reap(blocking: true) ?? 128 + SIGKILL
    }

    /// ``kill()`` with a recorded test failure naming the child and its last output.
    private func kill(after limit: Duration) -> Int32 {
        let name = (program as NSString).lastPathComponent
        let printed = String(output.suffix(800)) + String(errorOutput.suffix(800))
        Issue.record("\(name) (pid \(pid)) was still running after \(limit); killed it. Its last output:\n\(printed)")
        return kill()
    }

    /// Reaps the child if it has exited; the status is kept, as a pid is reaped only once.
    private func reap(blocking: Bool = false) -> Int32? {
        exit.withLockedValue { known in
            if let known { return known }
            var status: Int32 = 0
            var result: pid_t
            repeat { result = waitpid(pid, &status, blocking ? 0 : WNOHANG) } while result < 0 && errno == EINTR
            guard result == pid else { return nil }
            // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as macros.
            known = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            return known
        }
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(atPath: folder)
    }

    public struct SpawnFailed: Error, CustomStringConvertible {
        public let program: String
        public let errno: Int32
        public var description: String { "cannot start \(program): \(String(cString: strerror(errno)))" }
    }
}

/// Ports for the child processes of one test run: each call gives a pair (`port`, `port + 1`)
/// no other call in this process gets, below Linux's ephemeral range (32768 and up) where
/// in-process servers bind port 0, and free when handed out.
public enum TestPorts {
    private static let next = NIOLockedValueBox(Int.random(in: 0..<2_000) * 2 + 20_000)

    public static func pair() -> Int {
        while true {
            let port = next.withLockedValue { port in
                defer { port = port + 2 > 31_998 ? 20_000 : port + 2 }
                return port
            }
            if isFree(port) && isFree(port + 1) { return port }
        }
    }

    private static func isFree(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
