import Foundation
import Testing
import TollgateCore

/// The dashboard's new-password fields state the rule the server applies (SPEC §10), so a
/// browser refuses what the API would and the help text tells the truth.
@Suite struct DashboardFormsTests {
    static let page: String = {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = repository.appendingPathComponent("Sources/TollgateHTTP/Dashboard/index.html")
        return (try? String(contentsOf: file, encoding: .utf8)) ?? ""
    }()

    @Test func newPasswordFieldsHoldThePasswordRule() throws {
        let (minimum, maximum) = (PasswordPolicy.minimumLength, PasswordPolicy.maximumLength)
        // Every new password typed once is bounded; the "again" field only has to match it.
        let bounded = Self.page.matches(of: /<input[^>]*autocomplete="new-password"[^>]*minlength="(\d+)" maxlength="(\d+)"[^>]*>/)
        #expect(bounded.count == 2, "the change and reset forms")
        for input in bounded { #expect(Int(input.output.1) == minimum && Int(input.output.2) == maximum, "\(input.output.0)") }
        let help = Self.page.matches(of: /class="help">(\d+) to (\d+) characters/)
        #expect(help.count == bounded.count)
        for text in help { #expect(Int(text.output.1) == minimum && Int(text.output.2) == maximum, "\(text.output.0)") }
    }
}
