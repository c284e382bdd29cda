/// A kind of second factor (SPEC §13), strongest first: the order a login lists them in.
public enum SecondFactor: String, Sendable, CaseIterable, Comparable {
    case passkey, totp, email

    public static func < (lhs: SecondFactor, rhs: SecondFactor) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// A company's policy on second factors (SPEC §13, §14): which methods count at login, and
/// how often a dashboard user is asked.
public struct SignInPolicy: Sendable, Equatable {
    public enum Methods: String, Sendable, CaseIterable {
        /// Codes by email only: every company's default.
        case email
        /// Any of the user's methods, email included.
        case any
        /// Passkeys only. A user without one gets one email login that leads to adding one.
        case phishingResistant = "phishing_resistant"
    }

    public enum Ask: String, Sendable, CaseIterable {
        case everyLogin = "every_login"
        /// Once per browser every ``SignInPolicy/rememberDays`` days.
        case perBrowser = "per_browser"
    }

    public static let rememberDaysRange = 1...30

    public var methods: Methods
    public var ask: Ask
    public var rememberDays: Int

    public init(methods: Methods = .email, ask: Ask = .everyLogin, rememberDays: Int = 30) {
        self.methods = methods
        self.ask = ask
        self.rememberDays = rememberDays
    }

    /// The methods a user who has `kinds` besides email may log in with now, strongest first;
    /// the first is the one the code screen opens with.
    public func loginMethods(userHas kinds: Set<SecondFactor>) -> [SecondFactor] {
        switch methods {
        case .email: return [.email]
        case .any: return (kinds.subtracting([.email]).sorted()) + [.email]
        // Email only for the enrollment login of a user without a passkey.
        case .phishingResistant: return kinds.contains(.passkey) ? [.passkey] : [.email]
        }
    }

    /// Whether a browser may be remembered, and for how many days.
    public var rememberFor: Int? { ask == .perBrowser ? rememberDays : nil }
}
