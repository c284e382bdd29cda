import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TollgateCore

/// The reference dashboard (SPEC §12): static HTML, CSS and JavaScript modules shipped with
/// the binary (`tollgate_TollgateHTTP.resources/Dashboard`, like the API document), served at
/// `/`, `/reset` and `/not-me` (one page; the script picks the screen) and `/assets/<file>`.
///
/// The page runs under a Content-Security-Policy without inline script or style, may not be
/// framed, and sends no referrer (a reset or "not me" token lives in the URL fragment, which
/// browsers never send, and the script drops it from history at once).
struct DashboardRoutes {
    /// Where the files are read from: the shipped copy, loaded once, or `DASHBOARD_DIRECTORY`,
    /// read at each request (so a page can be edited without rebuilding).
    enum Source {
        case shipped([String: ByteBuffer])
        case directory(String)
    }

    let source: Source
    /// The API's origin when the page is served from another one (`DASHBOARD_API_URL`).
    let apiBase: String?

    /// Page paths: every one answers the same document.
    static let pages = ["/", "/reset", "/not-me"]

    init(settings: HTTPSettings) throws {
        apiBase = settings.dashboardAPIURL
        if let directory = settings.dashboardDirectory {
            source = .directory(directory)
            return
        }
        let folder = OperationsRoutes.resourceFolder().appendingPathComponent("Dashboard")
        var files: [String: ByteBuffer] = [:]
        for name in ["index.html"]
            + ((try? FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("assets").path)) ?? [])
            .filter(Self.isAssetName).map({ "assets/" + $0 })
        {
            guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path) else {
                throw APIError(.internalServerError, "internal_error", "the dashboard file \(name) is missing")
            }
            files[name] = ByteBuffer(bytes: data)
        }
        source = .shipped(files)
    }

    /// Asset names are plain file names with a known type: nothing else (no `..`, no folders)
    /// can name a file.
    static func isAssetName(_ name: String) -> Bool {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return false }
        let stem = name[..<dot]
        return contentTypes[String(name[name.index(after: dot)...])] != nil
            && stem.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    static let contentTypes = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
        "svg": "image/svg+xml", "png": "image/png",
    ]

    private func file(_ name: String) -> ByteBuffer? {
        switch source {
        case .shipped(let files): return files[name]
        case .directory(let directory):
            return FileManager.default.contents(atPath: directory + "/" + name).map { ByteBuffer(bytes: $0) }
        }
    }

    /// The Content-Security-Policy of the page: its own scripts and styles only, and API calls
    /// to itself or the configured API origin.
    var contentSecurityPolicy: String {
        let connect = ["'self'"] + (apiBase.map { [$0] } ?? [])
        return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src \(connect.joined(separator: " ")); "
            + "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    }

    func register(on router: Router<TollgateRequestContext>) {
        let routes = self
        for page in Self.pages {
            router.get(RouterPath(page)) { _, _ -> Response in
                guard let html = routes.file("index.html") else { throw APIError.notFound }
                return routes.answer(routes.document(html), type: "html", isPage: true)
            }
        }
        router.get("/assets/:name") { _, context -> Response in
            guard let name = context.parameters.get("name"), Self.isAssetName(name), let body = routes.file("assets/" + name) else {
                throw APIError.notFound
            }
            return routes.answer(body, type: String(name[name.index(after: name.lastIndex(of: ".")!)...]), isPage: false)
        }
    }

    /// The page with the API's base URL in its `tollgate-api` meta tag (escaped for an attribute).
    private func document(_ html: ByteBuffer) -> ByteBuffer {
        guard let apiBase else { return html }
        let escaped = apiBase.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "<", with: "&lt;")
        let text = String(buffer: html).replacingOccurrences(
            of: #"<meta name="tollgate-api" content="">"#,
            with: #"<meta name="tollgate-api" content="\#(escaped)">"#
        )
        return ByteBuffer(string: text)
    }

    private func answer(_ body: ByteBuffer, type: String, isPage: Bool) -> Response {
        var headers: HTTPFields = [
            .contentType: Self.contentTypes[type] ?? "application/octet-stream",
            .xContentTypeOptions: "nosniff",
            HTTPField.Name("Referrer-Policy")!: "no-referrer",
            // Small files; revalidated so a new release shows at once.
            .cacheControl: "no-cache",
        ]
        if isPage {
            headers[.contentSecurityPolicy] = contentSecurityPolicy
            headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }
}
