public import Foundation
import Logging
import PQ

/// Passwords people can run (SPEC §10): change with the current password, "forgot password"
/// with single-use reset links, and "this wasn't me" reports of a login code.
///
/// Reset and report tokens are shaped like bearer tokens (they name their company, so the
/// tenant is set before the lookup) and are kept only as HMACs under the server secret, like
/// challenge tokens. Each use is one conditional UPDATE, so a token works once however many
/// requests race with it.
public struct PasswordService: DomainService, Sendable {
    let dependencies: DomainDependencies
    let login: LoginService

    public init(_ dependencies: DomainDependencies, login: LoginService) {
        self.dependencies = dependencies
        self.login = login
    }

    // MARK: Change

    /// Changes the signed-in user's password after checking the current one. Every other
    /// session of the user ends; the user gets a notice.
    public func change(_ principal: Principal, currentPassword: String, newPassword: String, clientInfo: ClientInfo) async throws {
        let user = principal.user
        if principal.session.client == .dashboard, principal.company.twoFactorEnabled, !principal.session.twoFactorVerified {
            throw DomainError.forbidden
        }
        try PasswordPolicy.check(newPassword, field: "new_password")
        try await login.reauthenticate(user, password: currentPassword)
        let hash = try await hashOrBusy(newPassword)
        let sessionID = principal.session.id
        try await pool.withTenant(user.companyID) { tx in
            try UserStore.setPassword(hash, of: user.id, in: tx)
            let revoked = try SessionStore.revokeAll(of: user.id, keeping: sessionID, reason: "password_changed", in: tx)
            // Remembered browsers too (SPEC §14), this one's included: the next login asks again.
            let forgotten = try RememberedBrowsers.forgetAll(of: user.id, reason: "password_changed", in: tx)
            // Whoever held a challenge or a reset link made before the change holds nothing now.
            try ChallengeEvent.closeAll(
                userID: user.id,
                companyID: user.companyID,
                email: user.email,
                reason: .passwordChanged,
                clientInfo: clientInfo,
                in: tx
            )
            try Self.voidResetLinks(of: user.id, in: tx)
            try Self.recordNewPassword(
                of: user,
                event: .passwordChanged,
                reset: false,
                sessionsRevoked: revoked,
                browsersForgotten: forgotten,
                clientInfo: clientInfo,
                in: tx
            )
        }
    }

    // MARK: Forgot and reset

    /// The answer of "forgot password" is the same for every address, in body and in time:
    /// the request only counts against the caller's IP (the same statement for every address),
    /// and the lookup, the token and the email happen after the answer, off its path.
    public func requestReset(email text: String, clientInfo: ClientInfo) async throws {
        let limits = settings.limits
        let ipKey = "login_ip:\(IPNetwork.rateLimitSubject(clientInfo.ip))"
        if let refusal = try await pool.withTransaction({ tx in
            try RateLimiter.hit(ipKey, limit: limits.loginsPerIP, window: limits.loginsPerIPWindow, in: tx)
        }) {
            throw DomainError.rateLimited(retryAfter: refusal.retryAfter)
        }
        guard let email = EmailAddress(text) else { return }
        let service = self
        Task {
            do {
                try await service.sendReset(to: email, clientInfo: clientInfo)
            } catch {
                service.logger.warning("password.reset_request_failed", metadata: ["error": "\(type(of: error))"])
            }
        }
    }

    /// Mails a reset link to a known, active account (at most 3 an hour per account); does
    /// nothing for any other address.
    func sendReset(to email: EmailAddress, clientInfo: ClientInfo) async throws {
        guard let (companyID, userID) = try await pool.withTransaction({ tx in try LoginDirectory.find(email, in: tx) }) else { return }
        let (mac, settings) = (self.mac, self.settings)
        try await pool.withTenant(companyID) { tx in
            guard let user = try UserStore.find(userID, activeOnly: true, in: tx) else { return }
            if let refusal = try RateLimiter.hit(
                "password_resets:\(user.id)",
                limit: 3,
                window: 3600,
                in: tx
            ) {
                if refusal.isFirstInWindow {
                    Event(
                        companyID: companyID,
                        type: .passwordRateLimited,
                        userID: user.id,
                        email: user.email,
                        client: clientInfo,
                        detail: ["limit": .string("resets_per_account"), "retry_after": .int(refusal.retryAfter)]
                    ).record(in: tx)
                }
                return
            }
            try Self.issueResetLink(.reset, for: user, clientInfo: clientInfo, mac: mac, settings: settings, in: tx)
            Event(companyID: companyID, type: .passwordResetRequested, userID: user.id, email: user.email, client: clientInfo)
                .record(in: tx)
        }
    }

    public enum LinkPurpose: String, Sendable {
        case reset
        case invitation
    }

    /// Stores a new single-use token for `user` and queues the email with its link, in the
    /// caller's transaction (also used by provisioning's invitations and admin resets).
    static func issueResetLink(
        _ purpose: LinkPurpose,
        for user: User,
        clientInfo: ClientInfo,
        mac: SecretMAC,
        settings: DomainSettings,
        in tx: PQTransaction
    ) throws {
        let ttl = purpose == .reset ? settings.passwordResetTTL : settings.invitationTTL
        let token = BearerToken.make(companyID: user.companyID)
        let rows = try tx.query(
            "password_reset.create",
            """
            INSERT INTO password_resets (company_id, user_id, token_hash, purpose, expires_at)
            VALUES (app_company(), \(user.id), \(mac.token(token)), \(purpose.rawValue), now() + make_interval(secs => \(ttl)))
            RETURNING expires_at
            """
        )
        let expiresAt: Date = try rows.first.orThrow().decode("expires_at")
        let company = try company(in: tx)
        let link = settings.linkBase(for: company) + "/reset#token=" + token
        _ = Outbox.enqueue(
            companyID: user.companyID,
            challengeID: nil,
            recipient: user.email,
            template: purpose == .reset ? .passwordReset : .invitation,
            email: EmailTemplates.passwordReset(
                link: link,
                expiresAt: expiresAt,
                client: clientInfo,
                companyName: company.name,
                invitation: purpose == .invitation
            ),
            codeExpiresAt: expiresAt,
            in: tx
        )
    }

    /// Sets a new password with a reset (or invitation) link's token, once. Every session of
    /// the user ends; a reset never logs in (with 2FA on, the next login still asks for a code).
    public func reset(token: String, newPassword: String, clientInfo: ClientInfo) async throws {
        try PasswordPolicy.check(newPassword, field: "new_password")
        guard let companyID = BearerToken.companyID(of: token) else { throw DomainError.tokenInvalid }
        let candidates = mac.tokenCandidates(token)
        // A cheap look first, so that a made-up token costs no hash.
        let live = try await pool.withTenant(companyID) { tx in
            try !tx.query(
                "password_reset.live",
                """
                SELECT 1 FROM password_resets
                WHERE company_id = app_company() AND token_hash = ANY(\(PQByteaArray(candidates))) AND used_at IS NULL AND expires_at > now()
                """
            ).isEmpty
        }
        guard live else { throw DomainError.tokenInvalid }
        let hash = try await hashOrBusy(newPassword)
        try await pool.withTenant(companyID) { tx in
            let used = try tx.query(
                "password_reset.use",
                """
                UPDATE password_resets SET used_at = now()
                WHERE company_id = app_company() AND token_hash = ANY(\(PQByteaArray(candidates))) AND used_at IS NULL AND expires_at > now()
                RETURNING user_id, purpose
                """
            )
            guard let row = used.first, let user = try UserStore.find(try row.decode("user_id"), activeOnly: true, in: tx) else {
                throw DomainError.tokenInvalid
            }
            let purpose: String = try row.decode("purpose")
            try UserStore.setPassword(hash, of: user.id, in: tx)
            // The user's other links are void too: whoever asked for them is done.
            try Self.voidResetLinks(of: user.id, in: tx)
            let revoked = try SessionStore.revokeAll(of: user.id, reason: "password_reset", in: tx)
            let forgotten = try RememberedBrowsers.forgetAll(of: user.id, reason: "password_reset", in: tx)
            // A phisher holding a login challenge does not outlive the victim's reset.
            try ChallengeEvent.closeAll(
                userID: user.id,
                companyID: user.companyID,
                email: user.email,
                reason: .passwordReset,
                clientInfo: clientInfo,
                in: tx
            )
            try Self.recordNewPassword(
                of: user,
                event: purpose == "invitation" ? .passwordSet : .passwordReset,
                reset: true,
                sessionsRevoked: revoked,
                browsersForgotten: forgotten,
                clientInfo: clientInfo,
                in: tx
            )
        }
    }

    // MARK: Shared steps

    /// Voids every unused reset (or invitation) link of the user.
    private static func voidResetLinks(of userID: UUID, in tx: PQTransaction) throws {
        try tx.query(
            "password_reset.void_all",
            "UPDATE password_resets SET used_at = now() WHERE company_id = app_company() AND user_id = \(userID) AND used_at IS NULL"
        )
    }

    /// Records a changed, reset or first-set password of `user` and queues the notice, in the
    /// caller's transaction (the user's tenant).
    private static func recordNewPassword(
        of user: User,
        event: EventType,
        reset: Bool,
        sessionsRevoked: Int,
        browsersForgotten: Int,
        clientInfo: ClientInfo,
        in tx: PQTransaction
    ) throws {
        Event(
            companyID: user.companyID,
            type: event,
            userID: user.id,
            email: user.email,
            client: clientInfo,
            detail: ["sessions_revoked": .int(sessionsRevoked), "browsers_forgotten": .int(browsersForgotten)]
        ).record(in: tx)
        let company = try company(in: tx)
        _ = Outbox.enqueue(
            companyID: user.companyID,
            challengeID: nil,
            recipient: user.email,
            template: .passwordChanged,
            email: EmailTemplates.passwordChanged(reset: reset, at: Date(), client: clientInfo, companyName: company.name),
            codeExpiresAt: nil,
            in: tx
        )
    }

    private func hashOrBusy(_ password: String) async throws -> String {
        do {
            return try await hasher.hash(password)
        } catch is PasswordHasherBusy {
            throw DomainError.hashingBusy
        }
    }

    static func company(in tx: PQTransaction) throws -> Company {
        try Company.current(in: tx, lock: false)
    }
}

extension DomainError {
    /// Every password hashing slot is taken (``PasswordHasherBusy``).
    static let hashingBusy = DomainError(.busy, "Too many password checks at once; try again shortly.", retryAfter: 1)
    /// An unknown, used or expired reset or report token.
    public static let tokenInvalid = DomainError(.tokenInvalid, "This link is not valid any more; ask for a new one.")
}
