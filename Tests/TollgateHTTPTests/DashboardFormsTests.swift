import Foundation
import Testing
import TollgateCore

/// The dashboard states the password rule the server applies (SPEC §10): its new-password
/// fields carry it in minlength and maxlength, which the page's own check reads
/// (`passwordLengthProblem` in ui.js; the forms are novalidate), and every text that quotes
/// the rule quotes it right.
@Suite struct DashboardFormsTests {
    static let dashboard = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/TollgateHTTP/Dashboard")

    static let page = (try? String(contentsOf: dashboard.appendingPathComponent("index.html"), encoding: .utf8)) ?? ""

    @Test func newPasswordFieldsHoldThePasswordRule() throws {
        let inputs = Self.page.matches(of: /<input[^>]*autocomplete="new-password"[^>]*>/).map { String($0.output) }
        #expect(inputs.count == 3, "the change form's field, the reset form's and its repeat")
        // The repeat only has to equal the first field; every other one states the rule.
        for input in inputs where !input.contains(#"name="again""#) {
            let minimum = input.firstMatch(of: /minlength="(\d+)"/).flatMap { Int($0.output.1) }
            let maximum = input.firstMatch(of: /maxlength="(\d+)"/).flatMap { Int($0.output.1) }
            #expect(minimum == PasswordPolicy.minimumLength && maximum == PasswordPolicy.maximumLength, "\(input)")
        }
    }

    /// Help texts and messages that name the range ("8 to 128 characters"), in the page and
    /// its scripts.
    @Test func everyTextQuotingThePasswordRuleQuotesItRight() throws {
        let files = try FileManager.default.contentsOfDirectory(at: Self.dashboard.appendingPathComponent("assets"), includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "js" }
        var quoted = Self.page.matches(of: /(\d+) to (\d+) characters/).map { ($0.output.1, $0.output.2) }
        for file in files {
            quoted += try String(contentsOf: file, encoding: .utf8).matches(of: /(\d+) to (\d+) characters/).map { ($0.output.1, $0.output.2) }
        }
        #expect(quoted.count >= 3, "the two help texts and the password_rejected message")
        for (low, high) in quoted {
            #expect(Int(low) == PasswordPolicy.minimumLength && Int(high) == PasswordPolicy.maximumLength, "\(low) to \(high)")
        }
    }
}
