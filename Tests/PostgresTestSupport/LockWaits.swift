public import PQ

extension PQTransaction {
    /// For a test whose transaction holds a lock that another request must queue on: true as
    /// soon as another session of this database is seen waiting for a lock, false when none
    /// is within `timeout` (the test then fails on that, not on a hang; generous, as the other
    /// request may first hash a password on a loaded machine). The pause between
    /// looks is spent in the database, so the transaction and its lock stay open meanwhile.
    public func anotherSessionWaitsForALock(within timeout: Duration = .seconds(60)) throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            // pg_stat_activity is read once per transaction unless the snapshot is dropped.
            try query("SELECT pg_stat_clear_snapshot()")
            let waiting = try query(
                """
                SELECT 1 FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'
                """
            )
            if !waiting.isEmpty { return true }
            try query("SELECT pg_sleep(0.02)")
        }
        return false
    }
}
