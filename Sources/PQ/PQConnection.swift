import CLibPQ
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// One libpq connection.
///
/// Every call blocks, so it must run on a thread of its own (the pool's thread pool or the
/// listener's thread), never on Swift's cooperative pool. The type is `@unchecked Sendable`
/// because the pool hands each connection to exactly one borrower at a time; it must not be
/// used from two threads at once.
public final class PQConnection: @unchecked Sendable {
    let handle: OpaquePointer
    /// What `cancelRunningStatement` needs, made with the connection while nothing runs on it.
    private let cancelHandle: OpaquePointer?
    /// Statements that succeeded since the pool last lent this connection out; a failure
    /// with none before it cannot have changed anything and may be retried elsewhere.
    var statementsSucceeded = 0
    /// A COMMIT went out with writes whose answers were not read yet (a pipeline ending in
    /// COMMIT): if the connection is lost now, the server may have committed them, so the work
    /// must not run again.
    var commitSentUnread = false
    /// Messages sent to the server and waited for (each `query` or `execute` is one round
    /// trip) over the connection's life; the pool adds each loan's share to its total.
    var roundTrips = 0
    /// Statements held back to go with the next one sent (a transaction's BEGIN and settings,
    /// writes whose answers nobody reads): see ``PQTransaction``.
    var held: [PQQuery] = []
    /// When the round trip in progress started (nil between them), read by the pool's
    /// watchdog on another thread: see ``abandon(ifWaitingLongerThan:)``.
    private let waitingSince = NIOLockedValueBox<ContinuousClock.Instant?>(nil)

    /// Connects from a libpq connection string or URI (multi-host strings included; libpq
    /// handles them). Parameters go through `PQconnectdbParams`, never a string we built.
    /// `overrides` (keyword, value) replace what the string says (for example another
    /// `dbname` or `user`), as libpq gives later keywords precedence.
    public static func connect(
        _ conninfo: String,
        overrides: [(String, String)] = [],
        applicationName: String = "tollgate"
    ) throws -> PQConnection {
        // connect_timeout comes first so that the string's own value wins over our default.
        let keywords = ["connect_timeout", "dbname", "fallback_application_name"] + overrides.map(\.0)
        let values = ["10", conninfo, applicationName] + overrides.map(\.1)
        let handle = withCStrings(keywords) { keywordPointers in
            withCStrings(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let handle else { throw PQError(kind: .connection, message: "out of memory allocating a connection") }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = lastErrorMessage(handle)
            PQfinish(handle)
            throw PQError(kind: .connection, message: message)
        }
        return PQConnection(handle: handle)
    }

    /// Set by ``finish()``; the handle must not be used after it.
    private var finished = false

    init(handle: OpaquePointer) {
        self.handle = handle
        self.cancelHandle = PQgetCancel(handle)
    }

    deinit {
        if let cancelHandle { PQfreeCancel(cancelHandle) }
        if !finished { PQfinish(handle) }
    }

    /// Closes the connection now, on the calling thread (PQfinish tells the server goodbye
    /// on the socket). The pool calls it on its own threads for every connection it drops,
    /// so that `deinit` does not do it on whichever thread lets go of the last reference.
    func finish() {
        guard !finished else { return }
        finished = true
        PQfinish(handle)
    }

    /// Asks the server to cancel what this connection is running, if anything; the statement
    /// then fails with 57014. Callable from any thread while another uses the connection
    /// (libpq's PQcancel is thread-safe); it blocks while it reaches the server.
    public func cancelRunningStatement() {
        guard let cancelHandle else { return }
        var message = [CChar](repeating: 0, count: 256)
        _ = PQcancel(cancelHandle, &message, Int32(message.count))
    }

    /// True when libpq knows the connection is unusable.
    public var isBroken: Bool { PQstatus(handle) != CONNECTION_OK }

    /// True while a transaction block is open (or failed and not yet rolled back).
    var isInTransaction: Bool {
        let status = PQtransactionStatus(handle)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE
    }

    /// Runs one statement with its binds; results come back in binary format.
    @discardableResult
    public func query(_ query: PQQuery) throws -> PQRows {
        guard held.isEmpty else { return try pipeline([query])[0] }
        let result = try roundTrip {
            try withParameters(of: query) { count, types, values, lengths, formats in
                PQexecParams(handle, query.sql, count, types, values, lengths, formats, 1)
            }
        }
        return try consume(result, statement: query.name)
    }

    /// Calls `body` with `query`'s binds laid out as libpq's parameter arrays, which live for
    /// the call; a bind that could not be encoded is refused before anything is sent.
    func withParameters<R>(
        of query: PQQuery,
        _ body: (Int32, UnsafePointer<Oid>?, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?) -> R
    ) throws -> R {
        let binds = query.binds
        if let failure = binds.lazy.compactMap(\.encodingFailure).first {
            throw PQError(kind: .usage, message: failure, statement: query.name)
        }
        let types = binds.map { Oid($0.type.rawValue) }
        let lengths = binds.map { Int32($0.value?.count ?? 0) }
        let formats = binds.map { Int32($0.binary ? 1 : 0) }
        // Text values need a NUL terminator; binary ones carry their length.
        let buffers: [UnsafeMutablePointer<CChar>?] = binds.map { bind in
            guard let value = bind.value else { return nil }
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: value.count + 1)
            value.withUnsafeBufferPointer { source in
                source.withMemoryRebound(to: CChar.self) { chars in
                    buffer.initialize(from: chars.baseAddress!, count: value.count)
                }
            }
            buffer[value.count] = 0
            return buffer
        }
        defer { buffers.forEach { $0?.deallocate() } }
        let values: [UnsafePointer<CChar>?] = buffers.map { $0.map { UnsafePointer($0) } }
        return types.withUnsafeBufferPointer { typePointer in
            values.withUnsafeBufferPointer { valuePointer in
                lengths.withUnsafeBufferPointer { lengthPointer in
                    formats.withUnsafeBufferPointer { formatPointer in
                        body(
                            Int32(binds.count),
                            typePointer.baseAddress,
                            valuePointer.baseAddress,
                            lengthPointer.baseAddress,
                            formatPointer.baseAddress
                        )
                    }
                }
            }
        }
    }

    /// `text` as a quoted SQL string literal, escaped by libpq for this connection's encoding
    /// and settings (for values that must travel in a simple-protocol message, such as the
    /// transaction settings sent with BEGIN). Text with a NUL byte is refused.
    public func escapeLiteral(_ text: String) throws -> String {
        guard !text.utf8.contains(0) else { throw PQError(kind: .usage, message: "a literal cannot hold a NUL byte") }
        let length = text.utf8.count
        guard let escaped = text.withCString({ PQescapeLiteral(handle, $0, length) }) else {
            throw PQError(kind: .usage, message: "libpq could not escape a literal: \(Self.lastErrorMessage(handle))")
        }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }

    /// Runs SQL text without binds through the simple query protocol (several statements
    /// allowed). Only for text this program wrote: `BEGIN`, migrations, `LISTEN`.
    @discardableResult
    public func execute(unsafeSQL sql: String, statement: String? = nil) throws -> PQRows {
        if !held.isEmpty { try pipeline([]) }
        return try consume(roundTrip { PQexec(handle, sql) }, statement: statement)
    }

    /// Counts one round trip and marks the time it waits for the server.
    func roundTrip<R>(_ body: () throws -> R) rethrows -> R {
        roundTrips += 1
        waitingSince.withLockedValue { $0 = .now }
        defer { waitingSince.withLockedValue { $0 = nil } }
        return try body()
    }

    /// Called from another thread: if the connection has waited for the server longer than
    /// `limit`, shuts its socket down so that the blocked libpq call returns with a lost
    /// connection. A server that answers cancels a statement at `statement_timeout` by itself;
    /// one that is frozen, or behind a network that silently drops packets, never answers, and
    /// libpq has no timeout of its own once connected (SPEC §15: never a hang). Returns whether
    /// it did.
    func abandon(ifWaitingLongerThan limit: Duration) -> Bool {
        let stuck = waitingSince.withLockedValue { since in since.map { ContinuousClock.now - $0 > limit } ?? false }
        // The descriptor stays open (libpq closes it in PQfinish): only its traffic stops.
        if stuck { shutdown(PQsocket(handle), Int32(SHUT_RDWR)) }
        return stuck
    }

    func consume(_ result: OpaquePointer?, statement: String?) throws -> PQRows {
        guard let result else {
            throw PQError(kind: .connection, message: Self.lastErrorMessage(handle), statement: statement)
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            statementsSucceeded += 1
            return PQRows(result: result)
        default:
            func field(_ code: Character) -> String? {
                PQresultErrorField(result, Int32(code.asciiValue!)).map { String(cString: $0) }
            }
            let sqlState = field("C")
            let primary = field("M") ?? Self.lastErrorMessage(handle)
            // A result without SQLSTATE came from libpq itself: the connection failed.
            let kind: PQError.Kind = (sqlState == nil || isBroken) ? .connection : .server
            throw PQError(
                kind: kind,
                sqlState: sqlState,
                message: PQError.redacted(message: primary, sqlState: sqlState),
                statement: statement,
                constraint: field("n")
            )
        }
    }

    /// True when a statement of the open transaction failed: it can only roll back now.
    var isInFailedTransaction: Bool { PQtransactionStatus(handle) == PQTRANS_INERROR }

    /// The server's process id for this connection (used by tests to terminate it).
    public var backendPID: Int { Int(PQbackendPID(handle)) }

    /// The socket, for waiting on notifications.
    var socket: Int32 { PQsocket(handle) }

    static func lastErrorMessage(_ handle: OpaquePointer) -> String {
        guard let text = PQerrorMessage(handle) else { return "unknown libpq error" }
        let message = String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
        return message.isEmpty ? "unknown libpq error" : message
    }
}

/// Calls `body` with a NULL-terminated array of C strings that live for the call.
private func withCStrings<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let pointers = strings.map { strdup($0) }
    defer { pointers.forEach { free($0) } }
    return body(pointers.map { $0.map { UnsafePointer($0) } } + [nil])
}

extension String {
    func trimmingCharacters(in set: Set<Character>) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice.removeFirst() }
        while let last = slice.last, set.contains(last) { slice.removeLast() }
        return String(slice)
    }
}

extension Set where Element == Character {
    static let whitespacesAndNewlines: Set<Character> = [" ", "\n", "\t", "\r"]
}
