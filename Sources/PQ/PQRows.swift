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
public struct PQRow: Sendable {
    let columns: [PQColumn]
    let cells: [[UInt8]?]

    /// Decodes the named column. A missing column, a type mismatch or NULL into a
    /// non-optional is an error naming the column.
    ///
    /// Names are matched byte for byte, as PostgreSQL matches identifiers: `String`'s `==`
    /// compares by Unicode equivalence, which for two names that differ costs a normalising
    /// comparison, and a row of thirty columns read by name makes hundreds of them.
    public func decode<T: PQDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        let wanted = column.utf8
        guard let index = columns.firstIndex(where: { $0.name.utf8.count == wanted.count && $0.name.utf8.elementsEqual(wanted) }) else {
            throw PQError(kind: .usage, message: "no column named \(column) in the result")
        }
        return try decode(at: index, as: type)
    }

    /// Decodes the column at `index`.
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
