public import PQ

/// The open challenges of every company, by purpose, for the `/metrics` gauge: counted by
/// `open_challenges()` (migration 0006), which only the API role may call.
public enum OpenChallenges {
    public static func byPurpose(pool: PQPool) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in try await pool.query("metrics.open_challenges", "SELECT purpose, challenges FROM open_challenges()") {
            counts[try row.decode("purpose", as: String.self)] = try row.decode("challenges", as: Int.self)
        }
        return counts
    }
}
