import Foundation
import HTTPTypes
import PQ
import TestSupport
import Testing
import TollgateCore

/// Round trips per hot request, counted by the API pool (issue 13): each statement, BEGIN and
/// COMMIT is one message waited for. The budgets are today's counts, so a change that adds a
/// round trip to a hot path fails here and has to say why; lowering them is the goal.
@Suite struct RoundTripTests {
    static func cost(_ app: TestApp, _ request: () async throws -> Reply) async throws -> (Reply, Int) {
        let before = app.api.roundTrips
        let reply = try await request()
        return (reply, app.api.roundTrips - before)
    }

    @Test func hotRequestsStayWithinTheirRoundTripBudgets() async throws {
        try await TestApp.with({ $0.domain.codes.resendCooldown = 0 }) { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let session = try await client.login(seed.owner, client: "phone_app").sessionToken()
            _ = try await client.post("/v1/auth/login", ["email": "warm@acme.test", "password": "x", "client": "dashboard"])

            let (me, meTrips) = try await Self.cost(app) { try await client.get("/v1/me", token: session) }
            #expect(me.status == .ok)
            let (login, loginTrips) = try await Self.cost(app) { try await client.login(seed.admin, client: "dashboard") }
            let token = try login.challengeToken()
            let (resend, resendTrips) = try await Self.cost(app) { try await client.post("/v1/auth/login/resend", ["challenge_token": token]) }
            #expect(resend.status == .accepted)
            let (poll, pollTrips) = try await Self.cost(app) { try await client.post("/v1/auth/login/challenge", ["challenge_token": token]) }
            #expect(poll.status == .ok)
            let (wrong, wrongTrips) = try await Self.cost(app) {
                try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": "000000"])
            }
            #expect(wrong.status == .unauthorized)
            let code = try await app.latestCode(for: seed.admin.email)
            let (right, rightTrips) = try await Self.cost(app) {
                try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": code])
            }
            #expect(right.status == .ok)
            let (burned, burnedTrips) = try await Self.cost(app) {
                try await client.post("/v1/auth/login/verify", ["challenge_token": token, "code": code])
            }
            #expect(burned.status == .gone)
            let (failed, failedTrips) = try await Self.cost(app) {
                try await client.post("/v1/auth/login", ["email": seed.member.email, "password": "wrong", "client": "dashboard"])
            }
            #expect(failed.status == .unauthorized)
            print(
                "round trips: me \(meTrips), login with a code \(loginTrips), resend \(resendTrips), poll \(pollTrips), wrong code \(wrongTrips), right code \(rightTrips), burned \(burnedTrips), wrong password \(failedTrips)"
            )
            #expect(meTrips <= 1)
            #expect(pollTrips <= 2)
            #expect(burnedTrips <= 2)
            #expect(wrongTrips <= 2)
            #expect(rightTrips <= 2)
            #expect(failedTrips <= 2)
            #expect(loginTrips <= 3)
            #expect(resendTrips <= 2)
        }
    }

    /// The second factors of SPEC §13 and §14 cost the login's and the verify's budgets, no more:
    /// the user's methods and a remembered browser are read in the login's statement that
    /// locks the account, the app's secrets in the verify's first statement.
    @Test func appCodesChoosingEmailAndRememberedBrowsersAddNoRoundTrip() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            try await LoginMethodTests.setPolicy(app, seed, methods: "any", ask: "per_browser", days: 7)
            let secret = try await LoginMethodTests.addApp(app, seed.member, companyID: seed.companyID)
            _ = try await client.post("/v1/auth/login", ["email": "warm@acme.test", "password": "x", "client": "dashboard"])

            let (login, loginTrips) = try await Self.cost(app) { try await client.login(seed.member, client: "dashboard") }
            let token = try login.challengeToken()
            let (app1, appTrips) = try await Self.cost(app) {
                try await LoginMethodTests.verify(client, token, LoginMethodTests.appCode(secret), method: "totp", remember: true)
            }
            #expect(app1.status == .ok)
            let browser = try app1.string("remembered_browser", "token")
            let body: [String: any Sendable] = [
                "email": seed.member.email, "password": seed.member.password, "client": "dashboard", "remembered_browser": browser,
            ]
            let (remembered, rememberedTrips) = try await Self.cost(app) { try await client.post("/v1/auth/login", body) }
            #expect(remembered.status == .ok)
            let second = try await client.login(seed.member, client: "dashboard").challengeToken()
            let (email, emailTrips) = try await Self.cost(app) { try await client.post("/v1/auth/login/email", ["challenge_token": second]) }
            #expect(email.status == .accepted)
            print(
                "round trips: login offering the app \(loginTrips), app code \(appTrips), remembered browser \(rememberedTrips), email picked \(emailTrips)"
            )
            #expect(loginTrips <= 3)
            #expect(appTrips <= 2)
            #expect(rememberedTrips <= 3)
            #expect(emailTrips <= 2)
        }
    }

    /// The activation's requests on a challenge take the same two round trips as the login's:
    /// its delivery state is joined in the first, nothing is read again.
    @Test func activationRequestsStayWithinTwoRoundTrips() async throws {
        try await TestApp.with({ $0.domain.codes.resendCooldown = 0 }) { app, client in
            let seed = try await app.seed()
            let session = try await client.login(seed.owner, client: "dashboard").sessionToken()
            let started = try await client.post("/v1/company/security/two-factor/activation", token: session)
            let id = try started.string("activation", "id")
            let path = "/v1/company/security/two-factor/activation/\(id)"
            let (resend, resendTrips) = try await Self.cost(app) { try await client.post("\(path)/resend", token: session) }
            #expect(resend.status == .accepted)
            let (poll, pollTrips) = try await Self.cost(app) { try await client.get(path, token: session) }
            #expect(poll.status == .ok)
            let (wrong, wrongTrips) = try await Self.cost(app) { try await client.post("\(path)/verify", ["code": "000000"], token: session) }
            #expect(wrong.status == .unauthorized)
            let code = try await app.latestCode(for: seed.owner.email)
            let (right, rightTrips) = try await Self.cost(app) { try await client.post("\(path)/verify", ["code": code], token: session) }
            #expect(right.status == .ok && (try? right.string("activation", "status")) == "verified")
            print("activation round trips: resend \(resendTrips), poll \(pollTrips), wrong code \(wrongTrips), right code \(rightTrips)")
            // Each also authenticates its session first: one round trip of its own.
            #expect(resendTrips <= 3)
            #expect(pollTrips <= 3)
            #expect(wrongTrips <= 3)
            #expect(rightTrips <= 3)
        }
    }
}
