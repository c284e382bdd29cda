import Foundation
import Testing
import TollgateCore

@testable import TollgateHTTP

/// What the HTTP server reads from its environment, where a default depends on the machine.
@Suite struct HTTPSettingsTests {
    /// Argon2id keeps a core busy for each hash: by default there are as many hashing threads
    /// as cores this process may use, so that no two hashes share a core, and at most 8, so that
    /// hashing memory stays at 8 × 19 MiB on a large machine.
    @Test func hashingThreadsDefaultToTheCoresThisProcessMayUseAtMostEight() throws {
        // nproc counts the CPUs of the affinity mask through sched_getaffinity, a source apart
        // from the settings' own reading of /proc; with no environment, since GNU nproc also
        // obeys OMP_NUM_THREADS.
        let nproc = Process()
        nproc.executableURL = URL(fileURLWithPath: "/usr/bin/nproc")
        nproc.environment = [:]
        let output = Pipe()
        nproc.standardOutput = output
        try nproc.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        nproc.waitUntilExit()
        let cores = try #require(Int(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        let expected = min(HTTPSettings.defaultMaxConcurrentHashes, cores)
        let settings = try HTTPSettings(environment: EnvironmentReader([:]))
        // A CPU quota set by a container's cgroup (v2 or v1) can lower the count further.
        let quotaV2 = (try? String(contentsOfFile: "/sys/fs/cgroup/cpu.max", encoding: .utf8)) ?? "max"
        let quotaV1 = (try? String(contentsOfFile: "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", encoding: .utf8)) ?? "-1"
        if quotaV2.hasPrefix("max") && quotaV1.trimmingCharacters(in: .whitespacesAndNewlines) == "-1" {
            #expect(settings.maxConcurrentHashes == expected)
        } else {
            #expect((1...expected).contains(settings.maxConcurrentHashes))
        }
    }

    /// The affinity mask as Linux lists it in /proc/self/status (`Cpus_allowed_list`).
    @Test(
        arguments: [
            ("\t0-1", 2), ("0", 1), ("0-3,8,10-11", 7), ("5-5", 1),
            ("", nil), ("a", nil), ("3-1", nil), ("1-", nil), ("1-2-3", nil), (",", nil),
        ] as [(String, Int?)]
    )
    func theAffinityListIsCounted(list: String, count: Int?) {
        #expect(HTTPSettings.cpuCount(inList: list) == count)
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
