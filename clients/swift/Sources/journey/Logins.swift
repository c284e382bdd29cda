import Foundation
import OpenAPIRuntime

/// Logging in without and with 2FA, the event log, passwords, "this wasn't me", turning 2FA off.
extension Journey {
    func logIn(_ password: String) async throws -> Operations.Login.Output {
        try await anonymous.login(body: .json(.init(email: ownerEmail, password: password, client: .dashboard)))
    }

    func wrongCode(than code: String) -> String { code == "000000" ? "111111" : "000000" }

    func logins() async throws {
        var password = Self.firstPassword
        var owner = client(try await logIn(password).ok.body.json.session.token)
        check(try await owner.me().ok.body.json.user.role.value1 == .owner, "me")
        check(try await owner.getCompanySecurity().ok.body.json.twoFactor.enabled == false, "2FA is off")

        // Turning 2FA on through an activation code.
        let activation = try await owner.startActivation().accepted.body.json.activation
        let (activationCode, _) = try await mail.code(for: ownerEmail)
        check(try await owner.viewActivation(path: .init(id: activation.id)).ok.body.json.activation.id == activation.id, "activation polled")
        let refused = try await owner.verifyActivationCode(path: .init(id: activation.id), body: .json(.init(code: wrongCode(than: activationCode))))
        check(try refused.unauthorized.body.json.error.attemptsRemaining == 4, "wrong activation code")
        let verified = try await owner.verifyActivationCode(path: .init(id: activation.id), body: .json(.init(code: activationCode)))
        check(try verified.ok.body.json.activation.status.value1 == .verified, "activation verified")
        let enabled = try await owner.enableTwoFactor(body: .json(.init(activationId: activation.id, confirm: true))).ok.body.json
        check(enabled.twoFactor.enabled, "2FA on")
        _ = try await owner.logout().noContent
        check(errorCode(try await owner.me().unauthorized.body.json) == "unauthenticated", "the session ended")

        owner = try await logInWithCode(password, detours: true)
        check(try await owner.me().ok.body.json.session.twoFactorVerified, "a 2FA-verified session")
        try await eventLog(owner)

        // Password change, forgot and reset.
        let wrongCurrent = try await owner.changePassword(body: .json(.init(currentPassword: "not-it-at-all", newPassword: "journey-owner-pass-2")))
        check(errorCode(try wrongCurrent.forbidden.body.json) == "reauthentication_required", "a wrong current password")
        _ = try await owner.changePassword(body: .json(.init(currentPassword: password, newPassword: "journey-owner-pass-2"))).noContent
        _ = try await anonymous.forgotPassword(body: .json(.init(email: ownerEmail))).accepted
        let resetToken = linkToken(try await mail.next(to: ownerEmail, subject: "Reset your"), "/reset")
        password = "journey-owner-pass-3"
        _ = try await anonymous.resetPassword(body: .json(.init(token: resetToken, newPassword: password))).noContent
        let reused = try await anonymous.resetPassword(body: .json(.init(token: resetToken, newPassword: password)))
        check(errorCode(try reused.gone.body.json) == "token_invalid", "a used reset link")

        // "This wasn't me": the login it reports is closed; the link works once.
        let reported = try await logIn(password).accepted.body.json.challenge.token
        let notMe = linkToken(try await mail.code(for: ownerEmail).text, "/not-me")
        _ = try await anonymous.reportNotMe(body: .json(.init(token: notMe))).noContent
        check(errorCode(try await anonymous.reportNotMe(body: .json(.init(token: notMe))).gone.body.json) == "token_invalid", "a used not-me link")
        let closed = try await anonymous.viewLoginChallenge(body: .json(.init(challengeToken: reported))).gone.body.json
        check(errorCode(closed) == "challenge_closed", "the reported login is closed")

        // Turning 2FA off takes the owner's password.
        owner = try await logInWithCode(password, detours: false)
        let denied = try await owner.disableTwoFactor(body: .json(.init(confirm: true, password: "not-it-at-all"))).forbidden.body.json
        check(errorCode(denied) == "reauthentication_required", "disable needs the password")
        check(
            try await owner.disableTwoFactor(body: .json(.init(confirm: true, password: password))).ok.body.json.twoFactor.enabled == false,
            "2FA off"
        )
    }

    /// A login with a code: the poll, and with `detours` a wrong code, a resend too soon, a resend.
    func logInWithCode(_ password: String, detours: Bool) async throws -> Client {
        let token = try await logIn(password).accepted.body.json.challenge.token
        var (code, _) = try await mail.code(for: ownerEmail)
        let polled = try await anonymous.viewLoginChallenge(body: .json(.init(challengeToken: token))).ok.body.json
        check(polled.challenge.token == token && polled.challenge.delivery.value1 != nil, "challenge polled")
        if detours {
            let wrong = try await anonymous.verifyLoginCode(body: .json(.init(challengeToken: token, code: wrongCode(than: code))))
            let refusal = try wrong.unauthorized.body.json
            check(errorCode(refusal) == "invalid_code" && refusal.error.attemptsRemaining == 4, "wrong code")
            let soon = try await anonymous.resendLoginCode(body: .json(.init(challengeToken: token))).tooManyRequests
            check(errorCode(try soon.body.json) == "resend_too_soon", "resend too soon")
            try await Task.sleep(for: .seconds(soon.headers.retryAfter))  // the documented wait, not a synchronisation
            let resent = try await anonymous.resendLoginCode(body: .json(.init(challengeToken: token))).accepted.body.json
            check(resent.challenge.resendsRemaining == 2, "resent")
            code = try await mail.code(for: ownerEmail).code
        }
        let spaced = "\(code.prefix(3)) \(code.suffix(3))"
        let session = try await anonymous.verifyLoginCode(body: .json(.init(challengeToken: token, code: spaced))).ok.body.json.session
        return client(session.token)
    }

    /// The event log, five at a time, with a numeric detail.
    func eventLog(_ owner: Client) async throws {
        var events: [Components.Schemas.Event] = []
        var before: Int64?
        repeat {
            let page = try await owner.listSecurityEvents(query: .init(limit: 5, before: before)).ok.body.json
            events += page.events
            before = page.nextBefore
        } while before != nil
        let types = Set(events.map(\._type))
        let expected: Set = ["login.code_failed", "login.rate_limited", "two_factor.enabled", "session.revoked"]
        check(events.count > 10 && expected.isSubset(of: types), "events: \(types.sorted())")
        let failed = events.first { $0._type == "login.code_failed" }
        check(failed?.detail.additionalProperties["attempts_remaining"] == .case2(4), "a numeric detail")
    }
}
