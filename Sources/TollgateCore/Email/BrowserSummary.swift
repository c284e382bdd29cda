import Foundation

/// A short, safe description of a `User-Agent` for emails ("Firefox 121 on Windows").
///
/// The header is the client's own text: printed whole next to a live code it lets an
/// attacker write into the victim's email ("call support at …", a link). Only names from a
/// fixed list and a major version number (digits) come out, so the result is at most 60
/// characters and can carry nothing the attacker chose but which of these it claims to be.
public enum BrowserSummary {
    /// Browser tokens in the order they must be tried (Edge and Opera also say Chrome,
    /// Chrome also says Safari).
    private static let browsers: [(token: String, name: String)] = [
        ("Edg/", "Edge"), ("EdgA/", "Edge"), ("EdgiOS/", "Edge"), ("OPR/", "Opera"), ("SamsungBrowser/", "Samsung Internet"),
        ("Firefox/", "Firefox"), ("FxiOS/", "Firefox"), ("CriOS/", "Chrome"), ("Chromium/", "Chromium"), ("Chrome/", "Chrome"),
        ("curl/", "curl"), ("python-requests/", "Python requests"),
    ]
    private static let systems: [(token: String, name: String)] = [
        ("iPhone", "iOS"), ("iPad", "iPadOS"), ("Android", "Android"), ("CrOS", "ChromeOS"), ("Windows", "Windows"),
        ("Mac OS X", "macOS"), ("Macintosh", "macOS"), ("Linux", "Linux"),
    ]

    public static func describe(_ userAgent: String?) -> String {
        guard let userAgent, !userAgent.isEmpty else { return "unknown browser" }
        var browser: String?
        for (token, name) in browsers {
            if let range = userAgent.range(of: token) {
                browser = name + majorVersion(userAgent[range.upperBound...])
                break
            }
        }
        if browser == nil, userAgent.contains("Safari/"), let range = userAgent.range(of: "Version/") {
            browser = "Safari" + majorVersion(userAgent[range.upperBound...])
        }
        let system = systems.first { userAgent.contains($0.token) }?.name
        switch (browser, system) {
        case let (browser?, system?): return "\(browser) on \(system)"
        case let (browser?, nil): return browser
        case let (nil, system?): return "a browser on \(system)"
        case (nil, nil): return "unrecognised browser"
        }
    }

    /// " 121" from "121.0.6167.85 …", or "" when no digits follow (at most four digits).
    private static func majorVersion(_ text: Substring) -> String {
        let digits = text.prefix { $0.isASCII && $0.isNumber }.prefix(4)
        return digits.isEmpty ? "" : " " + digits
    }
}
