/// An error from PostgreSQL or from this library.
///
/// Carries the SQLSTATE, a message and the name of the failing statement; never the
/// connection password nor a bound value. Server messages of the data-exception class
/// (22xxx), which echo the offending input, are redacted.
public struct PQError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, in broad kinds a caller can branch on.
    public enum Kind: Sendable, Equatable {
        /// The server answered the statement with an error (see ``sqlState``).
        case server
        /// The connection could not be made, or broke.
        case connection
        /// No connection came free within the pool's acquire timeout.
        case poolExhausted
        /// The pool was shut down.
        case poolClosed
        /// A row value could not be decoded into the requested Swift type.
        case decoding
        /// The caller misused the API (for example, a missing column).
        case usage
    }

    public let kind: Kind
    /// The five-character SQLSTATE, for server errors.
    public let sqlState: String?
    /// A message safe to log.
    public let message: String
    /// The name of the failing statement, when the query was given one.
    public let statement: String?
    /// The constraint a server error names, if any (for 23xxx errors).
    public let constraint: String?

    public init(kind: Kind, sqlState: String? = nil, message: String, statement: String? = nil, constraint: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.statement = statement
        self.constraint = constraint
    }

    public var description: String {
        var text = "PQError(\(kind)"
        if let sqlState { text += " \(sqlState)" }
        if let statement { text += " in \(statement)" }
        if let constraint { text += " constraint \(constraint)" }
        return text + "): \(message)"
    }

    /// 23505: a unique constraint refused the row.
    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// 40001 or 40P01: the transaction lost a race and may be retried as a whole.
    public var isRetryableTransactionFailure: Bool { sqlState == "40001" || sqlState == "40P01" }
    /// The connection is gone (or the server is shutting down); a fresh one may succeed.
    public var isConnectionFailure: Bool {
        if kind == .connection { return true }
        guard let sqlState else { return false }
        // 08: connection exception; 57P01..57P03: admin shutdown, crash shutdown, cannot connect now.
        return sqlState.hasPrefix("08") || sqlState == "57P01" || sqlState == "57P02" || sqlState == "57P03"
    }
    /// 25006: the server refused a write because it is read-only: a standby, or a primary being
    /// fenced during a failover. Nothing was written, and a fresh connection (a multi-host
    /// string with `target_session_attrs=read-write`) may reach the new primary.
    public var isReadOnly: Bool { sqlState == "25006" }
    /// The connection must not be lent again: it is gone, or it reaches a server that cannot write.
    public var discardsConnection: Bool { isConnectionFailure || isReadOnly }

    /// Data exceptions quote the input that failed, after a colon (`invalid input syntax for
    /// type uuid: "…"`) or inside the sentence (`value "…" is out of range for type integer`):
    /// keep the sentence, drop what follows a colon and every quoted part.
    static func redacted(message: String, sqlState: String?) -> String {
        guard let sqlState, sqlState.hasPrefix("22") else { return message }
        var sentence = Substring(message)
        var cut = false
        if let colon = sentence.firstIndex(of: ":") {
            sentence = sentence[..<colon]
            cut = true
        }
        var text = ""
        var quoted = false
        for character in sentence {
            if character == "\"" {
                if !quoted { text += "(value redacted)" }
                quoted.toggle()
            } else if !quoted {
                text.append(character)
            }
        }
        // An unbalanced quote hides the rest, which is what we want.
        return cut ? text + ": (value redacted)" : text
    }
}
