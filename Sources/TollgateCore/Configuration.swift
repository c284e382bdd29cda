public import Foundation

/// A configuration value that is missing or malformed, naming its variable.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let variable: String
    public let problem: String
    public var description: String { "\(variable): \(problem)" }

    public init(variable: String, problem: String) {
        self.variable = variable
        self.problem = problem
    }
}

/// Reads typed values from the environment; an empty value counts as unset.
///
/// Each module's settings type (``DatabaseSettings``, ``DomainSettings``, ``RetentionSettings``,
/// and the HTTP and mail settings of their modules) reads its own variables through one of
/// these; the `tollgate` executable composes them (SPEC §7).
public struct EnvironmentReader: Sendable {
    public let environment: [String: String]

    public init(_ environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    public func string(_ name: String) -> String? {
        guard let value = environment[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    /// Whole numbers only (durations are whole seconds), within `range`.
    public func integer(_ name: String, default fallback: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = string(name) else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            throw ConfigurationError(variable: name, problem: "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// A whole number within `range`, or nil when unset (an optional port).
    public func integer(_ name: String, range: ClosedRange<Int>) throws -> Int? {
        guard string(name) != nil else { return nil }
        return try integer(name, default: range.lowerBound, range: range)
    }

    public func list(_ name: String) throws -> [String] {
        guard let text = string(name) else { return [] }
        return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// An `http://` or `https://` address without a trailing `/` whose characters all pass
    /// `allowed`; nil when unset, else the error names the variable with `problem`.
    public func webAddress(_ name: String, problem: String, allowed: (Character) -> Bool) throws -> String? {
        guard let url = string(name) else { return nil }
        guard url.hasPrefix("http://") || url.hasPrefix("https://"), !url.hasSuffix("/"), URL(string: url)?.host != nil,
            url.allSatisfy({ !$0.isWhitespace && allowed($0) })
        else {
            throw ConfigurationError(variable: name, problem: problem)
        }
        return url
    }
}
