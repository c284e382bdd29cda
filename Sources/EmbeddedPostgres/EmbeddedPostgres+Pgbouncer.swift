import Foundation

extension EmbeddedPostgres {
    /// Starts pgbouncer in transaction-pooling mode in front of this cluster, on a unix socket
    /// in `directory`, and returns its connection string (any database, the cluster's roles).
    /// For tests that show Tollgate works behind a transaction pooler.
    public func startPgbouncer(in directory: String, port: Int = 6432) throws -> String {
        let owner = try Self.clusterUser()
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Self.giveOwnership(of: directory, to: owner)
        let roles = [superuser, "tollgate_api", "tollgate_worker", "tollgate_support"].map { "\"\($0)\" \"\"" }.joined(separator: "\n")
        let configuration = """
            [databases]
            * = host=\(socketDirectory) port=\(self.port)
            [pgbouncer]
            listen_addr =
            listen_port = \(port)
            unix_socket_dir = \(directory)
            auth_type = trust
            auth_file = \(directory)/users.txt
            pool_mode = transaction
            max_client_conn = 1000
            default_pool_size = 20
            ignore_startup_parameters = extra_float_digits
            pidfile = \(directory)/pgbouncer.pid
            logfile = \(directory)/pgbouncer.log
            """
        for (name, text) in [("pgbouncer.ini", configuration), ("users.txt", roles)] {
            let path = directory + "/" + name
            guard fileManager.createFile(atPath: path, contents: Data(text.utf8)) else {
                throw EmbeddedPostgresError(message: "cannot write \(path)")
            }
            try Self.giveOwnership(of: path, to: owner)
        }
        try run("/usr/sbin/pgbouncer", ["-d", directory + "/pgbouncer.ini"], as: owner)
        return "host=\(directory) port=\(port) user=\(superuser) dbname=postgres"
    }
}
