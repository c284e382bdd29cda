public import Foundation
public import Logging
public import PQ

/// A login challenge as the API shows it (SPEC §4 `Challenge`).
public struct ChallengeView: Sendable {
    public let token: String
    public let codeExpiresAt: Date
    public let resendsRemaining: Int
    public let attemptsRemaining: Int
    public let emailHint: String
    /// The latest code email's state: queued, sent or failed.
    public let delivery: String
}

/// An activation as the API shows it (SPEC §4 `Activation`).
public struct ActivationView: Sendable {
    public let id: UUID
    /// code_sent, verified, used or closed.
    public let status: String
    public let codeExpiresAt: Date
    public let resendsRemaining: Int
    public let attemptsRemaining: Int
    public let emailHint: String
    /// The latest code email's state, as for a login challenge.
    public let delivery: String
}

/// The company's 2FA setting (SPEC §4 `TwoFactor`).
public struct TwoFactorView: Sendable, Equatable {
    public let enabled: Bool
    public let enabledAt: Date?
    public let enabledBy: UUID?
    /// Users 2FA applies to (those with dashboard access), for the confirmation screen.
    public let dashboardUsers: Int

    public init(company: Company, dashboardUsers: Int) {
        enabled = company.twoFactorEnabled
        enabledAt = company.twoFactorEnabled ? company.twoFactorChangedAt : nil
        enabledBy = company.twoFactorEnabled ? company.twoFactorChangedBy : nil
        self.dashboardUsers = dashboardUsers
    }

    /// The setting of the tenant in scope, with its count of dashboard users.
    public static func current(company: Company, in tx: PQTransaction) throws -> TwoFactorView {
        let rows = try tx.query(
            ("""
            SELECT count(*) AS n FROM users
            WHERE company_id = app_company() AND (role IN ('owner', 'admin') OR dashboard_access)
            """ as PQQuery).named("user.count_dashboard")
        )
        return TwoFactorView(company: company, dashboardUsers: try rows.first.orThrow().decode("n", as: Int.self))
    }
}

/// Which challenge a request names: a login challenge by its token, an activation by its id
/// and the caller (only its own activations exist for it).
enum ChallengeLocator: Sendable {
    case loginToken(candidates: [Data])
    case activation(id: UUID, userID: UUID)
}

/// The email-code challenge of SPEC §2, one implementation for both flows: start, verify,
/// resend and view; plus enabling and disabling 2FA (SPEC §3).
///
/// Every step is one transaction. The challenge row is locked (`FOR UPDATE`) first, so
/// concurrent requests on one challenge take turns; the security counters are still single
/// conditional statements (`attempts < max_attempts`, `state = 'pending'`) so that no
/// interleaving can count past a limit or consume a code twice. Refusals that must be
/// remembered (a wrong code, a closed challenge, an event) commit and are thrown after.
public struct ChallengeService: Sendable {
    let pool: PQPool
    let mac: CodeMAC
    let policy: CodePolicy
    let limits: AbuseLimits
    let sessionTTL: Int
    let configuration: TollgateConfiguration
    let logger: Logger

    public init(pool: PQPool, configuration: TollgateConfiguration, logger: Logger) {
        self.pool = pool
        self.mac = CodeMAC(secrets: configuration.secrets)
        self.policy = configuration.codes
        self.limits = configuration.limits
        self.sessionTTL = configuration.sessionTTLDashboard
        self.configuration = configuration
        self.logger = logger
    }

    // MARK: Login

    /// Starts a login challenge after a right password (2FA on, dashboard client).
    public func startLogin(user: User, company: Company, clientInfo: ClientInfo) async throws -> ChallengeView {
        let token = BearerToken.make(companyID: company.id)
        let tokenMAC = mac.token(token)
        let (mac, policy, limits, configuration) = (self.mac, self.policy, self.limits, self.configuration)
        let result = try await pool.withTenant(company.id) { tx -> Result<ChallengeView, DomainError> in
            if let refusal = try Self.refuseNewChallenge(user: user, purpose: .login, limits: limits, clientInfo: clientInfo, in: tx) {
                return .failure(refusal)
            }
            let (record, delivery) = try Self.issue(
                purpose: .login,
                user: user,
                company: company,
                tokenMAC: tokenMAC,
                clientInfo: clientInfo,
                mac: mac,
                policy: policy,
                configuration: configuration,
                in: tx
            )
            try Self.event(.login, .codeSent, record: record, user: user, clientInfo: clientInfo, in: tx)
            return .success(Self.view(record, token: token, emailHint: user.emailHint, delivery: delivery))
        }
        return try result.get()
    }

    /// Checks a login code; the right one, once, yields a 2FA-verified dashboard session.
    public func verifyLogin(token: String, code: String, clientInfo: ClientInfo) async throws -> SessionGrant {
        guard let companyID = BearerToken.companyID(of: token) else { throw DomainError.challengeNotFound }
        let locator = ChallengeLocator.loginToken(candidates: mac.tokenCandidates(token))
        let outcome = try await verify(companyID: companyID, locator: locator, code: code, clientInfo: clientInfo)
        guard case .session(let grant) = outcome else { throw DomainError.challengeClosed }
        return grant
    }

    /// Sends a new login code (the token stays the same).
    public func resendLogin(token: String, clientInfo: ClientInfo) async throws -> ChallengeView {
        guard let companyID = BearerToken.companyID(of: token) else { throw DomainError.challengeNotFound }
        let (record, user, delivery) = try await resend(
            companyID: companyID,
            locator: .loginToken(candidates: mac.tokenCandidates(token)),
            clientInfo: clientInfo
        )
        return Self.view(record, token: token, emailHint: user.emailHint, delivery: delivery)
    }

    /// The state of a login challenge, so the dashboard can show whether the email went out.
    public func viewLogin(token: String) async throws -> ChallengeView {
        guard let companyID = BearerToken.companyID(of: token) else { throw DomainError.challengeNotFound }
        let locator = ChallengeLocator.loginToken(candidates: mac.tokenCandidates(token))
        let result = try await pool.withTenant(companyID) { tx -> Result<ChallengeView, DomainError> in
            guard let (record, user) = try Self.locate(locator, in: tx) else { return .failure(.challengeNotFound) }
            switch record.phase {
            case .exhausted(let reason):
                try Self.close(record, reason: reason, user: user, clientInfo: nil, in: tx)
                return .failure(.challengeClosed)
            case .closed, .used, .verified:
                return .failure(.challengeClosed)
            case .awaitingCode, .codeDead:
                let delivery = try record.emailID.map { try Outbox.deliveryState(emailID: $0, in: tx) } ?? "queued"
                return .success(Self.view(record, token: token, emailHint: user.emailHint, delivery: delivery))
            }
        }
        return try result.get()
    }

    // MARK: Activation

    /// Starts an activation: a code to the caller's own address.
    public func startActivation(_ principal: Principal, clientInfo: ClientInfo) async throws -> ActivationView {
        guard principal.user.isOwnerOrAdmin else { throw DomainError.forbidden }
        let (mac, policy, limits, configuration) = (self.mac, self.policy, self.limits, self.configuration)
        let user = principal.user
        let result = try await pool.withTenant(principal.company.id) { tx -> Result<ActivationView, DomainError> in
            let company = try Self.lockCompany(in: tx)
            guard !company.twoFactorEnabled else { return .failure(DomainError(.alreadyEnabled, "Two-factor authentication is on already.")) }
            if let refusal = try Self.refuseNewChallenge(user: user, purpose: .activation, limits: limits, clientInfo: clientInfo, in: tx) {
                return .failure(refusal)
            }
            let (record, _) = try Self.issue(
                purpose: .activation,
                user: user,
                company: company,
                tokenMAC: nil,
                clientInfo: clientInfo,
                mac: mac,
                policy: policy,
                configuration: configuration,
                in: tx
            )
            try Self.event(.activation, .codeSent, record: record, user: user, clientInfo: clientInfo, in: tx)
            return .success(Self.activationView(record, emailHint: user.emailHint, delivery: "queued"))
        }
        return try result.get()
    }

    public func verifyActivation(_ principal: Principal, id: UUID, code: String, clientInfo: ClientInfo) async throws -> ActivationView {
        guard principal.user.isOwnerOrAdmin else { throw DomainError.forbidden }
        let outcome = try await verify(
            companyID: principal.company.id,
            locator: .activation(id: id, userID: principal.user.id),
            code: code,
            clientInfo: clientInfo
        )
        guard case .activation(let view) = outcome else { throw DomainError.challengeClosed }
        return view
    }

    public func resendActivation(_ principal: Principal, id: UUID, clientInfo: ClientInfo) async throws -> ActivationView {
        guard principal.user.isOwnerOrAdmin else { throw DomainError.forbidden }
        let (record, user, _) = try await resend(
            companyID: principal.company.id,
            locator: .activation(id: id, userID: principal.user.id),
            clientInfo: clientInfo
        )
        return Self.activationView(record, emailHint: user.emailHint, delivery: "queued")
    }

    /// Turns 2FA on with a verified activation of the caller's (within its use window, once).
    /// Revokes the company's dashboard sessions that were not 2FA-verified, except the
    /// caller's, which the activation verified; tells every owner.
    public func enable(_ principal: Principal, activationID: UUID, confirm: Bool, clientInfo: ClientInfo) async throws -> TwoFactorView {
        guard principal.user.isOwnerOrAdmin else { throw DomainError.forbidden }
        guard confirm else { throw DomainError.confirmationRequired }
        let window = policy.activationUseWindow
        let user = principal.user
        let sessionID = principal.session.id
        return try await pool.withTenant(principal.company.id) { tx in
            let company = try Self.lockCompany(in: tx)
            guard let (activation, _) = try Self.locate(.activation(id: activationID, userID: user.id), in: tx) else {
                throw DomainError.noSuchActivation
            }
            guard !company.twoFactorEnabled else { throw DomainError(.alreadyEnabled, "Two-factor authentication is on already.") }
            let consumed = try tx.query(
                ("""
                UPDATE challenges SET state = 'used', used_at = now()
                WHERE company_id = app_company() AND id = \(activation.id) AND state = 'verified'
                  AND verified_at + make_interval(secs => \(window)) > now()
                RETURNING id
                """ as PQQuery).named("activation.consume")
            )
            guard !consumed.isEmpty else {
                throw DomainError(
                    .activationNotVerified,
                    "Verify a fresh activation code first (a verified activation is usable for 10 minutes, once)."
                )
            }
            let updated = try tx.query(
                ("""
                UPDATE companies c SET two_factor_enabled = true, two_factor_changed_at = now(), two_factor_changed_by = \(user.id)
                WHERE id = app_company() AND NOT two_factor_enabled
                RETURNING \(unsafeSQL: Company.columns)
                """ as PQQuery).named("company.enable_2fa")
            )
            let changed = try Company(row: try updated.first.orThrow())
            try tx.query(
                ("UPDATE sessions SET two_factor_verified = true WHERE company_id = app_company() AND id = \(sessionID)" as PQQuery)
                    .named("session.mark_verified")
            )
            let revoked = try tx.query(
                ("""
                UPDATE sessions SET revoked_at = now(), revoked_reason = 'two_factor_enabled'
                WHERE company_id = app_company() AND client = 'dashboard' AND NOT two_factor_verified AND revoked_at IS NULL
                RETURNING id
                """ as PQQuery).named("session.revoke_unverified")
            )
            try Event(
                companyID: company.id,
                type: .twoFactorEnabled,
                userID: user.id,
                email: user.email,
                client: clientInfo,
                detail: ["activation_id": .string(activation.id.uuidString.lowercased()), "sessions_revoked": .int(revoked.count)]
            )
            .record(in: tx)
            if revoked.count > 0 {
                try Event(
                    companyID: company.id,
                    type: .sessionRevoked,
                    userID: user.id,
                    email: user.email,
                    client: clientInfo,
                    detail: ["reason": .string("two_factor_enabled"), "count": .int(revoked.count)]
                ).record(in: tx)
            }
            try Self.noticeOwners(enabled: true, actor: user, company: changed, clientInfo: clientInfo, in: tx)
            return try TwoFactorView.current(company: changed, in: tx)
        }
    }

    /// Turns 2FA off (owners only, with confirmation and the owner's current password, SPEC
    /// §3.3: a stolen session alone cannot switch the company's protection off). A refused
    /// attempt is recorded.
    public func disable(
        _ principal: Principal,
        confirm: Bool,
        password: String?,
        login: LoginService,
        clientInfo: ClientInfo
    ) async throws -> TwoFactorView {
        let user = principal.user
        guard user.role == .owner else {
            try await recordDisableDenied(user, reason: "role", clientInfo: clientInfo)
            throw DomainError.forbidden
        }
        guard confirm else { throw DomainError.confirmationRequired }
        do {
            try await login.reauthenticate(user, password: password)
        } catch let error as DomainError where error.code == .reauthenticationRequired {
            try await recordDisableDenied(user, reason: "wrong_password", clientInfo: clientInfo)
            throw error
        }
        let result = try await pool.withTenant(principal.company.id) { tx -> Result<TwoFactorView, DomainError> in
            _ = try Self.lockCompany(in: tx)
            let updated = try tx.query(
                ("""
                UPDATE companies c SET two_factor_enabled = false, two_factor_changed_at = now(), two_factor_changed_by = \(user.id)
                WHERE id = app_company() AND two_factor_enabled
                RETURNING \(unsafeSQL: Company.columns)
                """ as PQQuery).named("company.disable_2fa")
            )
            guard let row = updated.first else {
                return .failure(DomainError(.alreadyDisabled, "Two-factor authentication is off already."))
            }
            let company = try Company(row: row)
            try Event(companyID: company.id, type: .twoFactorDisabled, userID: user.id, email: user.email, client: clientInfo).record(in: tx)
            try Self.noticeOwners(enabled: false, actor: user, company: company, clientInfo: clientInfo, in: tx)
            return .success(try TwoFactorView.current(company: company, in: tx))
        }
        return try result.get()
    }

    private func recordDisableDenied(_ user: User, reason: String, clientInfo: ClientInfo) async throws {
        try await pool.withTenant(user.companyID) { tx in
            try Event(
                companyID: user.companyID,
                type: .twoFactorDisableDenied,
                userID: user.id,
                email: user.email,
                client: clientInfo,
                detail: ["role": .string(user.role.rawValue), "reason": .string(reason)]
            ).record(in: tx)
        }
    }

    // MARK: Shared steps

    enum VerifyOutcome: Sendable {
        case session(SessionGrant)
        case activation(ActivationView)
    }

    private func verify(companyID: UUID, locator: ChallengeLocator, code entry: String, clientInfo: ClientInfo) async throws -> VerifyOutcome {
        let (mac, limits, sessionTTL) = (self.mac, self.limits, self.sessionTTL)
        let result = try await pool.withTenant(companyID) { tx -> Result<VerifyOutcome, DomainError> in
            guard let (record, user) = try Self.locate(locator, in: tx) else { return .failure(.challengeNotFound) }
            let phase = record.phase
            if let refusal = phase.refusalForCode(record) {
                switch phase {
                case .exhausted(let reason):
                    try Self.close(record, reason: reason, user: user, clientInfo: clientInfo, in: tx)
                case .codeDead(.expired):
                    try Self.event(record.purpose, .codeExpired, record: record, user: user, clientInfo: clientInfo, in: tx)
                default:
                    break
                }
                return .failure(refusal)
            }
            if let lockedUntil = user.lockedUntil, lockedUntil > record.databaseNow {
                // Refused for a limit, so recorded (SPEC §5), like the other refusals.
                let retryAfter = max(1, Int(lockedUntil.timeIntervalSince(record.databaseNow).rounded(.up)))
                try Self.event(
                    record.purpose,
                    .rateLimited,
                    record: record,
                    user: user,
                    clientInfo: clientInfo,
                    extra: ["limit": .string("account_locked"), "retry_after": .int(retryAfter)],
                    in: tx
                )
                return .failure(.accountLocked(retryAfter: retryAfter))
            }
            // Reserve a wrong-code slot of the account before comparing: past the hourly
            // limit no guess is even looked at, and the account's challenges close.
            let accountKey = "wrong_codes:\(user.id)"
            if let refusal = try RateLimiter.hit(accountKey, limit: limits.wrongCodesPerAccount, window: limits.wrongCodesPerAccountWindow, in: tx) {
                try Self.closeForWrongCodeLimit(of: user, refusal: refusal, clientInfo: clientInfo, in: tx)
                return .failure(.challengeClosed)
            }
            // Count the entry before comparing; the condition makes the limit hold whatever
            // else runs at the same time.
            let counted = try tx.query(
                ("""
                UPDATE challenges SET attempts = attempts + 1
                WHERE company_id = app_company() AND id = \(record.id) AND state = 'pending'
                  AND attempts < max_attempts AND code_expires_at > now()
                RETURNING attempts
                """ as PQQuery).named("challenge.count_attempt")
            )
            guard let attempts = try counted.first?.decode("attempts", as: Int.self) else { return .failure(.challengeClosed) }

            if let code = normalizedCode(entry), mac.codeMatches(code, challengeID: record.id, stored: record.codeHash) {
                try RateLimiter.undo(accountKey, in: tx)
                return .success(try Self.accept(record, user: user, clientInfo: clientInfo, sessionTTL: sessionTTL, in: tx))
            }
            return .failure(try Self.reject(record, attempts: attempts, user: user, clientInfo: clientInfo, limits: limits, in: tx))
        }
        return try result.get()
    }

    /// The right code: consume the challenge once and give the flow its result.
    private static func accept(
        _ record: ChallengeRecord,
        user: User,
        clientInfo: ClientInfo,
        sessionTTL: Int,
        in tx: PQTransaction
    ) throws -> VerifyOutcome {
        let newState = record.purpose == .login ? "used" : "verified"
        let consumed = try tx.query(
            ("""
            UPDATE challenges SET state = \(newState), verified_at = now(),
                used_at = CASE WHEN \(newState) = 'used' THEN now() END
            WHERE company_id = app_company() AND id = \(record.id) AND state = 'pending' AND code_hash = \(record.codeHash)
            RETURNING \(unsafeSQL: ChallengeRecord.columns)
            """ as PQQuery).named("challenge.consume")
        )
        guard let row = consumed.first else { throw DomainError.challengeClosed }
        let updated = try ChallengeRecord(row: row)
        try tx.query(
            ("UPDATE users SET consecutive_wrong_codes = 0 WHERE company_id = app_company() AND id = \(user.id)" as PQQuery)
                .named("user.reset_wrong_codes")
        )
        switch record.purpose {
        case .login:
            let grant = try SessionStore.create(
                companyID: user.companyID,
                userID: user.id,
                client: .dashboard,
                twoFactorVerified: true,
                ttl: sessionTTL,
                clientInfo: clientInfo,
                in: tx
            )
            try Event(
                companyID: user.companyID,
                type: .loginSucceeded,
                userID: user.id,
                email: user.email,
                client: clientInfo,
                detail: [
                    "challenge_id": .string(record.id.uuidString.lowercased()), "client": .string("dashboard"),
                    "session_id": .string(grant.session.id.uuidString.lowercased()),
                ]
            ).record(in: tx)
            return .session(grant)
        case .activation:
            try event(.activation, .verified, record: updated, user: user, clientInfo: clientInfo, in: tx)
            let delivery = try updated.emailID.map { try Outbox.deliveryState(emailID: $0, in: tx) } ?? "queued"
            return .activation(activationView(updated, emailHint: user.emailHint, delivery: delivery))
        }
    }

    /// A wrong code: record it, burn or close as the rules say, and count it against the
    /// account (100 in a row lock the dashboard login).
    private static func reject(
        _ record: ChallengeRecord,
        attempts: Int,
        user: User,
        clientInfo: ClientInfo,
        limits: AbuseLimits,
        in tx: PQTransaction
    ) throws -> DomainError {
        try tx.query(
            ("UPDATE challenges SET wrong_total = wrong_total + 1 WHERE company_id = app_company() AND id = \(record.id)" as PQQuery)
                .named("challenge.count_wrong")
        )
        let locked = try tx.query(
            ("""
            UPDATE users SET consecutive_wrong_codes = consecutive_wrong_codes + 1,
                locked_until = CASE WHEN consecutive_wrong_codes + 1 >= \(limits.consecutiveWrongCodesLock)
                    THEN now() + make_interval(secs => \(limits.lockDuration)) ELSE locked_until END
            WHERE company_id = app_company() AND id = \(user.id)
            RETURNING consecutive_wrong_codes >= \(limits.consecutiveWrongCodesLock) AS locked
            """ as PQQuery).named("user.count_wrong_code")
        )
        let attemptsRemaining = max(0, record.maxAttempts - attempts)
        try event(
            record.purpose,
            .codeFailed,
            record: record,
            user: user,
            clientInfo: clientInfo,
            extra: ["attempts_remaining": .int(attemptsRemaining)],
            in: tx
        )
        if try locked.first?.decode("locked", as: Bool.self) == true {
            try closeAll(of: user, reason: .accountLimit, clientInfo: clientInfo, limit: "consecutive_wrong_codes", firstRefusal: true, in: tx)
            return DomainError(
                .accountLocked,
                "Too many wrong codes: this account's dashboard login is locked; contact support.",
                retryAfter: limits.lockDuration
            )
        }
        if attemptsRemaining == 0 {
            if record.resendsRemaining == 0 {
                try close(record, reason: .burned, user: user, clientInfo: clientInfo, in: tx)
            }
            return DomainError(
                .tooManyAttempts,
                "That code was wrong too often; ask for a new one.",
                attemptsRemaining: 0,
                resendsRemaining: record.resendsRemaining
            )
        }
        return DomainError(
            .invalidCode,
            "That code is not right.",
            attemptsRemaining: attemptsRemaining,
            resendsRemaining: record.resendsRemaining
        )
    }

    private func resend(companyID: UUID, locator: ChallengeLocator, clientInfo: ClientInfo) async throws -> (ChallengeRecord, User, String) {
        let (mac, policy, limits, configuration) = (self.mac, self.policy, self.limits, self.configuration)
        let result = try await pool.withTenant(companyID) { tx -> Result<(ChallengeRecord, User, String), DomainError> in
            guard let (record, user) = try Self.locate(locator, in: tx) else { return .failure(.challengeNotFound) }
            // Past the account's hourly wrong-code limit its challenges close (SPEC §5): no new
            // code goes out for one that the last wrong code left open.
            if let refusal = try RateLimiter.check(
                "wrong_codes:\(user.id)",
                limit: limits.wrongCodesPerAccount,
                window: limits.wrongCodesPerAccountWindow,
                in: tx
            ) {
                try Self.closeForWrongCodeLimit(of: user, refusal: refusal, clientInfo: clientInfo, in: tx)
                return .failure(.challengeClosed)
            }
            let phase = record.phase
            if let refusal = phase.refusalForResend(record, cooldown: policy.resendCooldown) {
                if case .exhausted(let reason) = phase {
                    try Self.close(record, reason: reason, user: user, clientInfo: clientInfo, in: tx)
                } else if refusal.code == .resendTooSoon || refusal.code == .resendLimitReached {
                    try Event(
                        companyID: user.companyID,
                        type: record.purpose == .login ? .loginRateLimited : .twoFactorRateLimited,
                        userID: user.id,
                        email: user.email,
                        client: clientInfo,
                        detail: ["challenge_id": .string(record.id.uuidString.lowercased()), "limit": .string(refusal.code.rawValue)]
                    )
                    .record(in: tx)
                }
                return .failure(refusal)
            }
            let code = SecureRandom.sixDigitCode()
            let renewed = try tx.query(
                ("""
                UPDATE challenges SET code_hash = \(mac.code(code, challengeID: record.id)), code_issued_at = now(),
                    code_expires_at = now() + make_interval(secs => \(policy.ttl)), attempts = 0,
                    resends_used = resends_used + 1, last_sent_at = clock_timestamp()
                WHERE company_id = app_company() AND id = \(record.id) AND state = 'pending' AND resends_used < max_resends
                  AND last_sent_at + make_interval(secs => \(policy.resendCooldown)) <= clock_timestamp()
                RETURNING \(unsafeSQL: ChallengeRecord.columns)
                """ as PQQuery).named("challenge.resend")
            )
            guard let row = renewed.first else { return .failure(.challengeClosed) }
            let updated = try ChallengeRecord(row: row)
            let company = try Self.lockCompany(in: tx, forUpdate: false)
            try Self.sendCode(
                code,
                record: updated,
                user: user,
                company: company,
                clientInfo: clientInfo,
                notMeLink: Self.notMeLink(record: updated, company: company, mac: mac, configuration: configuration),
                in: tx
            )
            try Self.event(record.purpose, .codeResent, record: updated, user: user, clientInfo: clientInfo, in: tx)
            return .success((updated, user, "queued"))
        }
        return try result.get()
    }

    /// Inserts a challenge with its first code and queues the email, in the caller's transaction.
    private static func issue(
        purpose: ChallengePurpose,
        user: User,
        company: Company,
        tokenMAC: Data?,
        clientInfo: ClientInfo,
        mac: CodeMAC,
        policy: CodePolicy,
        configuration: TollgateConfiguration,
        in tx: PQTransaction
    ) throws -> (ChallengeRecord, String) {
        // One open challenge per user and purpose: a new one replaces the old.
        try tx.query(
            ("""
            UPDATE challenges SET state = 'closed', close_reason = 'replaced', closed_at = now()
            WHERE company_id = app_company() AND user_id = \(user.id) AND purpose = \(purpose.rawValue) AND state IN ('pending', 'verified')
            """ as PQQuery).named("challenge.replace")
        )
        let id = UUID()
        let code = SecureRandom.sixDigitCode()
        // A login challenge's "this wasn't me" link works for 24 hours (SPEC §10).
        let reportMAC = purpose == .login ? mac.token(mac.reportToken(companyID: company.id, challengeID: id)) : nil
        let rows = try tx.query(
            ("""
            INSERT INTO challenges (company_id, id, user_id, purpose, token_hash, code_hash, code_expires_at, max_attempts, max_resends,
                                    ip, user_agent, report_token_hash, report_expires_at)
            VALUES (\(company.id), \(id), \(user.id), \(purpose.rawValue), \(tokenMAC), \(mac.code(code, challengeID: id)),
                    now() + make_interval(secs => \(policy.ttl)), \(policy.maxAttempts), \(policy.maxResends), \(clientInfo.ip),
                    \(clientInfo.userAgent), \(reportMAC), CASE WHEN \(reportMAC) IS NULL THEN NULL ELSE now() + interval '24 hours' END)
            RETURNING \(unsafeSQL: ChallengeRecord.columns)
            """ as PQQuery).named("challenge.create")
        )
        let record = try ChallengeRecord(row: try rows.first.orThrow())
        try sendCode(
            code,
            record: record,
            user: user,
            company: company,
            clientInfo: clientInfo,
            notMeLink: notMeLink(record: record, company: company, mac: mac, configuration: configuration),
            in: tx
        )
        return (record, "queued")
    }

    /// Queues the code's email in this transaction and points the challenge at it.
    private static func sendCode(
        _ code: String,
        record: ChallengeRecord,
        user: User,
        company: Company,
        clientInfo: ClientInfo,
        notMeLink: String?,
        in tx: PQTransaction
    ) throws {
        let email =
            record.purpose == .login
            ? EmailTemplates.loginCode(
                code: code,
                expiresAt: record.codeExpiresAt,
                requestedAt: record.databaseNow,
                client: clientInfo,
                companyName: company.name,
                notMeLink: notMeLink
            )
            : EmailTemplates.activationCode(
                code: code,
                expiresAt: record.codeExpiresAt,
                requestedAt: record.databaseNow,
                client: clientInfo,
                companyName: company.name
            )
        let emailID = try Outbox.enqueue(
            companyID: company.id,
            challengeID: record.id,
            recipient: user.email,
            template: record.purpose == .login ? .loginCode : .activationCode,
            email: email,
            codeExpiresAt: record.codeExpiresAt,
            in: tx
        )
        try tx.query(
            ("UPDATE challenges SET email_id = \(emailID) WHERE company_id = app_company() AND id = \(record.id)" as PQQuery)
                .named("challenge.email")
        )
    }

    /// The "this wasn't me" link of a login challenge's code emails; nil for activations.
    private static func notMeLink(record: ChallengeRecord, company: Company, mac: CodeMAC, configuration: TollgateConfiguration) -> String? {
        guard record.purpose == .login else { return nil }
        return configuration.linkBase(for: company) + "/not-me#token=" + mac.reportToken(companyID: company.id, challengeID: record.id)
    }

    /// The limits on starting a challenge (SPEC §5): the account's lock, its wrong codes this
    /// hour, and challenges per hour. A refusal is recorded as an event.
    private static func refuseNewChallenge(
        user: User,
        purpose: ChallengePurpose,
        limits: AbuseLimits,
        clientInfo: ClientInfo,
        in tx: PQTransaction
    ) throws -> DomainError? {
        let rateLimited: EventType = purpose == .login ? .loginRateLimited : .twoFactorRateLimited
        // Only the first refusal of a limit's window is written to the log (SPEC §5).
        func refuse(_ limit: String, _ refusal: LimitRefusal) throws -> DomainError {
            if refusal.isFirstInWindow {
                try Event(
                    companyID: user.companyID,
                    type: rateLimited,
                    userID: user.id,
                    email: user.email,
                    client: clientInfo,
                    detail: ["limit": .string(limit), "retry_after": .int(refusal.retryAfter), "later_refusals": .string("counted, not logged")]
                )
                .record(in: tx)
            }
            return .rateLimited(retryAfter: refusal.retryAfter)
        }
        if let lockedUntil = try lockedUntil(user: user, in: tx) {
            let retryAfter = max(1, Int(lockedUntil.timeIntervalSinceNow.rounded(.up)))
            try Event(
                companyID: user.companyID,
                type: rateLimited,
                userID: user.id,
                email: user.email,
                client: clientInfo,
                detail: ["limit": .string("account_locked"), "retry_after": .int(retryAfter)]
            ).record(in: tx)
            return DomainError.accountLocked(retryAfter: retryAfter)
        }
        if let refusal = try RateLimiter.check(
            "wrong_codes:\(user.id)",
            limit: limits.wrongCodesPerAccount,
            window: limits.wrongCodesPerAccountWindow,
            in: tx
        ) {
            return try refuse("wrong_codes_per_account", refusal)
        }
        if let refusal = try RateLimiter.hit(
            "challenges:\(user.id)",
            limit: limits.challengesPerAccount,
            window: limits.challengesPerAccountWindow,
            in: tx
        ) {
            return try refuse("challenges_per_account", refusal)
        }
        return nil
    }

    private static func lockedUntil(user: User, in tx: PQTransaction) throws -> Date? {
        let rows = try tx.query(
            ("""
            SELECT locked_until FROM users WHERE company_id = app_company() AND id = \(user.id) AND locked_until > now()
            """ as PQQuery).named("user.locked_until")
        )
        return try rows.first?.decode("locked_until", as: Date.self)
    }

    /// Finds and locks the challenge a request names, with its user.
    private static func locate(_ locator: ChallengeLocator, in tx: PQTransaction) throws -> (ChallengeRecord, User)? {
        // The challenge (locked) and its user in one round trip; only the challenge's row is locked.
        let query: PQQuery
        switch locator {
        case .loginToken(let candidates):
            query = """
                SELECT \(unsafeSQL: ChallengeRecord.qualifiedColumns), \(unsafeSQL: User.columns)
                FROM challenges ch JOIN users u ON u.company_id = ch.company_id AND u.id = ch.user_id
                WHERE ch.company_id = app_company() AND ch.purpose = 'login' AND ch.token_hash = ANY(\(PQByteaArray(candidates)))
                FOR UPDATE OF ch
                """
        case .activation(let id, let userID):
            query = """
                SELECT \(unsafeSQL: ChallengeRecord.qualifiedColumns), \(unsafeSQL: User.columns)
                FROM challenges ch JOIN users u ON u.company_id = ch.company_id AND u.id = ch.user_id
                WHERE ch.company_id = app_company() AND ch.purpose = 'activation' AND ch.id = \(id) AND ch.user_id = \(userID)
                FOR UPDATE OF ch
                """
        }
        guard let row = try tx.query(query.named("challenge.locate")).first else { return nil }
        return (try ChallengeRecord(row: row), try User(row: row))
    }

    private static func lockCompany(in tx: PQTransaction, forUpdate: Bool = true) throws -> Company {
        let rows = try tx.query(
            ("SELECT \(unsafeSQL: Company.columns) FROM companies c WHERE c.id = app_company() \(unsafeSQL: forUpdate ? "FOR UPDATE" : "")"
                as PQQuery).named("company.lock")
        )
        return try Company(row: try rows.first.orThrow())
    }

    private static func close(_ record: ChallengeRecord, reason: CloseReason, user: User, clientInfo: ClientInfo?, in tx: PQTransaction) throws {
        let closed = try tx.query(
            ("""
            UPDATE challenges SET state = 'closed', close_reason = \(reason.rawValue), closed_at = now()
            WHERE company_id = app_company() AND id = \(record.id) AND state IN ('pending', 'verified')
            RETURNING id
            """ as PQQuery).named("challenge.close")
        )
        if !closed.isEmpty {
            try event(
                record.purpose,
                .closed,
                record: record,
                user: user,
                clientInfo: clientInfo,
                extra: ["reason": .string(reason.rawValue)],
                in: tx
            )
        }
    }

    /// Closes every open challenge of the account (an abuse limit was reached).
    /// Past the account's hourly wrong-code limit (SPEC §5) its challenges close, in verify and
    /// resend alike.
    private static func closeForWrongCodeLimit(of user: User, refusal: LimitRefusal, clientInfo: ClientInfo, in tx: PQTransaction) throws {
        try closeAll(
            of: user,
            reason: .accountLimit,
            clientInfo: clientInfo,
            limit: "wrong_codes_per_account",
            firstRefusal: refusal.isFirstInWindow,
            in: tx
        )
    }

    /// The event is written when challenges closed or when this is the limit's first refusal in
    /// its window, so repeated refusals cannot flood the log.
    private static func closeAll(
        of user: User,
        reason: CloseReason,
        clientInfo: ClientInfo,
        limit: String,
        firstRefusal: Bool,
        in tx: PQTransaction
    ) throws {
        let closed = try tx.query(
            ("""
            UPDATE challenges SET state = 'closed', close_reason = \(reason.rawValue), closed_at = now()
            WHERE company_id = app_company() AND user_id = \(user.id) AND state IN ('pending', 'verified')
            RETURNING id
            """ as PQQuery).named("challenge.close_all")
        )
        guard firstRefusal || !closed.isEmpty else { return }
        try Event(
            companyID: user.companyID,
            type: .loginRateLimited,
            userID: user.id,
            email: user.email,
            client: clientInfo,
            detail: ["limit": .string(limit), "challenges_closed": .int(closed.count)]
        ).record(in: tx)
    }

    private static func noticeOwners(enabled: Bool, actor: User, company: Company, clientInfo: ClientInfo, in tx: PQTransaction) throws {
        let owners = try Company.ownerEmails(in: tx)
        let email = EmailTemplates.twoFactorChanged(
            enabled: enabled,
            actorEmail: actor.email,
            at: Date(),
            client: clientInfo,
            companyName: company.name
        )
        for owner in owners {
            _ = try Outbox.enqueue(
                companyID: company.id,
                challengeID: nil,
                recipient: owner,
                template: enabled ? .twoFactorEnabled : .twoFactorDisabled,
                email: email,
                codeExpiresAt: nil,
                in: tx
            )
        }
    }

    /// What happened to a challenge; each flow names it its own way (`login.code_sent`,
    /// `two_factor.activation_started`, …).
    enum Happening {
        case codeSent, codeResent, codeFailed, codeExpired, rateLimited, verified, closed

        func type(for purpose: ChallengePurpose) -> EventType {
            switch (purpose, self) {
            case (.login, .codeSent): .loginCodeSent
            case (.login, .codeResent): .loginCodeResent
            case (.login, .codeFailed): .loginCodeFailed
            case (.login, .codeExpired): .loginCodeExpired
            case (.login, .rateLimited): .loginRateLimited
            case (.login, .verified): .loginSucceeded
            case (.login, .closed): .loginChallengeClosed
            case (.activation, .codeSent): .activationStarted
            case (.activation, .codeResent): .activationCodeResent
            case (.activation, .codeFailed): .activationCodeFailed
            case (.activation, .codeExpired): .activationCodeExpired
            case (.activation, .rateLimited): .activationRateLimited
            case (.activation, .verified): .activationVerified
            case (.activation, .closed): .activationClosed
            }
        }
    }

    private static func event(
        _ purpose: ChallengePurpose,
        _ what: Happening,
        record: ChallengeRecord,
        user: User,
        clientInfo: ClientInfo?,
        extra: [String: EventValue] = [:],
        in tx: PQTransaction
    ) throws {
        var detail: [String: EventValue] = [
            "challenge_id": .string(record.id.uuidString.lowercased()), "resends_remaining": .int(record.resendsRemaining),
        ]
        detail.merge(extra) { $1 }
        try Event(companyID: user.companyID, type: what.type(for: purpose), userID: user.id, email: user.email, client: clientInfo, detail: detail)
            .record(in: tx)
    }

    static func view(_ record: ChallengeRecord, token: String, emailHint: String, delivery: String) -> ChallengeView {
        ChallengeView(
            token: token,
            codeExpiresAt: record.codeExpiresAt,
            resendsRemaining: record.resendsRemaining,
            attemptsRemaining: record.attemptsRemaining,
            emailHint: emailHint,
            delivery: delivery
        )
    }

    static func activationView(_ record: ChallengeRecord, emailHint: String, delivery: String) -> ActivationView {
        let status: String
        switch record.phase {
        case .awaitingCode, .codeDead: status = "code_sent"
        case .verified: status = "verified"
        case .used: status = "used"
        case .exhausted, .closed: status = "closed"
        }
        return ActivationView(
            id: record.id,
            status: status,
            codeExpiresAt: record.codeExpiresAt,
            resendsRemaining: record.resendsRemaining,
            attemptsRemaining: record.attemptsRemaining,
            emailHint: emailHint,
            delivery: delivery
        )
    }

    /// An activation of the caller's, as it stands, with its latest code email's delivery
    /// (so the dashboard can show whether the email went out).
    public func viewActivation(_ principal: Principal, id: UUID) async throws -> ActivationView {
        guard principal.user.isOwnerOrAdmin else { throw DomainError.forbidden }
        let userID = principal.user.id
        return try await pool.withTenant(principal.company.id) { tx in
            guard let (record, user) = try Self.locate(.activation(id: id, userID: userID), in: tx) else {
                throw DomainError.noSuchActivation
            }
            let delivery = try record.emailID.map { try Outbox.deliveryState(emailID: $0, in: tx) } ?? "queued"
            return Self.activationView(record, emailHint: user.emailHint, delivery: delivery)
        }
    }

    /// The company's 2FA setting as the security screen shows it.
    public func twoFactorSetting(_ principal: Principal) async throws -> TwoFactorView {
        guard principal.user.isOwnerOrAdmin else { throw DomainError.forbidden }
        return try await pool.withTenant(principal.company.id) { tx in
            try TwoFactorView.current(company: try Self.lockCompany(in: tx, forUpdate: false), in: tx)
        }
    }
}

extension DomainError {
    static let confirmationRequired = DomainError(.confirmationRequired, "Send \"confirm\": true to do this.")
    /// An unknown activation, or another user's or company's: the same 404 as every other
    /// activation route (SPEC §4).
    public static let noSuchActivation = DomainError(.challengeNotFound, "There is no such activation.")
}
