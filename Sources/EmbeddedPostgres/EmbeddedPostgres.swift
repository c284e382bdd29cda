import Foundation
public import Logging

#if canImport(Glibc)
// Public: ``EmbeddedPostgres/withDefaultSignals(_:)`` hands out a posix_spawnattr_t.
public import Glibc
#endif

/// A private PostgreSQL cluster in a folder of its own, for `tollgate dev` and the tests.
///
/// Created with `initdb` on first use and started with `pg_ctl` on a unix socket only (no TCP
/// port). PostgreSQL refuses to run as root, so when we are root the cluster belongs to an
/// unprivileged system user (`postgres`, which Debian's package creates) and its commands run
/// through `runuser`.
public struct EmbeddedPostgres: Sendable {
    /// Where the cluster's files live.
    public let dataDirectory: String
    /// The unix socket folder; kept short because socket paths are limited to 107 bytes.
    public let socketDirectory: String
    public let port: Int
    /// The cluster's superuser (trust authentication on the socket, nothing else listens).
    public let superuser = "tollgate"
    /// Trade durability for speed (tests only).
    public let fast: Bool
    let logger: Logger

    public init(dataDirectory: String, port: Int = 5432, fast: Bool = false, logger: Logger) {
        let absolute = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        self.dataDirectory = absolute
        self.port = port
        self.fast = fast
        self.logger = logger
        // One socket folder per data folder, derived from its path.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in absolute.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        self.socketDirectory = "/tmp/tollgate-pg-\(String(hash, radix: 36))"
    }

    /// A libpq connection string for `database` as the superuser.
    public func conninfo(database: String = "postgres", user: String? = nil) -> String {
        "host=\(socketDirectory) port=\(port) user=\(user ?? superuser) dbname=\(database)"
    }

    /// Creates the cluster if needed and starts it (or finds it running). Returns once the
    /// server accepts connections.
    public func start() throws {
        let binaries = try Self.findBinaries()
        let owner = try Self.clusterUser()
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true)
        try Self.giveOwnership(of: socketDirectory, to: owner)
        if !fileManager.fileExists(atPath: dataDirectory + "/PG_VERSION") {
            try fileManager.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
            try Self.giveOwnership(of: dataDirectory, to: owner)
            try Self.checkReachable(dataDirectory, by: owner)
            logger.info("postgres.initdb", metadata: ["path": "\(dataDirectory)"])
            try run(
                binaries + "/initdb",
                ["-D", dataDirectory, "-U", superuser, "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync"],
                as: owner
            )
        }
        if try isRunning(binaries: binaries, owner: owner) { return }
        // Tests run many databases, pools and child processes at once: more connections.
        var options = "-k \(socketDirectory) -p \(port) -c listen_addresses='' -c max_connections=\(fast ? 800 : 200)"
        if fast { options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off" }
        logger.info("postgres.start", metadata: ["path": "\(dataDirectory)"])
        try run(
            binaries + "/pg_ctl",
            ["-D", dataDirectory, "-l", dataDirectory + "/server.log", "-o", options, "-w", "-t", "60", "start"],
            as: owner
        )
    }

    /// Stops the cluster (fast shutdown: open sessions are ended).
    public func stop() {
        guard let binaries = try? Self.findBinaries(), let owner = try? Self.clusterUser() else { return }
        logger.info("postgres.stop", metadata: ["path": "\(dataDirectory)"])
        _ = try? run(binaries + "/pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "stop"], as: owner)
    }

    /// Stops the cluster once process `pid` has gone, however it ends (tests use it: a test
    /// runner may exit without running `atexit` handlers). A detached shell polls for the
    /// process once a second; it is a watchdog, not synchronisation.
    public func stopWhenProcessExits(_ pid: Int32) throws {
        let binaries = try Self.findBinaries()
        let stop = "\(binaries)/pg_ctl -D '\(dataDirectory)' -m immediate stop"
        let asOwner = try Self.clusterUser().map { "/usr/sbin/runuser -u \($0) -- \(stop)" } ?? stop
        // A pgbouncer started beside the cluster keeps its pid in the data folder's sibling.
        let pgbouncer = "[ -f '\(dataDirectory)-pgbouncer/pgbouncer.pid' ] && kill $(cat '\(dataDirectory)-pgbouncer/pgbouncer.pid');"
        let script =
            "while [ -d /proc/\(pid) ]; do sleep 1; done; \(pgbouncer) \(asOwner) >/dev/null 2>&1; "
            + "rm -rf '\(dataDirectory)' '\(dataDirectory)-pgbouncer' '\(socketDirectory)'"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        Self.closeInheritedDescriptors(&actions)
        // setsid: the watchdog must not receive the terminal's signals meant for the tests.
        let words: [String] = ["/usr/bin/setsid", "/bin/sh", "-c", script]
        let arguments = words.map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        var child: pid_t = 0
        let spawned = Self.withDefaultSignals { posix_spawn(&child, "/usr/bin/setsid", &actions, &$0, arguments, environ) }
        guard spawned == 0 else {
            throw EmbeddedPostgresError(message: "cannot start the cluster watchdog")
        }
    }

    /// Restarts the cluster (used by tests that show the pool survives a restart).
    public func restart() throws {
        let binaries = try Self.findBinaries()
        try run(binaries + "/pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "restart"], as: try Self.clusterUser())
    }

    private func isRunning(binaries: String, owner: String?) throws -> Bool {
        (try? run(binaries + "/pg_ctl", ["-D", dataDirectory, "status"], as: owner)) != nil
    }

    /// Runs a PostgreSQL program, as `owner` when given, and returns its output.
    ///
    /// Spawned with posix_spawn and reaped with waitpid: Foundation's `Process` waits for
    /// descriptors to close, and the server that `pg_ctl start` leaves behind inherits them.
    @discardableResult
    func run(_ program: String, _ arguments: [String], as owner: String?) throws -> String {
        let argv = owner.map { ["/usr/sbin/runuser", "-u", $0, "--", program] } ?? [program]
        let outputPath = NSTemporaryDirectory() + "tollgate-pg-output-\(UUID().uuidString)"
        defer { unlink(outputPath) }
        let status = try Self.spawnAndWait(argv + arguments, outputPath: outputPath)
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw EmbeddedPostgresError(
                message: "\((program as NSString).lastPathComponent) failed (exit \(status)): "
                    + text.split(separator: "\n").suffix(3).joined(separator: " | ")
            )
        }
        return text
    }

    private static func spawnAndWait(_ arguments: [String], outputPath: String) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        closeInheritedDescriptors(&actions)
        let cArguments = arguments.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = withDefaultSignals { posix_spawn(&pid, arguments[0], &actions, &$0, cArguments, environ) }
        guard spawned == 0 else {
            throw EmbeddedPostgresError(message: "cannot start \(arguments[0]) (error \(spawned))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw EmbeddedPostgresError(message: "lost track of \(arguments[0])") }
        }
        // WIFEXITED / WEXITSTATUS, which Swift does not import as macros.
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// The child keeps standard input, output and error only. Otherwise it inherits whatever
    /// descriptors the process has open at that moment, such as the write end of a pipe that
    /// another thread just made to read a child's output; the server or the watchdog, which
    /// outlive that child, then hold the pipe open and its reader never sees the end (a test
    /// run hung that way, reading curl's output, until the watchdog's own process exited).
    /// glibc (2.34 on) has the action, but declares it for _GNU_SOURCE only, which Swift's Glibc
    /// module is not built with: found by name instead. Without it (an older libc), nothing changes.
    public static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let process = dlopen(nil, RTLD_NOW) else { return }
        defer { dlclose(process) }
        guard let symbol = dlsym(process, "posix_spawn_file_actions_addclosefrom_np") else { return }
        _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
    }

    /// Spawn attributes for an empty signal mask and default handling of the usual signals.
    /// Without them a child inherits the spawning thread's mask, and Swift's threads block
    /// SIGTERM and SIGINT: pgbouncer, started as a daemon, then ignored `kill` for ever and
    /// outlived every test run.
    public static func withDefaultSignals<T>(_ body: (inout posix_spawnattr_t) -> T) -> T {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var usual = sigset_t()
        sigemptyset(&usual)
        for signal in [SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGUSR1, SIGUSR2, SIGCHLD] { sigaddset(&usual, signal) }
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &usual)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        return body(&attributes)
    }

    /// The folder of `initdb`/`pg_ctl`: PATH first, then Debian's versioned folders.
    static func findBinaries() throws -> String {
        let fileManager = FileManager.default
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for folder in path.split(separator: ":") where fileManager.isExecutableFile(atPath: "\(folder)/initdb") {
            // Debian's /usr/bin wrappers need a cluster configuration; prefer the real folder.
            let resolved = URL(fileURLWithPath: "\(folder)/initdb").resolvingSymlinksInPath().deletingLastPathComponent().path
            if fileManager.isExecutableFile(atPath: resolved + "/pg_ctl") { return resolved }
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? fileManager.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted(by: >)
        for version in versions where fileManager.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return "\(root)/\(version)/bin"
        }
        throw EmbeddedPostgresError(message: "PostgreSQL server programs (initdb, pg_ctl) not found: install the postgresql package")
    }

    /// Root cannot run PostgreSQL: pick the unprivileged user that will own the cluster.
    static func clusterUser() throws -> String? {
        guard geteuid() == 0 else { return nil }
        for candidate in ["postgres", "nobody"] where getpwnam(candidate) != nil {
            return candidate
        }
        throw EmbeddedPostgresError(message: "running as root and no unprivileged 'postgres' user exists to own the cluster")
    }

    static func giveOwnership(of path: String, to owner: String?) throws {
        guard let owner, let entry = getpwnam(owner) else { return }
        guard chown(path, entry.pointee.pw_uid, entry.pointee.pw_gid) == 0 else {
            throw EmbeddedPostgresError(message: "cannot hand \(path) to user \(owner)")
        }
        var info = stat()
        // Folders: only the owner; the pooler's socket folder must stay reachable by clients.
        if stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { chmod(path, path.hasSuffix("-pgbouncer") ? 0o755 : 0o700) }
    }

    /// Where `tollgate dev` keeps its cluster for a state folder: inside it, unless the
    /// unprivileged cluster user (when running as root) cannot walk down to it, as in a
    /// checkout under root's home (mode 700). Then a folder of its own under /var/tmp, named
    /// after the state folder's path, so each checkout keeps its own data across restarts.
    public static func dataDirectory(forState state: String) -> String {
        let inside = state + "/postgres"
        guard let owner = try? clusterUser(), (try? checkReachable(inside, by: owner)) == nil else { return inside }
        let hash = state.utf8.reduce(UInt64(14_695_981_039_346_656_037)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }
        return "/var/tmp/tollgate-dev-\(String(hash, radix: 36))/postgres"
    }

    /// The cluster user must be able to walk down to the data folder.
    private static func checkReachable(_ path: String, by owner: String?) throws {
        guard owner != nil else { return }
        var folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        while folder.path != "/" {
            var info = stat()
            if stat(folder.path, &info) == 0, info.st_mode & 0o001 == 0 {
                throw EmbeddedPostgresError(
                    message: "\(folder.path) is not searchable by other users, so the unprivileged cluster user cannot reach "
                        + "\(path); run from a folder others can enter (chmod o+x), or set DATABASE_URL"
                )
            }
            folder = folder.deletingLastPathComponent()
        }
    }
}

/// A problem starting or stopping the private cluster.
public struct EmbeddedPostgresError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}
