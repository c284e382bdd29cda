import Logging

/// `StreamLogHandler`'s lines, with the logger's own metadata formatted only when a line is
/// written. `StreamLogHandler` formats its whole metadata again each time a key is set, and
/// Hummingbird sets `hb.request.id` on every request's logger whether or not anything is ever
/// logged at the level set: a few percent of an empty request's CPU (bench/RESULTS.md,
/// issue 27).
struct LazyMetadataLogHandler: LogHandler {
    private var stream: StreamLogHandler
    var metadata: Logger.Metadata = [:]

    init(_ stream: StreamLogHandler) { self.stream = stream }

    var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { stream.metadataProvider }
        set { stream.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// The line `StreamLogHandler` would write with this metadata set on it (a line's own
    /// metadata wins over the logger's).
    func log(event: LogEvent) {
        var event = event
        if !metadata.isEmpty { event.metadata = metadata.merging(event.metadata ?? [:]) { _, explicit in explicit } }
        stream.log(event: event)
    }
}
