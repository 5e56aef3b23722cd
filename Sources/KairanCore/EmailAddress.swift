/// A mail address as residents actually have them.
///
/// Japanese carriers issued addresses for years that RFC 5321 calls invalid dot-atoms
/// (`taro..yamada@docomo.ne.jp`, `hanako.@ezweb.ne.jp`). They still receive mail, so we
/// accept them, keep the local part byte-exact, and only fold the domain's case.
public struct EmailAddress: Hashable, Sendable, CustomStringConvertible {
    /// The address exactly as the person typed it.
    public let raw: String
    public let localPart: String
    public let domain: String

    public static let maxLength = 254
    public static let maxLocalPartLength = 64

    public init(_ input: String) throws(ValidationError) {
        let invalid = ValidationError(field: "email", code: "invalid_email", message: "email must be a mail address such as name@example.jp")
        guard !input.isEmpty else { throw ValidationError(field: "email", code: "required", message: "email is required") }
        guard input.utf8.count <= Self.maxLength else {
            throw ValidationError(field: "email", code: "too_long", message: "email must be at most \(Self.maxLength) bytes")
        }
        guard let at = input.lastIndex(of: "@") else { throw invalid }
        let local = String(input[..<at])
        let domain = String(input[input.index(after: at)...])
        guard !local.isEmpty, local.utf8.count <= Self.maxLocalPartLength else { throw invalid }
        // Local part: printable ASCII atext plus dots in any position (carrier legacy).
        // Anything that could break an SMTP command or a header (space, CR, LF, quotes,
        // angle brackets, backslash, '@') is refused here, once, for every later use.
        for byte in local.utf8 where !Self.isLocalPartByte(byte) { throw invalid }
        guard Self.isValidDomain(domain) else { throw invalid }
        self.raw = input
        self.localPart = local
        self.domain = domain
    }

    /// The key two addresses are compared by: local part as-is, domain lower-cased.
    public var comparisonKey: String { localPart + "@" + domain.lowercased() }

    /// Whether the local part is not a valid RFC 5321 dot-atom and must be quoted in SMTP.
    public var needsQuotedLocalPart: Bool {
        localPart.hasPrefix(".") || localPart.hasSuffix(".") || localPart.contains("..")
    }

    /// Mobile carriers' mail domains (docomo, au, SoftBank, Y!mobile and older brands).
    public static let japaneseCarrierDomains: Set<String> = [
        "docomo.ne.jp", "ezweb.ne.jp", "au.com", "softbank.ne.jp", "i.softbank.jp", "ymobile.ne.jp", "y-mobile.ne.jp",
        "emobile.ne.jp", "willcom.com", "pdx.ne.jp", "disney.ne.jp",
    ]

    /// The carrier a mail domain belongs to, as town staff name them; nil for any other
    /// domain (PCs, free mail).
    public static func carrier(ofDomain domain: String) -> String? {
        switch domain.lowercased() {
        case "docomo.ne.jp": return "docomo"
        case "ezweb.ne.jp", "au.com": return "au"
        case "softbank.ne.jp", "i.softbank.jp", "ymobile.ne.jp", "y-mobile.ne.jp", "emobile.ne.jp", "disney.ne.jp": return "SoftBank・Y!mobile"
        case let other where japaneseCarrierDomains.contains(other): return "その他の携帯"
        default: return nil
        }
    }

    /// Whether this is a mobile carrier's address (older phones read ISO-2022-JP only).
    public var isJapaneseCarrier: Bool { Self.isJapaneseCarrier(domain: domain) }

    public static func isJapaneseCarrier(domain: String) -> Bool { japaneseCarrierDomains.contains(domain.lowercased()) }

    /// The charset mail to this address gets unless someone chose otherwise: ISO-2022-JP for
    /// the carriers, UTF-8 for everyone else. One rule, whichever path stored the address.
    public var defaultMailCharset: String { isJapaneseCarrier ? "iso-2022-jp" : "utf-8" }

    /// A form safe for logs: never the full address (APPI).
    public var redacted: String {
        "\(localPart.prefix(1))***@\(domain.lowercased())"
    }

    public var description: String { redacted }

    static func isLocalPartByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-/=?^_`{|}~.".utf8.contains(byte)
        }
    }

    public static func isValidDomain(_ domain: String) -> Bool {
        guard !domain.isEmpty, domain.utf8.count <= 253 else { return false }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        for label in labels {
            guard !label.isEmpty, label.utf8.count <= 63, label.first != "-", label.last != "-" else { return false }
            for byte in label.utf8 {
                let ok = (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                    || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                    || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                    || byte == UInt8(ascii: "-")
                guard ok else { return false }
            }
        }
        return true
    }
}
