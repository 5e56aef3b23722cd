import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How Web Push is allowed to reach out.
public struct PushSettings: Sendable {
    /// Devices one account may register; past it the longest-silent one is dropped.
    public var maxDevicesPerAccount = 10
    /// Plain-HTTP endpoints on this machine (127.0.0.1, ::1, localhost): for a push
    /// service run locally by the test suite, never in a town's deployment.
    public var allowLoopbackHTTP = false

    public init(maxDevicesPerAccount: Int = 10, allowLoopbackHTTP: Bool = false) {
        self.maxDevicesPerAccount = maxDevicesPerAccount
        self.allowLoopbackHTTP = allowLoopbackHTTP
    }
}

/// A push endpoint a browser gave us: a URL of its push service that we will POST to.
///
/// Anyone with an account can hand us one, so it is checked as the request it will become
/// (server-side request forgery): `https` only, no credentials in it, and no host that is
/// this machine or the town's private network — as written here, and again for every
/// address its name resolves to when a push is sent (`PushEndpoint.refusedAddress`).
public enum PushEndpoint {
    public static let maxLength = 2048

    public enum Problem: Error, Equatable, Sendable {
        case malformed
        case notHTTPS
        case privateAddress
    }

    /// The endpoint as a URL, or why it is refused.
    public static func check(_ text: String, settings: PushSettings) throws(Problem) -> URL {
        guard text.utf8.count <= maxLength, !text.contains(where: { $0.isWhitespace || $0.isNewline }),
              let components = URLComponents(string: text), let url = components.url,
              let scheme = components.scheme?.lowercased(), let host = components.host, !host.isEmpty,
              components.user == nil, components.password == nil, components.fragment == nil else {
            throw .malformed
        }
        // The test suite's own push service (and nothing else) may be on this machine.
        let testService = settings.allowLoopbackHTTP && isLoopbackName(host)
        guard scheme == "https" || (scheme == "http" && testService) else { throw .notHTTPS }
        if !testService, isLoopbackName(host) || ipLiteral(host).map({ !isPublic($0) }) == true { throw .privateAddress }
        return url
    }

    static func isLoopbackName(_ host: String) -> Bool {
        let name = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]."))
        if name == "localhost" || name.hasSuffix(".localhost") { return true }
        guard let address = ipLiteral(host) else { return false }
        return address == [UInt8](repeating: 0, count: 15) + [1] || (address.count == 4 && address[0] == 127)
    }

    /// The host's bytes when it is an IPv4 or IPv6 literal (4 or 16 bytes).
    public static func ipLiteral(_ host: String) -> [UInt8]? {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var v4 = in_addr()
        if inet_pton(AF_INET, bare, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, bare, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    /// False for this machine, private networks, link-local, carrier-grade NAT, multicast
    /// and the unspecified address: nowhere a push service lives.
    public static func isPublic(_ address: [UInt8]) -> Bool {
        if address.count == 4 {
            let (a, b) = (address[0], address[1])
            return !(a == 0 || a == 10 || a == 127 || (a == 100 && (64...127).contains(b)) || (a == 169 && b == 254)
                     || (a == 172 && (16...31).contains(b)) || (a == 192 && b == 168) || a >= 224)
        }
        guard address.count == 16 else { return false }
        // IPv4-mapped (::ffff:a.b.c.d): judged as the IPv4 address.
        if address[0..<10].allSatisfy({ $0 == 0 }) && address[10] == 0xff && address[11] == 0xff { return isPublic(Array(address[12...])) }
        if address[0..<15].allSatisfy({ $0 == 0 }) { return false }  // :: and ::1
        if address[0] & 0xfe == 0xfc { return false }  // fc00::/7 unique local
        if address[0] == 0xfe && address[1] & 0xc0 == 0x80 { return false }  // fe80::/10 link-local
        if address[0] == 0xff { return false }  // multicast
        return true
    }
}
