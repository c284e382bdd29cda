import Foundation
import NIOConcurrencyHelpers
import PQ
import TollgateCore

/// The origins CORS admits (SPEC §13): `CORS_ALLOWED_ORIGINS`, plus `PUBLIC_URL`'s, plus the
/// origin of every company's `dashboard_url`, read from the database (`dashboard_urls()`,
/// migration 0022) at most once every `refresh` seconds, so a company added through the
/// provisioning API is served without a redeploy and a preflight costs no query in between.
/// When the database cannot be read the last known list stays in use.
final class AllowedOrigins: Sendable {
    private let fixed: Set<String>
    private let pool: PQPool?
    private let refresh: TimeInterval
    private let cached = NIOLockedValueBox<(origins: Set<String>, readAt: Date?)>(([], nil))

    init(fixed: [String], publicURL: String?, pool: PQPool?, refresh: TimeInterval = 30) {
        self.fixed = Set(fixed + [publicURL.flatMap(WebOrigin.init)?.serialized].compactMap { $0 })
        self.pool = pool
        self.refresh = refresh
    }

    func allows(_ origin: String) async -> Bool {
        if fixed.contains(origin) { return true }
        return await dashboards().contains(origin)
    }

    private func dashboards() async -> Set<String> {
        let (origins, readAt) = cached.withLockedValue { $0 }
        guard let pool, readAt.map({ Date().timeIntervalSince($0) >= refresh }) ?? true else { return origins }
        // Marked read first: requests meanwhile use the list they have instead of all reading.
        cached.withLockedValue { $0.readAt = Date() }
        do {
            let rows = try await pool.read(("SELECT url FROM dashboard_urls() AS url" as PQQuery).named("cors.dashboard_urls"))
            let fresh = Set(try rows.compactMap { WebOrigin(try $0.decode("url", as: String.self))?.serialized })
            cached.withLockedValue { $0.origins = fresh }
            return fresh
        } catch {
            return origins
        }
    }
}
