import Testing
import TollgateCore

/// Issue 11: the browser line of a code email is a short parsed form of the User-Agent.
@Suite struct BrowserSummaryTests {
    @Test(arguments: [
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox 121 on Windows"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
            "Safari 17 on macOS"
        ),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "Chrome 120 on Linux"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.61",
            "Edge 120 on Windows"
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/119.0.6045.169 Mobile/15E148 Safari/604.1",
            "Chrome 119 on iOS"
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Mobile Safari/537.36",
            "Chrome 120 on Android"
        ),
        ("curl/7.88.1", "curl 7"),
    ])
    func namesTheBrowserAndSystem(userAgent: String, expected: String) {
        #expect(BrowserSummary.describe(userAgent) == expected)
    }

    @Test func attackerTextNeverComesThrough() {
        let hostile = [
            "Call +1 555 0100 now: your account is compromised! Visit https://evil.example/reset " + String(repeating: "A", count: 500),
            "Firefox/99999999999999 https://evil.example",
            "Chrome/<script>alert(1)</script> (Windows) call https://evil.example",
            "\r\nBcc: x@evil.example",
        ]
        for userAgent in hostile {
            let summary = BrowserSummary.describe(userAgent)
            #expect(summary.count <= 60)
            #expect(!summary.contains("http") && !summary.contains("evil") && !summary.contains("<") && !summary.contains("555"))
            #expect(summary.allSatisfy { $0.isLetter || $0.isNumber || $0 == " " })
        }
        #expect(BrowserSummary.describe(nil) == "unknown browser")
    }
}
