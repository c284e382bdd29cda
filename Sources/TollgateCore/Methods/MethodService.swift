public import Foundation
import Logging
import PQ

/// A user's own sign-in methods (SPEC §13, §13.1): the list, adding an authenticator app
/// (start, then confirm with a current code) and removing one.
///
/// Every change takes the user's row lock first (`FOR NO KEY UPDATE`, as logins do), so the
/// changes of one user take turns: the limit of two apps holds however many requests race, and
/// the last accepted step of a code is read and written under the same lock as at login.
/// Adding and removing need a recent second factor or the current password (``checkPassword(_:_:)``).
public struct MethodService: DomainService, Sendable {
    let dependencies: DomainDependencies
    let login: LoginService

    /// Authenticator apps a user may have, confirmed and pending together (SPEC §13).
    public static let maxApps = 2
    /// How recent a session's second factor must be to add or remove a method without the
    /// password (SPEC §13: 10 minutes).
    public static let recentSecondFactor = 600
    /// The characters a method's name may have, after trimming (the table's own check).
    public static let nameLengths = 1...64

    public init(_ dependencies: DomainDependencies, login: LoginService) {
        self.dependencies = dependencies
        self.login = login
    }

    // MARK: List

    /// The email method first, then the confirmed methods, oldest first. Enrollments not yet
    /// confirmed are not methods and are not listed. One round trip.
    public func list(_ principal: Principal) async throws -> [SignInMethod] {
        let user = principal.user
        let rows = try await pool.readTenant(
            user.companyID,
            ("""
            SELECT NULL::uuid AS id, 'email' AS kind, 'Email' AS name, u.created_at, NULL::timestamptz AS last_used_at, 0 AS position
            FROM users u WHERE u.company_id = app_company() AND u.id = \(user.id)
            UNION ALL
            SELECT m.id, m.kind, m.name, m.confirmed_at, m.last_used_at, 1
            FROM user_methods m
            WHERE m.company_id = app_company() AND m.user_id = \(user.id) AND m.confirmed_at IS NOT NULL
            ORDER BY position, created_at, id
            """ as PQQuery).named("methods.list")
        )
        return try rows.map(Self.method)
    }

    // MARK: Add an authenticator app

    /// Starts adding an authenticator app: a new secret, sealed and stored, not usable until
    /// confirmed. At the limit, the oldest unconfirmed enrollment makes room; with none, 409
    /// `method_limit_reached`. Needs a recent second factor or the password.
    public func startTOTP(_ principal: Principal, name: String, password: String?, clientInfo: ClientInfo) async throws -> TOTPEnrollment {
        let user = principal.user
        let name = try Self.checkedName(name)
        let sessionID = principal.session.id
        let passwordChecked = try await checkPassword(user, password)
        let secret = SecureRandom.bytes(20)
        let sealed = secretBox.seal(secret)
        let uri = OTPAuthURI.make(secret: TOTP.base32(secret), issuer: principal.company.name, account: user.email)
        let id = try await pool.withTenant(user.companyID) { tx -> UUID in
            try Self.lockUser(user.id, in: tx)
            if !passwordChecked { try Self.requireRecentSecondFactor(sessionID: sessionID, in: tx) }
            let apps = try tx.query(
                "methods.apps",
                """
                SELECT id, confirmed_at IS NOT NULL AS confirmed FROM user_methods
                WHERE company_id = app_company() AND user_id = \(user.id) AND kind = 'totp'
                ORDER BY created_at, id
                """
            )
            if apps.count >= Self.maxApps {
                // Room is made by the oldest enrollment nobody confirmed (a tab left open, a
                // scan that failed); confirmed apps are only removed on purpose.
                guard let pending = try apps.first(where: { try !$0.decode("confirmed", as: Bool.self) }) else {
                    throw DomainError.methodLimitReached
                }
                tx.queue(
                    "methods.replace_pending",
                    "DELETE FROM user_methods WHERE company_id = app_company() AND id = \(try pending.decode("id", as: UUID.self))"
                )
            }
            let id = UUID()
            tx.queue(
                "methods.enroll",
                """
                INSERT INTO user_methods (company_id, id, user_id, kind, name, totp_sealed)
                VALUES (app_company(), \(id), \(user.id), 'totp', \(name), \(sealed))
                """
            )
            return id
        }
        return TOTPEnrollment(id: id, secret: TOTP.base32(secret), otpauthURI: uri)
    }

    /// Confirms an enrollment of the caller's with a current code of the app: from then on it
    /// is a method (event, notice). The code's step becomes the user's last accepted step, so
    /// the code cannot be used again to log in. A secret sealed under a rotated-out
    /// `TOLLGATE_SECRET` is sealed anew under the first.
    ///
    /// Starting the enrollment was authorized (a recent second factor or the password), and its
    /// secret was shown only to that request, so confirming asks for nothing more. A wrong code
    /// counts against the account's hourly wrong-code limit (SPEC §5, `wrong_codes:<user>`,
    /// the counter login codes use); at the limit, 429 `rate_limited` until the hour ends. It
    /// does not count towards the lock after 100 wrong codes in a row: that guards logins
    /// against someone who has the password, and the caller here is signed in with the secret
    /// in hand.
    public func confirmTOTP(_ principal: Principal, id: UUID, code: String, clientInfo: ClientInfo) async throws -> SignInMethod {
        let user = principal.user
        let (limits, box, logger) = (settings.limits, secretBox, self.logger)
        let company = principal.company
        return try await pool.commitThen(in: user.companyID) { tx -> CommitThen<SignInMethod> in
            // One read: the user's counters and last step under its lock, the enrollment, the clock.
            let rows = try tx.query(
                "methods.confirm_read",
                """
                SELECT \(unsafeSQL: AccountCounters.columns), u.totp_last_step, now() AS transaction_start,
                    clock_timestamp() AS database_now, m.name AS method_name, m.totp_sealed
                FROM users u \(unsafeSQL: AccountCounters.joins)
                LEFT JOIN user_methods m ON m.company_id = u.company_id AND m.user_id = u.id AND m.id = \(id)
                    AND m.kind = 'totp' AND m.confirmed_at IS NULL
                WHERE u.company_id = app_company() AND u.id = \(user.id) FOR NO KEY UPDATE OF u
                """
            )
            let row = try rows.first.orThrow()
            guard let sealed = try row.decode("totp_sealed", as: Data?.self) else { throw DomainError.notFoundObject }
            let name: String = try row.decode("method_name")
            let counters = try AccountCounters(row: row, withChallenges: true)
            let now: Date = try row.decode("database_now")
            let detail: [String: EventValue] = ["kind": .string("totp"), "method_id": .string(id.lowercasedString), "name": .string(name)]
            func record(_ type: EventType, _ extra: [String: EventValue] = [:]) {
                Event(
                    companyID: user.companyID,
                    type: type,
                    userID: user.id,
                    email: user.email,
                    client: clientInfo,
                    detail: detail.merging(extra) { $1 }
                )
                .record(in: tx)
            }
            let transactionStart: Date = try row.decode("transaction_start")
            if let refusal = CodeLimits.wrongCodesRefusal(of: user, counters: counters, limits: limits, at: transactionStart, in: tx) {
                if refusal.isFirstInWindow {
                    record(.methodRateLimited, ["limit": .string("wrong_codes_per_account"), "retry_after": .int(refusal.retryAfter)])
                }
                return .refuse(.rateLimited(retryAfter: refusal.retryAfter))
            }
            guard let (secret, renewed) = box.openRenewing(sealed) else {
                // Sealed under a secret no longer configured: nothing the user can fix by retrying.
                logger.error("methods.secret_unreadable", metadata: ["method.id": "\(id)"])
                throw MethodSecretUnreadable()
            }
            let lastStep: Int64? = try row.decode("totp_last_step")
            guard let step = TOTP.acceptedStep(of: code, secret: secret, at: now, after: lastStep) else {
                RateLimiter.queueHit(
                    CodeLimits.wrongCodesKey(user),
                    limit: limits.wrongCodesPerAccount,
                    window: limits.wrongCodesPerAccountWindow,
                    in: tx
                )
                record(.methodConfirmFailed)
                return .refuse(.wrongAppCode)
            }
            let confirmed = try tx.query(
                "methods.confirm",
                """
                WITH step AS (
                    UPDATE users SET totp_last_step = greatest(coalesce(totp_last_step, \(step)), \(step))
                    WHERE company_id = app_company() AND id = \(user.id)
                )
                UPDATE user_methods SET confirmed_at = clock_timestamp(), totp_sealed = coalesce(\(renewed)::bytea, totp_sealed)
                WHERE company_id = app_company() AND id = \(id) AND confirmed_at IS NULL
                RETURNING id, kind, name, confirmed_at AS created_at, last_used_at
                """
            )
            let method = try Self.method(try confirmed.first.orThrow())
            record(.methodAdded)
            Self.notice(.methodAdded, method: method, user: user, company: company, at: now, clientInfo: clientInfo, in: tx)
            return .answer(method)
        }
    }

    // MARK: Remove

    /// Removes one of the caller's confirmed methods (event, notice). The email method stays
    /// with every account: removing it is 409 `last_required_method`. Needs a recent second
    /// factor or the password; an unknown, unconfirmed or another user's id is 404.
    public func remove(_ principal: Principal, id text: String, password: String?, clientInfo: ClientInfo) async throws {
        let user = principal.user
        if text == SignInMethod.emailID { throw DomainError.emailMethodRequired }
        guard let id = UUID(uuidString: text) else { throw DomainError.notFoundObject }
        let sessionID = principal.session.id
        let passwordChecked = try await checkPassword(user, password)
        let company = principal.company
        try await pool.withTenant(user.companyID) { tx in
            try Self.lockUser(user.id, in: tx)
            if !passwordChecked { try Self.requireRecentSecondFactor(sessionID: sessionID, in: tx) }
            let removed = try tx.query(
                "methods.remove",
                """
                DELETE FROM user_methods
                WHERE company_id = app_company() AND id = \(id) AND user_id = \(user.id) AND confirmed_at IS NOT NULL
                RETURNING id, kind, name, confirmed_at AS created_at, last_used_at, clock_timestamp() AS removed_at,
                    (SELECT count(*) FROM user_methods p WHERE p.company_id = app_company() AND p.user_id = \(user.id)
                     AND p.kind = 'passkey') AS passkeys_before
                """
            )
            guard let row = removed.first else { throw DomainError.notFoundObject }
            let method = try Self.method(row)
            // A company that requires passkeys keeps each user's last one (thrown: rolled back).
            if method.kind == .passkey, company.policy.methods == .phishingResistant, try row.decode("passkeys_before", as: Int.self) <= 1 {
                throw DomainError.lastPasskeyRequired
            }
            Event(
                companyID: user.companyID,
                type: .methodRemoved,
                userID: user.id,
                email: user.email,
                client: clientInfo,
                detail: ["kind": .string(method.kind.rawValue), "method_id": .string(method.id), "name": .string(method.name)]
            ).record(in: tx)
            Self.notice(
                .methodRemoved,
                method: method,
                user: user,
                company: company,
                at: try row.decode("removed_at"),
                clientInfo: clientInfo,
                in: tx
            )
        }
    }
}

extension DomainError {
    public static let methodLimitReached = DomainError(
        .methodLimitReached,
        "You have \(MethodService.maxApps) authenticator apps already; remove one before adding another."
    )
    public static let emailMethodRequired = DomainError(
        .lastRequiredMethod,
        "The email method cannot be removed: every account keeps it as its fallback."
    )
    public static let lastPasskeyRequired = DomainError(
        .lastRequiredMethod,
        "Your company requires a passkey: add another before removing your last one."
    )
    static let wrongAppCode = DomainError(.invalidCode, "That code is not right; enter the current code of the app.")
}

/// A sealed secret that no configured `TOLLGATE_SECRET` opens: the secret it was sealed under
/// was dropped from the list. An operator's problem (a 500 and a log line), not the user's.
struct MethodSecretUnreadable: Error {}
