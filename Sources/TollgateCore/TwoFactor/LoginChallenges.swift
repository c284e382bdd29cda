public import Foundation
import PQ

/// A finished login: its session and, when the user asked and the policy allows, the browser
/// remembered (SPEC §14).
public struct LoginSuccess: Sendable {
    public let grant: SessionGrant
    public let rememberedBrowser: RememberedBrowserGrant?
}

/// The code step of a dashboard login with 2FA on (SPEC §3.2, §13): the challenge is named by
/// its token, which carries its company.
extension ChallengeService {
    /// Starts a login challenge after a right password (2FA on, dashboard client), in the
    /// login's transaction, deciding on the account's `counters` read under its row lock. It
    /// offers `methods` (strongest first); with more than email, nothing is mailed yet.
    func startLogin(
        user: User,
        company: Company,
        counters: AccountCounters,
        clock: TransactionClock,
        methods: [SecondFactor],
        clientInfo: ClientInfo,
        in tx: PQTransaction
    ) -> CommitThen<LoginChallenge> {
        let token = BearerToken.make(companyID: company.id)
        let tokenMAC = mac.token(token)
        switch start(
            .login,
            user: user,
            company: company,
            counters: counters,
            clock: clock,
            tokenMAC: tokenMAC,
            methods: methods,
            clientInfo: clientInfo,
            in: tx
        ) {
        case .refuse(let error):
            return .refuse(error)
        case .answer(let record):
            return .answer(LoginChallenge(token: token, snapshot: ChallengeSnapshot(record, emailHint: user.emailHint, delivery: .queued)))
        }
    }

    /// Checks a login code, emailed or from an authenticator app (`factor`); the right one,
    /// once, yields a 2FA-verified dashboard session, and remembers the browser when asked to
    /// and the company's policy allows it (otherwise the wish is ignored: SPEC §14).
    public func verifyLogin(
        token: String,
        code: String,
        from factor: SecondFactor = .email,
        rememberBrowser: Bool = false,
        clientInfo: ClientInfo
    ) async throws -> LoginSuccess {
        try await verifyLogin(
            token: token,
            entry: factor == .totp ? .appCode(code) : .emailCode(code),
            rememberBrowser: rememberBrowser,
            clientInfo: clientInfo
        )
    }

    /// ``verifyLogin(token:code:from:rememberBrowser:clientInfo:)`` for any entry, a passkey's
    /// assertion included (which needs the company: its relying party).
    ///
    /// Under `phishing_resistant`, an emailed code of a user without a passkey makes an
    /// enrollment-only session (``SessionStore/markEnrollmentOnly(_:user:clientInfo:in:)``,
    /// decided at the COMMIT on the policy and passkeys as they are then), and no browser is
    /// remembered by anything but a passkey.
    func verifyLogin(token: String, entry: FactorEntry, rememberBrowser: Bool, clientInfo: ClientInfo) async throws -> LoginSuccess {
        let (companyID, locator) = try loginLocator(token)
        let ttl = sessionTTL
        let mac = self.mac
        return try await verify(
            companyID: companyID,
            locator: locator,
            entry: entry,
            withCompany: rememberBrowser || entry.factor == .passkey,
            clientInfo: clientInfo
        ) {
            accepted,
            clientInfo,
            tx in
            let (record, user) = (accepted.record, accepted.user)
            // The login's answer is its session, not the challenge's row.
            let grant = SessionStore.create(
                companyID: user.companyID,
                userID: user.id,
                client: .dashboard,
                twoFactorVerified: true,
                ttl: ttl,
                databaseNow: record.databaseNow,
                clientInfo: clientInfo,
                challengeID: record.challenge.id,
                in: tx
            )
            Event(
                companyID: user.companyID,
                type: .loginSucceeded,
                userID: user.id,
                email: user.email,
                client: clientInfo,
                detail: [
                    "challenge_id": .string(record.challenge.id.lowercasedString), "client": .string("dashboard"),
                    "session_id": .string(grant.session.id.lowercasedString), "method": .string(accepted.factor.rawValue),
                ]
            ).record(in: tx)
            if accepted.factor == .email { SessionStore.markEnrollmentOnly(grant.session.id, user: user, clientInfo: clientInfo, in: tx) }
            guard rememberBrowser, let policy = accepted.company?.policy, let days = policy.rememberFor,
                policy.methods != .phishingResistant || accepted.factor == .passkey
            else { return LoginSuccess(grant: grant, rememberedBrowser: nil) }
            let browser = RememberedBrowsers.remember(
                user: user,
                days: days,
                databaseNow: record.databaseNow,
                clientInfo: clientInfo,
                mac: mac,
                in: tx
            )
            Event(
                companyID: user.companyID,
                type: .rememberedBrowserAdded,
                userID: user.id,
                email: user.email,
                client: clientInfo,
                detail: ["remembered_browser_id": .string(browser.id.lowercasedString), "days": .int(days)]
            ).record(in: tx)
            return LoginSuccess(grant: grant, rememberedBrowser: browser)
        }
    }

    /// Mails the first code of a login that offered other methods: the user picked email
    /// (SPEC §13, `POST /v1/auth/login/email`).
    public func chooseEmail(token: String, clientInfo: ClientInfo) async throws -> LoginChallenge {
        let (companyID, locator) = try loginLocator(token)
        let (record, user) = try await sendFirstEmail(companyID: companyID, locator: locator, clientInfo: clientInfo)
        return LoginChallenge(token: token, snapshot: ChallengeSnapshot(record, emailHint: user.emailHint))
    }

    /// Sends a new login code (the token stays the same).
    public func resendLogin(token: String, clientInfo: ClientInfo) async throws -> LoginChallenge {
        let (companyID, locator) = try loginLocator(token)
        let (record, user) = try await resend(companyID: companyID, locator: locator, clientInfo: clientInfo)
        return LoginChallenge(token: token, snapshot: ChallengeSnapshot(record, emailHint: user.emailHint, delivery: .queued))
    }

    /// The state of a login challenge, so the dashboard can show whether the email went out.
    /// One whose last code is dead with no resend left closes now.
    public func viewLogin(token: String) async throws -> LoginChallenge {
        let (companyID, locator) = try loginLocator(token)
        return try await pool.commitThen(in: companyID) { tx in
            guard let located = try ChallengeStore.locate(locator, withDelivery: true, in: tx) else { return .refuse(.challengeNotFound) }
            let (record, user) = (located.record, located.user)
            if closedForAccount(record.challenge, user: user, clientInfo: nil, in: tx) { return .refuse(.challengeClosed) }
            var challenge = record.challenge
            if case .close(let reason) = challenge.expire(at: record.databaseNow) {
                ChallengeEvent.close(challenge, reason: reason, user: user, clientInfo: nil, in: tx)
                return .refuse(.challengeClosed)
            }
            guard challenge.state == .pending else { return .refuse(.challengeClosed) }
            return .answer(LoginChallenge(token: token, snapshot: ChallengeSnapshot(record, emailHint: user.emailHint)))
        }
    }

    func loginLocator(_ token: String) throws -> (UUID, ChallengeLocator) {
        guard let companyID = BearerToken.companyID(of: token) else { throw DomainError.challengeNotFound }
        return (companyID, .loginToken(candidates: mac.tokenCandidates(token)))
    }
}
