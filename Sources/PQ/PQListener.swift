import CLibPQ
import Foundation
public import Logging
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// What a listener reports.
public enum PQListenerEvent: Sendable, Equatable {
    /// The listener is (again) connected and listening. Notifications sent while it was
    /// away are lost, so a consumer should look for work it may have missed.
    case listening
    /// A `NOTIFY` on one of the channels.
    case notification(channel: String, payload: String)
}

/// `LISTEN` on a dedicated connection (never through a transaction pooler), delivered as an
/// `AsyncStream`. It reconnects with backoff and listens again after any failure, and stops
/// when the stream's consumer goes away.
public final class PQListener: Sendable {
    let conninfo: String
    let overrides: [(String, String)]
    let channels: [String]
    let logger: Logger
    /// After this long without a word from the server the listener asks it something, and if
    /// no answer comes within `heartbeat` again it reconnects: a server that froze, or that a
    /// network cut off, keeps the socket open and would otherwise leave the listener deaf
    /// through a failover (SPEC §15).
    let heartbeat: Duration
    private let stopped = NIOLockedValueBox(false)

    /// Channel names must be plain identifiers (letters, digits, underscores).
    public init(
        conninfo: String,
        overrides: [(String, String)] = [],
        channels: [String],
        heartbeat: Duration = .seconds(5),
        logger: Logger
    ) throws {
        for channel in channels where channel.isEmpty || !channel.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) {
            throw PQError(kind: .usage, message: "channel names must be plain identifiers")
        }
        self.conninfo = conninfo
        self.overrides = overrides
        self.channels = channels
        self.heartbeat = heartbeat
        self.logger = logger
    }

    /// Starts listening. Call once; the stream ends when the listener is stopped.
    public func events() -> AsyncStream<PQListenerEvent> {
        let (stream, continuation) = AsyncStream<PQListenerEvent>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        continuation.onTermination = { _ in self.stop() }
        let thread = Thread { self.loop(continuation) }
        thread.name = "pq-listener"
        thread.start()
        return stream
    }

    /// Ends the stream (within the poll interval).
    public func stop() {
        stopped.withLockedValue { $0 = true }
    }

    private var isStopped: Bool { stopped.withLockedValue { $0 } }

    private func loop(_ continuation: AsyncStream<PQListenerEvent>.Continuation) {
        var backoff = 0.05
        while !isStopped {
            do {
                let connection = try PQConnection.connect(conninfo, overrides: overrides, applicationName: "tollgate-listener")
                for channel in channels {
                    try connection.execute(unsafeSQL: "LISTEN \"\(channel)\"", statement: "listen")
                }
                backoff = 0.05
                continuation.yield(.listening)
                try receive(on: connection, continuation)
            } catch {
                if isStopped { break }
                logger.warning("pq.listener.disconnected", metadata: ["pq.error": "\(error)"])
                Thread.sleep(forTimeInterval: backoff)
                backoff = min(backoff * 2, 2)
            }
        }
        continuation.finish()
    }

    /// Waits on the socket (in short slices, so a stop is noticed) and yields notifications.
    private func receive(on connection: PQConnection, _ continuation: AsyncStream<PQListenerEvent>.Continuation) throws {
        var heard = ContinuousClock.now
        var asked: ContinuousClock.Instant?
        while !isStopped {
            var descriptor = pollfd(fd: connection.socket, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 200)
            if ready < 0 && errno != EINTR {
                throw PQError(kind: .connection, message: "poll failed on the listening connection")
            }
            if ready > 0 {
                guard PQconsumeInput(connection.handle) == 1 else {
                    throw PQError(kind: .connection, message: PQConnection.lastErrorMessage(connection.handle))
                }
                while let notify = PQnotifies(connection.handle) {
                    let channel = String(cString: notify.pointee.relname)
                    let payload = String(cString: notify.pointee.extra)
                    PQfreemem(notify)
                    continuation.yield(.notification(channel: channel, payload: payload))
                }
                heard = .now
                // The heartbeat's answer: read without blocking until libpq has it all.
                while asked != nil && PQisBusy(connection.handle) == 0 {
                    guard let result = PQgetResult(connection.handle) else {
                        asked = nil
                        break
                    }
                    PQclear(result)
                }
            }
            if let asked, ContinuousClock.now - asked > heartbeat {
                throw PQError(kind: .connection, message: "the server did not answer the listening connection's heartbeat")
            }
            if asked == nil && ContinuousClock.now - heard > heartbeat {
                guard PQsendQuery(connection.handle, "SELECT 1") == 1, PQflush(connection.handle) == 0 else {
                    throw PQError(kind: .connection, message: PQConnection.lastErrorMessage(connection.handle))
                }
                asked = .now
            }
            if connection.isBroken {
                throw PQError(kind: .connection, message: "the listening connection broke")
            }
        }
    }
}
