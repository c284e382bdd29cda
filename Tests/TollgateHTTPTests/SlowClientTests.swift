import Foundation
import HTTPTypes
import HummingbirdTesting
import PQ
import TestSupport
import Testing
import TollgateCore
import TollgateHTTP

#if canImport(Glibc)
import Glibc
#endif

/// Slow or greedy clients cannot hold the server (issue: the HTTP front).
@Suite struct SlowClientTests {
    /// A raw TCP connection to the test server, for sending what no HTTP client would.
    /// Its blocking calls run on a thread of their own (`offCooperativePool`): blocking Swift's
    /// few cooperative threads would stall the server under test, whose handlers need them.
    final class RawConnection: @unchecked Sendable {
        let fd: Int32

        init(port: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        }

        deinit { close(fd) }

        func send(_ text: String) {
            _ = text.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        }

        /// Waits up to `seconds` for the server to close the connection (reads what it sends).
        func closedByServer(within seconds: Int) async throws -> (closed: Bool, received: String) {
            try await offCooperativePool { self.waitForClose(within: seconds) }
        }

        private func waitForClose(within seconds: Int) -> (closed: Bool, received: String) {
            var received = [UInt8]()
            let deadline = Date().addingTimeInterval(Double(seconds))
            while Date() < deadline {
                var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&descriptor, 1, 200) > 0 else { continue }
                var buffer = [UInt8](repeating: 0, count: 4096)
                let count = recv(fd, &buffer, buffer.count, 0)
                if count <= 0 { return (true, String(decoding: received, as: UTF8.self)) }
                received += buffer[0..<count]
            }
            return (false, String(decoding: received, as: UTF8.self))
        }
    }

    @Test func aClientTricklingItsHeadersIsCutOffAtTheDeadline() async throws {
        try await TestApp.with({ $0.http.headerTimeout = 1 }, fullServer: true) { app, client in
            let port = try #require(client.client.port)
            let connection = try RawConnection(port: port)
            connection.send("GET /health/live HTTP/1.1\r\nHost: x\r\n")
            // Still one header short of a request, and one more byte every 300 ms: activity
            // must not extend the deadline for the whole head (an idle timeout would be fooled).
            connection.send("X-Slow: a")
            let trickle = Task {
                for _ in 0..<40 {
                    try await Task.sleep(for: .milliseconds(300))
                    connection.send("a")
                }
            }
            let outcome = try await connection.closedByServer(within: 10)
            trickle.cancel()
            #expect(outcome.closed, "the server kept a trickled request open")
            // A prompt request on a new connection is still served.
            let prompt = try RawConnection(port: port)
            prompt.send("GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(try await prompt.closedByServer(within: 10).received.hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test func hugeOrNumerousHeadersAreRefused() async throws {
        try await TestApp.with(fullServer: true) { app, client in
            let port = try #require(client.client.port)
            let big = try RawConnection(port: port)
            big.send("GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 40_000))\r\n\r\n")
            let bigOutcome = try await big.closedByServer(within: 10)
            #expect(bigOutcome.closed && !bigOutcome.received.contains("200 OK"))
            let many = try RawConnection(port: port)
            let headers = (0..<200).map { "X-H\($0): v\r\n" }.joined()
            many.send("GET /health/live HTTP/1.1\r\nHost: x\r\n\(headers)\r\n")
            let manyOutcome = try await many.closedByServer(within: 10)
            #expect(manyOutcome.closed && !manyOutcome.received.contains("200 OK"))
        }
    }

    /// One IPv6 subscriber holds a /64: the per-IP login limit counts the /64, so changing
    /// the low bits of the address does not buy new attempts. A different /64 is apart.
    @Test func thePerIPLoginLimitCountsAnIPv6ClientByItsSlash64() async throws {
        try await TestApp.with(
            {
                $0.http.trustedProxies = [IPNetwork("127.0.0.0/8")!]
                $0.domain.limits.loginsPerIP = 2
            },
            fullServer: true
        ) { app, client in
            var statuses: [Int] = []
            for address in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3", "2001:db8:1:3::1"] {
                let reply = try await client.post(
                    "/v1/auth/login",
                    ["email": "nobody@acme.test", "password": "whatever1", "client": "dashboard"],
                    headers: [HTTPField.Name("X-Forwarded-For")!: address]
                )
                statuses.append(reply.status.code)
            }
            #expect(statuses == [401, 401, 429, 401], "\(statuses)")
        }
    }

    @Test func xForwardedForIsBelievedOnlyFromTrustedProxies() async throws {
        for trusted in [true, false] {
            try await TestApp.with({ if trusted { $0.http.trustedProxies = [IPNetwork("127.0.0.0/8")!] } }, fullServer: true) { app, client in
                let seed = try await app.seed()
                _ = try await client.login(seed.owner, client: "phone_app", headers: [HTTPField.Name("X-Forwarded-For")!: "203.0.113.9, 127.0.0.1"])
                let rows = try await app.sql("SELECT ip FROM events WHERE type = 'login.succeeded'")
                let ip = try rows.first?.decode("ip", as: String.self)
                #expect(ip == (trusted ? "203.0.113.9" : "127.0.0.1"))
            }
        }
    }
}

/// HTTPS served directly from TLS_CERT_PATH / TLS_KEY_PATH, with HSTS.
@Suite struct TLSTests {
    @Test func httpsIsServedWithHSTSFromTheConfiguredCertificate() async throws {
        let folder = NSTemporaryDirectory() + "tollgate-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let made = try await TollgateProcess.run(
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                "-keyout", folder + "/key.pem", "-out", folder + "/cert.pem",
            ],
            program: "/usr/bin/openssl"
        ).status
        #expect(made == 0)
        try await TestApp.with(
            {
                $0.http.tlsCertificatePath = folder + "/cert.pem"
                $0.http.tlsKeyPath = folder + "/key.pem"
            },
            fullServer: true
        ) {
            app,
            client in
            let port = try #require(client.client.port)
            let headers = try await TollgateProcess.run(
                ["-sk", "-D", "-", "-o", "/dev/null", "--max-time", "10", "https://127.0.0.1:\(port)/health/live"],
                program: "/usr/bin/curl"
            ).output
            #expect(headers.hasPrefix("HTTP/1.1 200"), "\(headers)")
            #expect(headers.lowercased().contains("strict-transport-security: max-age="))
        }
    }
}
