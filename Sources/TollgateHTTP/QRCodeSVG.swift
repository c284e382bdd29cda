import CQRencode
import Foundation

/// QR codes as SVG for the authenticator-app enrollment (SPEC §13): libqrencode encodes, this
/// draws. One `<path>` of the dark modules on a white square with the 4-module quiet zone the
/// standard asks for, `crispEdges` so no scaler blurs the module edges; `role="img"` and a
/// `<title>` name it for a screen reader when it is inlined. Nothing secret goes in the title.
enum QRCodeSVG {
    /// Light modules around the symbol (ISO/IEC 18004: at least 4).
    static let quietZone = 4
    /// Pixels per module of the intrinsic size: 5 makes the usual enrollment (version 7 to 10,
    /// 45 to 57 modules and the quiet zone) 265 to 325 pixels, easy for a phone's camera.
    static let scale = 5

    /// The symbol's modules row by row, true for dark: error correction level M (15 %), the
    /// text in byte mode or, where shorter, libqrencode's optimal mix of modes; the smallest
    /// version that holds it. nil when the text is longer than any QR code holds (2,331 bytes
    /// at level M) or contains a NUL.
    static func modules(for text: String) -> [[Bool]]? {
        guard !text.utf8.contains(0), let code = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1) else { return nil }
        defer { QRcode_free(code) }
        let width = Int(code.pointee.width)
        let data = code.pointee.data!
        // Each byte is one module; its lowest bit says dark (the other bits describe its role).
        return (0..<width).map { y in (0..<width).map { x in data[y * width + x] & 1 == 1 } }
    }

    /// The QR code of `text` as a standalone SVG document; nil as ``modules(for:)``.
    static func svg(for text: String, title: String = "QR code") -> String? {
        guard let rows = modules(for: text) else { return nil }
        let size = rows.count + 2 * quietZone
        var path = ""
        for (y, row) in rows.enumerated() {
            var x = 0
            while x < row.count {
                guard row[x] else {
                    x += 1
                    continue
                }
                // One rectangle per run of dark modules in a row.
                let start = x
                while x < row.count && row[x] { x += 1 }
                path += "M\(start + quietZone) \(y + quietZone)h\(x - start)v1h-\(x - start)z"
            }
        }
        let title = title.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        return """
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(size) \(size)" width="\(size * scale)" height="\(size * scale)" \
            shape-rendering="crispEdges" role="img"><title>\(title)</title>\
            <rect width="\(size)" height="\(size)" fill="#fff"/><path fill="#000" d="\(path)"/></svg>
            """
    }
}
