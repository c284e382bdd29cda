import CLibPQ

extension PQConnection {
    /// Sends `queries` together and waits once for all their results: one round trip instead
    /// of one per statement (libpq's pipeline mode). Each is an unnamed extended-protocol
    /// statement, as on its own, so this works through pgbouncer in transaction mode.
    ///
    /// The statements run in order. The first that fails ends the pipeline: the ones after it
    /// do not run, and its error is thrown. Outside a transaction block they run as one
    /// implicit transaction (all or nothing); inside one, the block is left failed, to be
    /// rolled back.
    ///
    /// Statements the connection holds back (``PQTransaction/queue(_:)``, a transaction's
    /// BEGIN) go first, in the same round trip; only `queries`' results are returned.
    @discardableResult
    public func pipeline(_ queries: [PQQuery]) throws -> [PQRows] {
        let all = held + queries
        held = []
        guard all.count > 1 else { return try all.map { try query($0) } }
        return Array(try send(all).suffix(queries.count))
    }

    private func send(_ queries: [PQQuery]) throws -> [PQRows] {
        try roundTrip { try sendAndCollect(queries) }
    }

    private func sendAndCollect(_ queries: [PQQuery]) throws -> [PQRows] {
        guard PQenterPipelineMode(handle) == 1 else {
            throw PQError(kind: .connection, message: Self.lastErrorMessage(handle), statement: queries.first?.name)
        }
        // Leaving pipeline mode only works once every result has been read, as below.
        defer { PQexitPipelineMode(handle) }
        for query in queries {
            let sent = try withParameters(of: query) { count, types, values, lengths, formats in
                PQsendQueryParams(handle, query.sql, count, types, values, lengths, formats, 1)
            }
            guard sent == 1 else { throw PQError(kind: .connection, message: Self.lastErrorMessage(handle), statement: query.name) }
        }
        guard PQpipelineSync(handle) == 1 else {
            throw PQError(kind: .connection, message: Self.lastErrorMessage(handle), statement: queries.first?.name)
        }
        return try collect(queries)
    }

    /// Reads each statement's result (each followed by a null), then the sync's.
    private func collect(_ queries: [PQQuery]) throws -> [PQRows] {
        var rows: [PQRows] = []
        var failure: (any Error)?
        var index = 0
        while true {
            guard let result = PQgetResult(handle) else {
                // The end of one statement's results; a null before the sync is reached
                // when the connection is gone.
                index += 1
                if index > queries.count {
                    throw PQError(kind: .connection, message: Self.lastErrorMessage(handle), statement: queries.last?.name)
                }
                continue
            }
            switch PQresultStatus(result) {
            case PGRES_PIPELINE_SYNC:
                PQclear(result)
                if let failure { throw failure }
                return rows
            case PGRES_PIPELINE_ABORTED:
                PQclear(result)
            default:
                let name = queries[min(index, queries.count - 1)].name
                do {
                    rows.append(try consume(result, statement: name))
                } catch {
                    failure = failure ?? error
                    if isBroken { throw error }
                }
            }
        }
    }
}

extension PQConnection {
    /// ``query(_:)`` with the statement's name for errors and logs.
    @discardableResult
    public func query(_ name: String, _ query: PQQuery) throws -> PQRows {
        try self.query(query.named(name))
    }
}
