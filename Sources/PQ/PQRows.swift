import CLibPQ

/// The rows a statement returned, copied out of libpq's result so it can be freed at once.
public struct PQRows: Sendable, Sequence {
    public let columns: [PQColumn]
    let cells: [[[UInt8]?]]
    /// The number of rows the command affected (`UPDATE`, `DELETE`, `INSERT`).
    public let affectedRows: Int

    public var count: Int { cells.count }
    public var isEmpty: Bool { cells.isEmpty }
    public var first: PQRow? { cells.isEmpty ? nil : PQRow(columns: columns, cells: cells[0]) }

    public func makeIterator() -> some IteratorProtocol<PQRow> {
        cells.lazy.map { PQRow(columns: columns, cells: $0) }.makeIterator()
    }

    init(result: OpaquePointer) {
        let columnCount = Int(PQnfields(result))
        var columns: [PQColumn] = []
        columns.reserveCapacity(columnCount)
        for index in 0..<columnCount {
            let name = PQfname(result, Int32(index)).map { String(cString: $0) } ?? "?column?"
            columns.append(PQColumn(name: name, type: PQType(rawValue: PQftype(result, Int32(index)))))
        }
        let rowCount = Int(PQntuples(result))
        var cells: [[[UInt8]?]] = []
        cells.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var values: [[UInt8]?] = []
            values.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                    values.append(nil)
                } else {
                    let length = Int(PQgetlength(result, Int32(row), Int32(column)))
                    let pointer = PQgetvalue(result, Int32(row), Int32(column))!
                    values.append(
                        pointer.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
                    )
                }
            }
            cells.append(values)
        }
        self.columns = columns
        self.cells = cells
        let tuples = PQcmdTuples(result).map { String(cString: $0) } ?? ""
        self.affectedRows = Int(tuples) ?? 0
    }
}

/// A result column's name and type.
public struct PQColumn: Sendable {
    public let name: String
    public let type: PQType
}

/// One row; values are read by column name or position and decoded into Swift types.
///
/// The two `decode`s are `@inlinable` so that each caller's copy is specialised for the type it
/// reads: unspecialised, every value decoded asked the runtime for `Optional<T>`'s metadata by
/// a hashed lookup, some 6 % of a verify's instructions (`bench/instructions.sh`).
public struct PQRow: Sendable {
    @usableFromInline let columns: [PQColumn]
    @usableFromInline let cells: [[UInt8]?]

    /// Decodes the named column. A missing column, a type mismatch or NULL into a
    /// non-optional is an error naming the column.
    ///
    /// Names of another length in UTF-8 are passed over before `==` is asked (PostgreSQL matches
    /// identifiers byte for byte anyway): `String`'s `==` compares by Unicode equivalence, which
    /// for two names that differ is a slow path, and a row of thirty columns read by name would
    /// ask it hundreds of times.
    @inlinable
    public func decode<T: PQDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        let length = column.utf8.count
        guard let index = columns.firstIndex(where: { $0.name.utf8.count == length && $0.name == column }) else {
            throw PQError(kind: .usage, message: "no column named \(column) in the result")
        }
        return try decode(at: index, as: type)
    }

    /// Decodes the column at `index`.
    @inlinable
    public func decode<T: PQDecodable>(at index: Int, as type: T.Type = T.self) throws -> T {
        guard columns.indices.contains(index) else {
            throw PQError(kind: .usage, message: "no column at position \(index) in the result")
        }
        let column = columns[index]
        guard let bytes = cells[index] else {
            guard let null = T.pqNull else {
                throw PQError(kind: .decoding, message: "column \(column.name) is NULL but \(T.self) is not optional")
            }
            return null
        }
        return try bytes.withUnsafeBytes { try T(pqValue: $0, type: column.type, column: column.name) }
    }
}
