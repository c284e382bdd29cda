import Foundation
import Testing
import TollgateCore

/// Argon2id hashing: correct, and bounded under load (issue: accounts).
@Suite struct PasswordHasherTests {
    @Test func aHashVerifiesItsPasswordOnlyAndUsesArgon2id() async throws {
        let hasher = PasswordHasher(concurrency: 1)
        let hash = try await hasher.hash("correct horse battery")
        #expect(hash.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"))
        #expect(try await hasher.verify("correct horse battery", against: hash))
        #expect(try await !hasher.verify("correct horse batterY", against: hash))
        // An unknown account verifies against the dummy hash and always fails.
        #expect(try await !hasher.verify("correct horse battery", against: nil))
    }

    @Test func excessHashingIsRefusedRatherThanQueuedWithoutBound() async throws {
        // One at a time, nobody may wait: of several at once, at least one is refused at once.
        let hasher = PasswordHasher(concurrency: 1, maxWaiting: 0, waitLimit: .milliseconds(1))
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<6 {
                group.addTask {
                    do {
                        _ = try await hasher.hash("password-\(index)")
                        return true
                    } catch is PasswordHasherBusy {
                        return false  // refused: the outcome under test; any other error fails the test
                    } catch {
                        Issue.record("unexpected error: \(error)")
                        return true
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.contains(true))
        #expect(outcomes.contains(false), "every request was hashed although none could wait")
    }

    @Test func waitersGetASlotWhenOneFreesUp() async throws {
        let hasher = PasswordHasher(concurrency: 1, maxWaiting: 8, waitLimit: .seconds(30))
        let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<4 { group.addTask { try await hasher.hash("password-\(index)") } }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(outcomes.count == 4)
    }
}
