import Testing
import TollgateCore

/// The event types SPEC §4 promises, which support's queries and dashboards read by name.
@Suite struct EventTypeTests {
    @Test func everyTypeTheSpecNamesIsRecordedUnderThatName() {
        let promised = [
            "login.password_failed", "login.password_succeeded", "login.code_sent", "login.code_resent", "login.code_failed",
            "login.code_expired", "login.succeeded", "login.challenge_closed", "login.rate_limited", "two_factor.activation_started",
            "two_factor.activation_code_resent", "two_factor.activation_verified", "two_factor.enabled", "two_factor.disabled",
            "two_factor.disable_denied", "session.revoked", "email.sent", "email.failed", "password.changed", "password.reset",
            "login.reported",
        ]
        let known = Set(EventType.allCases.map(\.rawValue))
        #expect(promised.filter { !known.contains($0) } == [])
        // The database's check: lower case, one dot.
        #expect(known.allSatisfy { $0.wholeMatch(of: /[a-z_]+\.[a-z_]+/) != nil })
    }
}
