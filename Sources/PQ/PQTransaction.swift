/// Statements run inside one transaction, on the thread that holds its connection.
///
/// Round trips are what a transaction costs (each also holds its row locks that much longer),
/// so a transaction sends nothing until its first statement: BEGIN and the settings go with
/// that statement, in one pipeline. Writes whose answers nobody reads can be queued with
/// ``queue(_:)``: they go with the next statement, or with the COMMIT.
public struct PQTransaction {
    let connection: PQConnection

    /// Runs one statement of the transaction (with whatever it still holds back).
    @discardableResult
    public func query(_ query: PQQuery) throws -> PQRows {
        try connection.query(query)
    }

    /// ``query(_:)`` with the statement's name for errors and logs (`"challenge.locate"`):
    /// the name first, so it reads as a heading over the SQL.
    @discardableResult
    public func query(_ name: String, _ query: PQQuery) throws -> PQRows {
        try connection.query(query.named(name))
    }

    /// A write whose answer nobody reads, sent with the transaction's next statement or its
    /// COMMIT. Its failure is thrown there, and rolls the transaction back as any other.
    /// Not for a write whose error the caller means to catch and answer.
    public func queue(_ query: PQQuery) {
        connection.held.append(query)
    }

    /// ``queue(_:)`` with the statement's name.
    public func queue(_ name: String, _ query: PQQuery) {
        connection.held.append(query.named(name))
    }
}

extension PQPool {
    /// Runs `body` in a transaction: commit on return, rollback on throw.
    ///
    /// `settings` are applied with `set_config(name, value, true)`, so they end with the
    /// transaction (safe behind a transaction pooler). BEGIN and the settings are held back
    /// and sent with the body's first statement; queued writes go with the COMMIT. A body
    /// that sends nothing costs no round trip. The body runs on the pool's thread.
    public func withTransaction<T: Sendable>(
        isolation: PQIsolation = .readCommitted,
        settings: [(String, String)] = [],
        _ body: @escaping @Sendable (PQTransaction) throws -> T
    ) async throws -> T {
        let opening = Self.opening(isolation: isolation, settings: settings, statementTimeout: configuration.statementTimeoutMilliseconds)
        return try await withConnection { connection in
            connection.held = opening
            do {
                let value = try body(PQTransaction(connection: connection))
                // PostgreSQL answers COMMIT of a failed transaction with a quiet ROLLBACK, so a
                // body that caught a statement's error and returned would look committed.
                if connection.isInFailedTransaction {
                    throw PQError(
                        kind: .server,
                        sqlState: "25P02",
                        message: "a statement of the transaction failed, so it was rolled back instead of committed",
                        statement: "commit"
                    )
                }
                if connection.held.count == opening.count && !connection.isInTransaction {
                    // Nothing was sent, so there is nothing to commit.
                    connection.held = []
                } else {
                    // Queued writes may go with it: once sent, they may be committed.
                    connection.commitSentUnread = !connection.held.isEmpty
                    try connection.pipeline([PQQuery(unsafeSQL: "COMMIT").named("commit")])
                }
                return value
            } catch {
                connection.held = []
                if !connection.isBroken && connection.isInTransaction {
                    _ = try? connection.execute(unsafeSQL: "ROLLBACK", statement: "rollback")
                }
                throw error
            }
        }
    }

    /// One statement in a transaction of its own, sent with its BEGIN, settings and COMMIT in
    /// one round trip: for a read in a tenant's scope (row-level security needs the setting).
    public func read(isolation: PQIsolation = .readCommitted, settings: [(String, String)] = [], _ query: PQQuery) async throws -> PQRows {
        try await transaction(isolation: isolation, settings: settings, [query], writes: false)[0]
    }

    /// Statements in a transaction of their own, sent with BEGIN, the settings and COMMIT in
    /// one round trip: for work whose every statement is known before any answer is read (a
    /// later statement may use what an earlier one set or wrote). The first that fails rolls
    /// the whole back and is thrown. With `writes` (the default), a connection lost once they
    /// are sent fails the call rather than running them again: they may have committed.
    public func transaction(
        isolation: PQIsolation = .readCommitted,
        settings: [(String, String)] = [],
        _ queries: [PQQuery],
        writes: Bool = true
    ) async throws -> [PQRows] {
        let opening = Self.opening(isolation: isolation, settings: settings, statementTimeout: configuration.statementTimeoutMilliseconds)
        return try await withConnection { connection in
            connection.commitSentUnread = writes
            do {
                let results = try connection.pipeline(opening + queries + [PQQuery(unsafeSQL: "COMMIT").named("commit")])
                return Array(results[opening.count..<(opening.count + queries.count)])
            } catch {
                if !connection.isBroken && connection.isInTransaction {
                    _ = try? connection.execute(unsafeSQL: "ROLLBACK", statement: "rollback")
                }
                throw error
            }
        }
    }

    /// BEGIN, and one statement that applies the settings and the statement timeout for this
    /// transaction only (`set_config(…, true)`), with binds.
    static func opening(isolation: PQIsolation, settings: [(String, String)], statementTimeout: Int) -> [PQQuery] {
        let begin = PQQuery(unsafeSQL: "BEGIN ISOLATION LEVEL \(isolation.rawValue)").named("begin")
        var all = settings
        if statementTimeout > 0 { all.append(("statement_timeout", "\(statementTimeout)")) }
        guard !all.isEmpty else { return [begin] }
        var sql = PQQuery.StringInterpolation(literalCapacity: 40 * all.count, interpolationCount: 2 * all.count)
        sql.appendLiteral("SELECT ")
        for (index, (name, value)) in all.enumerated() {
            sql.appendLiteral(index == 0 ? "set_config(" : ", set_config(")
            sql.appendInterpolation(name)
            sql.appendLiteral(", ")
            sql.appendInterpolation(value)
            sql.appendLiteral(", true)")
        }
        return [begin, PQQuery(stringInterpolation: sql).named("begin.settings")]
    }

    /// `withTransaction`, repeated (up to `attempts` times) when it fails with a
    /// serialization failure (40001) or a deadlock (40P01).
    public func withRetryingTransaction<T: Sendable>(
        isolation: PQIsolation = .serializable,
        settings: [(String, String)] = [],
        attempts: Int = 5,
        _ body: @escaping @Sendable (PQTransaction) throws -> T
    ) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await withTransaction(isolation: isolation, settings: settings, body)
            } catch let error as PQError where error.isRetryableTransactionFailure && attempt < attempts {
                attempt += 1
                // A short random pause spreads the contenders apart before the retry.
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...(5 * attempt))))
            }
        }
    }
}
