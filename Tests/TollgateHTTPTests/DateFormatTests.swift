import Foundation
import Testing

@testable import TollgateHTTP

/// Times in answers are RFC 3339 UTC with whole seconds (SPEC §4), as Foundation writes them.
@Suite struct DateFormatTests {
    @Test(arguments: [0.0, 1_764_652_569.0, 1_764_652_569.999, 951_782_400.0, 4_102_444_799.0, -86_400.5])
    func matchesFoundationsInternetDateTime(seconds: Double) {
        let date = Date(timeIntervalSince1970: seconds)
        let reference = ISO8601DateFormatter()
        reference.formatOptions = [.withInternetDateTime]
        reference.timeZone = TimeZone(identifier: "UTC")
        #expect(Timestamp.rfc3339(date) == reference.string(from: date))
    }
}
