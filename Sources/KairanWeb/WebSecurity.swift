import Crypto
import Foundation
import Hummingbird
import KairanCore
import KairanStore
import NIOConcurrencyHelpers

/// The cookies the pages use, and the form tokens that prove a POST came from our own page.
///
/// Forms carry a token derived with a server key from a random per-browser cookie
/// (`kairan_csrf`) and the session (a signed double submit bound to the login): a page on
/// another site can neither read the cookie nor compute the token, a token shown to someone
/// else's session does not fit ours, and the cookie is replaced at every login and logout.
/// Each POST is also checked for a foreign `Origin` and for `Sec-Fetch-Site: cross-site` or
/// `same-site`, so a cross-site form post is refused before the token is even looked at.
struct WebSecurity: Sendable {
    static let csrfField = "csrf"

    /// `Secure` on every cookie when the public URL is https.
    let secureCookies: Bool
    /// The public URL's origin (`https://kairan.town.example.jp`), which a browser's
    /// `Origin` may name when a reverse proxy in front rewrites `Host`.
    let publicOrigin: String?
    let keys: FormKeys

    /// Behind https the cookies carry the `__Host-` prefix: a browser then takes them only
    /// from this host, over https, for the whole site, so no sibling subdomain can plant one.
    var sessionCookieName: String { secureCookies ? "__Host-kairan_session" : "kairan_session" }
    var csrfCookieName: String { secureCookies ? "__Host-kairan_csrf" : "kairan_csrf" }

    /// The Content-Security-Policy of every page: our own scripts, styles and sockets only,
    /// no inline code, no framing.
    static let contentSecurityPolicy = [
        "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
        "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'", "object-src 'none'",
    ].joined(separator: "; ")

    func sessionCookie(_ token: String, maxAge: Int) -> Cookie {
        Cookie(name: sessionCookieName, value: token, maxAge: maxAge, path: "/", secure: secureCookies, httpOnly: true, sameSite: .lax)
    }

    func expiredSessionCookie() -> Cookie {
        Cookie(name: sessionCookieName, value: "", maxAge: 0, path: "/", secure: secureCookies, httpOnly: true, sameSite: .lax)
    }

    func csrfCookie(_ seed: String) -> Cookie {
        Cookie(name: csrfCookieName, value: seed, path: "/", secure: secureCookies, httpOnly: true, sameSite: .lax)
    }

    /// A new random seed for the CSRF cookie.
    static func newSeed() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64URLEncoded()
    }

    /// The form token for a seed and the session (nil: signed out).
    func token(for seed: String, session: Int64?, database: Database) async throws -> String {
        let key = try await keys.key(database)
        let mac = HMAC<SHA256>.authenticationCode(for: Self.message(seed, session), using: key)
        return Data(mac).base64URLEncoded()
    }

    /// True when `token` was made for `seed` and `session` (compared in constant time).
    func verify(_ token: String, seed: String, session: Int64?, database: Database) async throws -> Bool {
        guard !seed.isEmpty, token.utf8.count <= 100, let given = Data(base64URLEncoded: token) else { return false }
        let key = try await keys.key(database)
        return HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: Self.message(seed, session), using: key)
    }

    private static func message(_ seed: String, _ session: Int64?) -> Data {
        Data("csrf|\(seed)|\(session ?? 0)".utf8)
    }

    /// False for a request another site made: an `Origin` that is not this host, or a
    /// browser saying the request is cross-site.
    func isSameOrigin(_ request: Request) -> Bool {
        if let site = request.headers[.init("Sec-Fetch-Site")!], site == "cross-site" || site == "same-site" { return false }
        guard let origin = request.headers[.origin] else { return true }
        if let publicOrigin, origin.lowercased() == publicOrigin { return true }
        guard let host = request.head.authority,
              let url = URL(string: origin), let originHost = url.host else { return false }
        let originAuthority = url.port.map { "\(originHost):\($0)" } ?? originHost
        return originAuthority.lowercased() == host.lowercased()
    }
}

/// `scheme://host[:port]` of a URL, lowercased; nil when it has no host.
func origin(of url: String) -> String? {
    guard let parsed = URL(string: url), let scheme = parsed.scheme, let host = parsed.host else { return nil }
    return (scheme + "://" + host + (parsed.port.map { ":\($0)" } ?? "")).lowercased()
}

/// The server key the form tokens are made with: generated once per database (migration
/// 0016), so every instance agrees; read once per process.
final class FormKeys: Sendable {
    /// The key's bytes (SymmetricKey is not Sendable).
    private let cached = NIOLockedValueBox<[UInt8]?>(nil)

    func key(_ database: Database) async throws -> SymmetricKey {
        if let bytes = cached.withLockedValue({ $0 }) { return SymmetricKey(data: bytes) }
        let secret = try await database.withConnection { db in try await ServerSecretStore.webForms(on: db) }
        let bytes = Array(SHA256.hash(data: Data(secret.utf8)))
        cached.withLockedValue { $0 = bytes }
        return SymmetricKey(data: bytes)
    }
}
