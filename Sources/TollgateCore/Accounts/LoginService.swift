import Crypto
import Foundation
import Logging
import PQ

/// What a correct password leads to.
public enum LoginOutcome: Sendable {
    /// No code needed: a session (password-only dashboard login, the phone app, or a browser
    /// the user had remembered).
    case session(SessionGrant)
    /// 2FA is on for a dashboard login: a challenge was started and a code emailed.
    case challenge(LoginChallenge)
}

/// The password step of logging in (SPEC §3.2, §5). The code step is ``ChallengeService``.
public struct LoginService: DomainService, Sendable {
    let dependencies: DomainDependencies
    let challenges: ChallengeService
    let keys = InstanceKeys()

    public init(_ dependencies: DomainDependencies, challenges: ChallengeService) {
        self.dependencies = dependencies
        self.challenges = challenges
    }

    /// The account row the password step needs.
    struct Account: Sendable {
        let user: User
        let company: Company
        let passwordHash: String
    }

    /// Checks email and password. Unknown addresses and wrong passwords answer alike, in body
    /// and in time: every branch, the 429s included, runs the same transactions with the same
    /// statements (the account is looked for under a company that has no rows when the address
    /// is unknown), and both paths verify one Argon2id hash when not refused.
    ///
    /// `rememberedBrowser` is the token of a browser the user chose to be remembered on (SPEC
    /// §14): valid for this user, it stands for the second factor; anything else is ignored.
    public func login(
        email text: String,
        password: String,
        client: SessionClient,
        rememberedBrowser: String? = nil,
        clientInfo: ClientInfo
    ) async throws -> LoginOutcome {
        let limits = settings.limits
        let email = EmailAddress(text)
        let address = email?.value ?? text.lowercased()
        let ipKey = "login_ip:\(IPNetwork.rateLimitSubject(clientInfo.ip))"
        let keys = self.keys
        let unknownTenant = UUID()

        // One transaction, in one round trip: the directory lookup enters the account's company
        // (or one that has no rows, when the address is unknown), the IP's count and, unless
        // that refused, one reserved failed-password slot (given back if the password is
        // right), and the account. Known and unknown addresses send the same statements, and so
        // do refused logins: the refusals an attacker can repeat cost the same either way.
        let failedKey = Self.failedPasswordKey(email: address, key: try await keys.rateLimitKey(from: pool))
        // Not an address at all (it may hold bytes PostgreSQL refuses in text): the same
        // lookup of a text no account has.
        let lookedUp = email?.value ?? ""
        let answers = try await pool.transaction([
            LoginDirectory.enter(lookedUp, otherwise: unknownTenant),
            Self.countQuery(address: lookedUp, ipKey: ipKey, failedKey: failedKey, limits: limits, client: client, clientInfo: clientInfo),
            Self.accountQuery(lookedUp),
        ])
        let account = try Self.account(from: answers[2])
        for row in answers[1] {
            guard let limited = try RateLimiter.refusal(ofHit: row) else { continue }
            throw DomainError.rateLimited(retryAfter: limited.retryAfter)
        }

        guard try await verify(password, against: account?.passwordHash, reservedSlot: failedKey), let account else {
            // The same write either way: the event for an account, the counter's row rewritten
            // for an unknown address (one row and one commit each).
            try await pool.withTenant(account?.user.companyID ?? unknownTenant) { tx in
                if let account {
                    Event(
                        companyID: account.user.companyID,
                        type: .loginPasswordFailed,
                        userID: account.user.id,
                        email: account.user.email,
                        client: clientInfo,
                        detail: ["client": .string(client.rawValue)]
                    ).record(in: tx)
                } else {
                    RateLimiter.touch(failedKey, in: tx)
                }
            }
            if account == nil { logger.info("login.unknown_account") }
            throw DomainError.invalidCredentials
        }
        // Only a token of this company can be this user's (the token names its company).
        let browserCandidates = rememberedBrowser.flatMap { token in
            BearerToken.companyID(of: token) == account.company.id ? mac.tokenCandidates(token) : nil
        }
        return try await afterPassword(
            account: account,
            client: client,
            browserCandidates: browserCandidates ?? [],
            clientInfo: clientInfo,
            failedKey: failedKey
        )
    }

    /// The session, or the challenge and its code's email, in two round trips: the company and
    /// the account are read under their locks, with the account's counters, then everything the
    /// decision writes goes with the COMMIT.
    private func afterPassword(
        account: Account,
        client: SessionClient,
        browserCandidates: [Data],
        clientInfo: ClientInfo,
        failedKey: String
    ) async throws -> LoginOutcome {
        let settings = self.settings
        let challenges = self.challenges
        let user = account.user
        let companyID = user.companyID
        return try await pool.commitThen(in: companyID) { tx -> CommitThen<LoginOutcome> in
            RateLimiter.undo(failedKey, in: tx)
            // The company's setting as it is now, held until commit: a login racing "enable"
            // either sees 2FA on or finishes its session before enable revokes the unverified ones.
            // The account is held the same way: one deactivated, or whose password changed,
            // while its password was being hashed gets nothing (a deactivation or change that
            // comes after waits for this commit, then revokes what it made).
            let held = try Self.companyForShare(account: account, browserCandidates: browserCandidates, in: tx)
            let (company, clock, counters) = (held.company, held.clock, held.counters)
            guard held.accountUnchanged else { return .refuse(.invalidCredentials) }
            let databaseNow = clock.databaseNow
            let needsCode = client == .dashboard && company.twoFactorEnabled
            var detail: [String: EventValue] = ["client": .string(client.rawValue)]
            if client == .dashboard {
                guard user.hasDashboardAccess else {
                    Event(
                        companyID: companyID,
                        type: .loginPasswordSucceeded,
                        userID: user.id,
                        email: user.email,
                        client: clientInfo,
                        detail: detail.merging(["refused": .string("no_dashboard_access")]) { $1 }
                    ).record(in: tx)
                    return .refuse(.noDashboardAccess)
                }
                if let lockedUntil = user.lockedUntil, lockedUntil > databaseNow {
                    let retryAfter = max(1, Int(lockedUntil.timeIntervalSince(databaseNow).rounded(.up)))
                    Event(
                        companyID: companyID,
                        type: .loginRateLimited,
                        userID: user.id,
                        email: user.email,
                        client: clientInfo,
                        detail: detail.merging(["limit": .string("account_locked"), "retry_after": .int(retryAfter)]) { $1 }
                    ).record(in: tx)
                    return .refuse(.accountLocked(retryAfter: retryAfter))
                }
            } else if company.twoFactorEnabled {
                detail["two_factor"] = .string("exempt_phone_app")
            }
            Event(companyID: companyID, type: .loginPasswordSucceeded, userID: user.id, email: user.email, client: clientInfo, detail: detail)
                .record(in: tx)
            // A browser the user chose to be remembered on stands for the second factor while
            // the company asks once per browser (SPEC §14).
            let remembered = needsCode && company.policy.ask == .perBrowser ? held.rememberedBrowserID : nil
            if needsCode && remembered == nil {
                let path = company.policy.loginPath(userHas: held.methodKinds, enrollmentUsed: held.passkeyEnrollmentUsed)
                guard case .challenge(let methods) = path else { return .refuse(.passkeyRequired) }
                switch challenges.startLogin(
                    user: user,
                    company: company,
                    counters: counters,
                    clock: clock,
                    methods: methods,
                    clientInfo: clientInfo,
                    in: tx
                ) {
                case .answer(let challenge): return .answer(.challenge(challenge))
                case .refuse(let error): return .refuse(error)
                }
            }
            if let remembered {
                Self.useRememberedBrowser(remembered, user: user, clientInfo: clientInfo, in: tx)
                detail["remembered_browser_id"] = .string(remembered.lowercasedString)
            }
            let ttl = client == .dashboard ? settings.sessionTTLDashboard : settings.sessionTTLPhoneApp
            let grant = SessionStore.create(
                companyID: companyID,
                userID: user.id,
                client: client,
                twoFactorVerified: remembered != nil,
                ttl: ttl,
                databaseNow: databaseNow,
                clientInfo: clientInfo,
                in: tx
            )
            Event(
                companyID: companyID,
                type: .loginSucceeded,
                userID: user.id,
                email: user.email,
                client: clientInfo,
                detail: detail.merging(["session_id": .string(grant.session.id.lowercasedString)]) { $1 }
            ).record(in: tx)
            return .answer(.session(grant))
        }
    }

    /// Verifies the password; when the hasher is too busy to, the failed-password slot
    /// reserved for this attempt is given back (a flood must not lock out the right password).
    func verify(_ password: String, against hash: String?, reservedSlot: String) async throws -> Bool {
        do {
            return try await hasher.verify(password, against: hash)
        } catch is PasswordHasherBusy {
            try await pool.withTransaction { tx in RateLimiter.undo(reservedSlot, in: tx) }
            throw DomainError(.busy, "Too many logins at once; try again shortly.", retryAfter: 1)
        }
    }
}
