import CSodium
import Foundation
import NIOConcurrencyHelpers
import NIOPosix
import PQ

/// Why a password is refused when it is set (no composition rules, SPEC §1 and NIST 800-63B).
public enum PasswordPolicy {
    public static let minimumLength = 8
    public static let maximumLength = 128

    /// The shipped list of common passwords (`CommonPasswords/common-passwords.txt`, 30,000
    /// entries, lower case; its source and licence are in `SOURCE.md` beside it), read once.
    /// Missing, it is empty and the length rule still holds; `loadedCommonPasswords` says so.
    static let commonPasswords: Set<String> = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let file = URL(fileURLWithPath: executable).deletingLastPathComponent()
            .appendingPathComponent("tollgate_TollgateCore.resources/CommonPasswords/common-passwords.txt")
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return [] }
        return Set(text.split(separator: "\n").map(String.init))
    }()

    /// How many common passwords the rule knows (0 when the list was not shipped).
    public static var loadedCommonPasswords: Int { commonPasswords.count }

    /// nil when acceptable, otherwise what is wrong with it (SPEC §10: the same rule for
    /// provisioning, change and reset).
    public static func problem(with password: String) -> String? {
        let count = password.count
        if count < minimumLength { return "a password needs at least \(minimumLength) characters" }
        if count > maximumLength { return "a password may have at most \(maximumLength) characters" }
        if commonPasswords.contains(password.lowercased()) { return "that password is one of the most common ones; choose another" }
        return nil
    }

    /// Throws 400 `password_rejected` naming `field` when the password breaks the rule.
    public static func check(_ password: String, field: String) throws {
        if let problem = problem(with: password) {
            throw DomainError(.passwordRejected, "The new password is not allowed: \(problem).", field: field)
        }
    }
}

/// Argon2id hashing through libsodium (m = 19 MiB, t = 2, p = 1), on a thread pool of its own
/// with a bounded number in flight: callers beyond it wait briefly, then are refused with
/// ``PasswordHasherBusy`` so a flood of logins cannot take unbounded memory.
public final class PasswordHasher: Sendable {
    static let opsLimit: UInt64 = 2
    static let memLimit: Int = 19 * 1024 * 1024

    let threadPool: NIOThreadPool
    let maxWaiting: Int
    let waitLimit: Duration
    private let state = NIOLockedValueBox(State())
    /// A hash of a random password, verified against when the email is unknown, so both
    /// answers take the same time.
    let dummyHash: String

    private struct Waiter {
        let id: Int
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var running = 0
        var waiting: [Waiter] = []
        var nextID = 0
    }

    let concurrency: Int

    public init(concurrency: Int, maxWaiting: Int = 64, waitLimit: Duration = .seconds(2)) {
        precondition(sodium_init() >= 0, "libsodium failed to initialise")
        self.concurrency = max(1, concurrency)
        self.maxWaiting = maxWaiting
        self.waitLimit = waitLimit
        self.threadPool = NIOThreadPool(numberOfThreads: self.concurrency)
        threadPool.start()
        var random = [UInt8](repeating: 0, count: 32)
        randombytes_buf(&random, 32)
        dummyHash = (try? Self.hashNow(lowercaseHex(random))) ?? ""
    }

    /// Hashes a new password.
    public func hash(_ password: String) async throws -> String {
        try await withSlot { try Self.hashNow(password) }
    }

    /// Verifies against `hash`, or against the dummy hash when there is no usable hash: an
    /// unknown account (nil), or a stored value that is not an Argon2id hash (an invited
    /// account's placeholder, `!invited`), which libsodium would refuse at once. Those always
    /// fail but cost one Argon2id verification, as a wrong password does (SPEC §4).
    public func verify(_ password: String, against hash: String?) async throws -> Bool {
        let usable = hash.flatMap { Self.isArgon2id($0) ? $0 : nil }
        let target = usable ?? dummyHash
        let matches = try await withSlot { Self.verifyNow(password, against: target) }
        return usable != nil && matches
    }

    /// True for a hash libsodium's Argon2id verification will actually compute.
    static func isArgon2id(_ hash: String) -> Bool {
        hash.hasPrefix("$argon2id$")
    }

    static func hashNow(_ password: String) throws -> String {
        var output = [CChar](repeating: 0, count: Int(crypto_pwhash_STRBYTES))
        // A trailing NUL keeps the pointer valid for an empty password; the length excludes it.
        let bytes = Array(password.utf8) + [0]
        let status = bytes.withUnsafeBufferPointer { pointer in
            pointer.withMemoryRebound(to: CChar.self) { chars in
                crypto_pwhash_str_alg(
                    &output,
                    chars.baseAddress!,
                    UInt64(bytes.count - 1),
                    opsLimit,
                    memLimit,
                    crypto_pwhash_ALG_ARGON2ID13
                )
            }
        }
        guard status == 0 else { throw PasswordHasherBusy() }
        let length = output.firstIndex(of: 0) ?? output.count
        return String(decoding: output[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func verifyNow(_ password: String, against hash: String) -> Bool {
        let bytes = Array(password.utf8) + [0]
        return bytes.withUnsafeBufferPointer { pointer in
            pointer.withMemoryRebound(to: CChar.self) { chars in
                crypto_pwhash_str_verify(hash, chars.baseAddress!, UInt64(bytes.count - 1)) == 0
            }
        }
    }

    private func withSlot<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await threadPool.runIfActive {
            Self.yieldToOtherThreads()
            return try work()
        }
    }

    /// Hashing runs at a lower priority (nice 10) than the rest of the process: it still takes
    /// every idle cycle, but the event loops that answer requests (health checks, codes,
    /// sessions) are not left waiting behind a queue of Argon2id hashes. Per thread on Linux;
    /// a syscall of about a microsecond before work of tens of milliseconds.
    static func yieldToOtherThreads() {
        #if os(Linux)
        // Who 0 is the calling thread: Linux keeps a nice value per thread.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
        #endif
    }

    private func acquire() async throws {
        enum Decision { case run, wait(Int), refuse }
        let decision = state.withLockedValue { state -> Decision in
            if state.running < concurrency {
                state.running += 1
                return .run
            }
            guard state.waiting.count < maxWaiting else { return .refuse }
            state.nextID += 1
            return .wait(state.nextID)
        }
        switch decision {
        case .run: return
        case .refuse: throw PasswordHasherBusy()
        case .wait(let id):
            // Wait for a slot handed over by `release`, but not longer than `waitLimit`.
            let limit = waitLimit
            let timer = Task {
                try await Task.sleep(for: limit)
                self.withdraw(id)
            }
            defer { timer.cancel() }
            let granted = await withCheckedContinuation { continuation in
                // A slot may have come free since the decision above.
                let freed = state.withLockedValue { state -> Bool in
                    if state.running < concurrency {
                        state.running += 1
                        return true
                    }
                    state.waiting.append(Waiter(id: id, continuation: continuation))
                    return false
                }
                if freed { continuation.resume(returning: true) }
            }
            if !granted { throw PasswordHasherBusy() }
        }
    }

    private func withdraw(_ id: Int) {
        let waiter = state.withLockedValue { state -> Waiter? in
            guard let index = state.waiting.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiting.remove(at: index)
        }
        waiter?.continuation.resume(returning: false)
    }

    /// Hands the slot to the longest waiter, or frees it.
    private func release() {
        let next = state.withLockedValue { state -> Waiter? in
            if state.waiting.isEmpty {
                state.running -= 1
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.continuation.resume(returning: true)
    }
}

/// Too many password hashes in flight; the caller should answer 503 with `Retry-After`.
public struct PasswordHasherBusy: Error, Sendable {}
