import Crypto
import Foundation
import Hummingbird
import KairanAPI

/// The one stylesheet and the one script, served from the binary. Their URLs carry a hash
/// of their content, so browsers may keep them for a year and still see a new release.
enum Assets {
    static let version: String = {
        let digest = SHA256.hash(data: Data((Stylesheet.text + LiveScript.text).utf8))
        return digest.prefix(6).map { String(format: "%02x", $0) }.joined()
    }()

    static func addRoutes(to router: Router<KairanRequestContext>) {
        router.get("/static/kairan.css") { _, _ in asset(Stylesheet.text, type: "text/css; charset=utf-8") }
        router.get("/static/kairan.js") { _, _ in asset(LiveScript.text, type: "text/javascript; charset=utf-8") }
    }

    static func asset(_ text: String, type: String) -> Response {
        var headers: HTTPFields = [:]
        headers[.contentType] = type
        headers[.cacheControl] = "public, max-age=31536000, immutable"
        headers[.init("X-Content-Type-Options")!] = "nosniff"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
