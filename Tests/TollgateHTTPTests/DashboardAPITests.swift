import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PQ
import TestSupport
import Testing
import TollgateCore
import TollgateHTTP

/// What the reference dashboard needs from the API (SPEC §4 additions, issue 14).
@Suite struct DashboardAPITests {
    @Test func theSecuritySettingCountsTheUsersItAppliesTo() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let session = try await client.login(seed.owner, client: "dashboard").sessionToken()
            let setting = try await client.get("/v1/company/security", token: session)
            #expect(setting.status == .ok)
            // Owner, admin and the member with dashboard access; not the phone-app-only member.
            #expect(setting.int("two_factor", "dashboard_users") == 3)
            #expect(setting.value("two_factor", "enabled") as? Bool == false)
        }
    }

    @Test func anActivationCanBeReadWithItsDeliveryState() async throws {
        try await TestApp.with { app, client in
            let seed = try await app.seed()
            let session = try await client.login(seed.owner, client: "dashboard").sessionToken()
            let started = try await client.post("/v1/company/security/two-factor/activation", token: session)
            #expect(started.value("activation", "delivery") as? String == "queued")
            let id = try started.string("activation", "id")
            let read = try await client.get("/v1/company/security/two-factor/activation/\(id)", token: session)
            #expect(read.status == .ok)
            #expect(read.value("activation", "status") as? String == "code_sent")
            #expect(read.value("activation", "delivery") as? String == "queued")

            // The worker gave up because the code expired first: the screen can say so.
            try await app.sql("UPDATE email_outbox SET status = 'expired'")
            let expired = try await client.get("/v1/company/security/two-factor/activation/\(id)", token: session)
            #expect(expired.value("activation", "delivery") as? String == "expired")

            // Another user's, an unknown and a malformed id are all the same 404.
            let adminSession = try await client.login(seed.admin, client: "dashboard").sessionToken()
            for (path, token) in [
                ("/v1/company/security/two-factor/activation/\(id)", adminSession),
                ("/v1/company/security/two-factor/activation/\(UUID().uuidString)", session),
                ("/v1/company/security/two-factor/activation/not-a-uuid", session),
            ] {
                let missing = try await client.get(path, token: token)
                #expect(missing.status == .notFound, "\(path)")
                #expect(missing.errorCode == "challenge_not_found", "\(path)")
            }
            // Enable names an unknown activation with the same code as the other activation routes.
            let unknown = try await client.post(
                "/v1/company/security/two-factor/enable",
                ["activation_id": UUID().uuidString, "confirm": true],
                token: session
            )
            #expect(unknown.status == .notFound)
            #expect(unknown.errorCode == "challenge_not_found")
            let memberSession = try await client.login(seed.member, client: "dashboard").sessionToken()
            #expect(try await client.get("/v1/company/security/two-factor/activation/\(id)", token: memberSession).status == .forbidden)
        }
    }

    /// A dashboard on another origin must read Retry-After to count down "Send a new code".
    @Test func corsExposesRetryAfterToAllowedOriginsOnly() async throws {
        try await TestApp.with({ $0.http.corsAllowedOrigins = ["https://dash.acme.test"] }) { app, client in
            let seed = try await app.seed()
            _ = try await app.enableTwoFactor(seed, client: client)
            let origin: HTTPFields = [.origin: "https://dash.acme.test"]
            let token = try await client.login(seed.admin, client: "dashboard", headers: origin).challengeToken()
            let tooSoon = try await client.post("/v1/auth/login/resend", ["challenge_token": token], headers: origin)
            #expect(tooSoon.status == .tooManyRequests)
            #expect(tooSoon.headers[.retryAfter] != nil)
            #expect(tooSoon.headers[.accessControlAllowOrigin] == "https://dash.acme.test")
            #expect(tooSoon.headers[.accessControlExposeHeaders] == "Retry-After")
            let stranger = try await client.post("/v1/auth/login/resend", ["challenge_token": token], headers: [.origin: "https://evil.test"])
            #expect(stranger.headers[.accessControlAllowOrigin] == nil && stranger.headers[.accessControlExposeHeaders] == nil)
        }
    }

    /// SPEC §12: the page and its assets ship with the binary, under a strict policy.
    @Test func theDashboardIsServedWithAStrictContentSecurityPolicy() async throws {
        try await TestApp.with { app, client in
            for path in ["/", "/reset", "/not-me"] {
                let page = try await client.get(path)
                #expect(page.status == .ok, "\(path)")
                #expect(page.headers[.contentType] == "text/html; charset=utf-8")
                let policy = try #require(page.headers[.contentSecurityPolicy])
                #expect(policy.contains("script-src 'self';") && policy.contains("style-src 'self';") && !policy.contains("unsafe"))
                #expect(policy.contains("frame-ancestors 'none'"))
                let html = String(decoding: page.body, as: UTF8.self)
                #expect(html.contains(#"<script type="module" src="/assets/app.js"></script>"#))
                // No inline script or style anywhere: the policy would block them.
                #expect(html.components(separatedBy: "<script").count - 1 == html.components(separatedBy: "<script type=\"module\" src=").count - 1)
                #expect(!html.contains("<style") && !html.contains(" style=") && !html.contains(" onclick="))
            }
            let script = try await client.get("/assets/app.js")
            #expect(script.status == .ok)
            #expect(script.headers[.contentType] == "text/javascript; charset=utf-8")
            #expect(try await client.get("/assets/app.css").headers[.contentType] == "text/css; charset=utf-8")
            for hostile in ["/assets/..%2F..%2FPackage.swift", "/assets/.env", "/assets/missing.js", "/assets/index.html"] {
                let refused = try await client.get(hostile)
                #expect(refused.status == .notFound, "\(hostile)")
                #expect(refused.errorCode == "not_found", "\(hostile)")
            }
        }
    }

    /// Served from another origin, the page names the API's origin and may call only it.
    @Test func aDashboardOnAnotherOriginKnowsWhereTheAPIIs() async throws {
        try await TestApp.with({ $0.http.dashboardAPIURL = "https://api.acme.test:8443" }) { app, client in
            let page = try await client.get("/")
            #expect(String(decoding: page.body, as: UTF8.self).contains(#"<meta name="tollgate-api" content="https://api.acme.test:8443">"#))
            #expect(page.headers[.contentSecurityPolicy]?.contains("connect-src 'self' https://api.acme.test:8443;") == true)
        }
        for bad in ["api.acme.test", "https://api.acme.test/v1/", "https://x\"onload=alert(1)"] {
            #expect(throws: ConfigurationError.self, "\(bad)") {
                try HTTPSettings(environment: EnvironmentReader(["DASHBOARD_API_URL": bad]))
            }
        }
    }

    @Test func aWildcardOriginIsRefusedAtStart() throws {
        let error = try #require(throws: ConfigurationError.self) {
            try HTTPSettings(environment: EnvironmentReader(["CORS_ALLOWED_ORIGINS": "*"]))
        }
        #expect(error.variable == "CORS_ALLOWED_ORIGINS")
    }
}
