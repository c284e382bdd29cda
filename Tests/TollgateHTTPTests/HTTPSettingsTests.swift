import Foundation
import Testing
import TollgateCore

@testable import TollgateHTTP

/// What the HTTP server reads from its environment, where a default depends on the machine.
@Suite struct HTTPSettingsTests {
    /// Argon2id keeps a core busy for each hash: by default there are as many hashing threads
    /// as cores this process may use (`nproc` counts them the same way, by CPU affinity), so
    /// that no two hashes share a core and slow each other down.
    @Test func hashingThreadsDefaultToTheCoresThisProcessMayUse() throws {
        let nproc = Process()
        nproc.executableURL = URL(fileURLWithPath: "/usr/bin/nproc")
        let output = Pipe()
        nproc.standardOutput = output
        try nproc.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        nproc.waitUntilExit()
        let cores = try #require(Int(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        let settings = try HTTPSettings(environment: EnvironmentReader([:]))
        // A CPU quota set by a container's cgroup (v2 or v1) lowers NIO's count below nproc's.
        let quotaV2 = (try? String(contentsOfFile: "/sys/fs/cgroup/cpu.max", encoding: .utf8)) ?? "max"
        let quotaV1 = (try? String(contentsOfFile: "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", encoding: .utf8)) ?? "-1"
        if quotaV2.hasPrefix("max") && quotaV1.trimmingCharacters(in: .whitespacesAndNewlines) == "-1" {
            #expect(settings.maxConcurrentHashes == min(64, cores))
        } else {
            #expect((1...min(64, cores)).contains(settings.maxConcurrentHashes))
        }
    }

    @Test func theHashingThreadsCanBeSetWithinTheirRange() throws {
        #expect(try HTTPSettings(environment: EnvironmentReader(["PASSWORD_HASH_CONCURRENCY": "3"])).maxConcurrentHashes == 3)
        for text in ["0", "65", "two"] {
            let error = try #require(throws: ConfigurationError.self, "\(text)") {
                try HTTPSettings(environment: EnvironmentReader(["PASSWORD_HASH_CONCURRENCY": text]))
            }
            #expect(error.variable == "PASSWORD_HASH_CONCURRENCY")
        }
    }
}
