import Foundation
import KairanCore

/// The character set a resident's mail is written in. Feature phones (garake) on the old
/// carrier gateways only read ISO-2022-JP; everything else gets UTF-8.
public enum MailCharset: String, Sendable, Codable, CaseIterable {
    case utf8 = "utf-8"
    case iso2022jp = "iso-2022-jp"
}

/// One plain-text message to one recipient, before rendering.
public struct OutgoingMail: Sendable {
    public var fromAddress: EmailAddress
    /// Display name of the sender, e.g. "〇〇町 防災メール"; may be empty.
    public var fromName: String
    public var to: EmailAddress
    public var subject: String
    /// Plain text with any line endings.
    public var body: String
    public var charset: MailCharset
    /// Without angle brackets, e.g. "d123.m45@mail.town.example.jp".
    public var messageID: String
    public var date: Date
    /// Per-recipient HTTPS one-click unsubscribe URL (RFC 8058).
    public var listUnsubscribeURL: String?
    /// e.g. "bousai.mail.town.example.jp" (RFC 2919).
    public var listID: String?

    public init(fromAddress: EmailAddress, fromName: String, to: EmailAddress, subject: String, body: String,
                charset: MailCharset, messageID: String, date: Date,
                listUnsubscribeURL: String? = nil, listID: String? = nil) {
        self.fromAddress = fromAddress
        self.fromName = fromName
        self.to = to
        self.subject = subject
        self.body = body
        self.charset = charset
        self.messageID = messageID
        self.date = date
        self.listUnsubscribeURL = listUnsubscribeURL
        self.listID = listID
    }
}

/// Renders an `OutgoingMail` to the bytes of an RFC 5322 / MIME message. Pure and
/// deterministic: the same mail always gives the same bytes (no locale, no clock, no random).
public enum MailRenderer {
    /// The message as sent in the SMTP DATA phase, BEFORE dot-stuffing: header lines and
    /// body lines each ending in CRLF, no terminating ".". `eightBitAllowed` is whether the
    /// server offered 8BITMIME.
    ///
    /// If the C library has no ISO-2022-JP converter, an ISO-2022-JP mail is rendered as UTF-8
    /// rather than not at all: an alert that some handsets show garbled beats one never sent.
    public static func render(_ mail: OutgoingMail, eightBitAllowed: Bool) -> [UInt8] {
        render(mail, body: encodeBody(mail.body, charset: mail.charset), footer: "", eightBitAllowed: eightBitAllowed)
    }

    /// The same message, its body given as `body` (encoded once for every recipient of a
    /// message, `encodeBody`) followed by `footer` (this recipient's own lines): the bytes
    /// are those of `render` with `mail.body` = the body's text + `footer`. `mail.body` is
    /// not read.
    static func render(_ mail: OutgoingMail, body shared: EncodedBody, footer: String, eightBitAllowed: Bool) -> [UInt8] {
        let encoder = shared.charset == .iso2022jp ? ISO2022JPEncoder.borrow() : nil
        defer { if let encoder { ISO2022JPEncoder.giveBack(encoder) } }
        // The encoder went missing since the shared part was encoded: all of it as UTF-8.
        if shared.charset == .iso2022jp, encoder == nil {
            var utf8 = mail
            utf8.charset = .utf8
            return render(utf8, body: encodeBody(shared.text, charset: .utf8), footer: footer, eightBitAllowed: eightBitAllowed)
        }
        let charset = shared.charset
        let rest = encodeLines(shared.tail + footer, charset: charset, encoder: encoder, noneIfEmpty: !shared.lines.isEmpty)
        let body: (transferEncoding: String, bytes: [UInt8])
        let joined = shared.lines + rest.lines
        let fits = shared.fits && rest.fits
        if charset == .iso2022jp {
            body = fits ? ("7bit", joined) : ("base64", base64Lines(joined))
        } else if fits, shared.ascii, rest.ascii {
            body = ("7bit", joined)
        } else if fits, eightBitAllowed {
            body = ("8bit", joined)
        } else {
            body = ("base64", base64Lines(joined))
        }

        // An alert's From and Subject are the same for thousands of recipients: encoded once.
        let (from, subject) = HeaderMemo.fields.value(
            for: HeaderMemo.Key(name: mail.fromName, address: mail.fromAddress.raw, subject: mail.subject, charset: charset)) {
            (HeaderEncoding.fromField(name: mail.fromName, address: mail.fromAddress, charset: charset, encoder: encoder),
             HeaderEncoding.subjectField(mail.subject, charset: charset, encoder: encoder))
        }
        var headers = [
            "Date: " + rfc5322Date(mail.date),
            from,
            "To: " + HeaderEncoding.addrSpec(mail.to),
            subject,
        ]
        let messageID = headerToken(mail.messageID, maxLength: 900)
        if !messageID.isEmpty { headers.append("Message-ID: <\(messageID)>") }
        headers += [
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=" + (charset == .utf8 ? "UTF-8" : "ISO-2022-JP"),
            "Content-Transfer-Encoding: " + body.transferEncoding,
        ]
        if let listID = mail.listID.map({ headerToken($0, maxLength: 255) }), !listID.isEmpty {
            headers.append("List-Id: <\(listID)>")
        }
        if let url = mail.listUnsubscribeURL.map({ headerToken($0, maxLength: .max) }), !url.isEmpty {
            // RFC 2369 lets a long URL be broken with folding white space that readers ignore;
            // a per-recipient token never gets near this, but no input may make a line > 998.
            let pieces = stride(from: 0, to: url.utf8.count, by: 900).map { start in
                String(decoding: Array(url.utf8).dropFirst(start).prefix(900), as: UTF8.self)
            }
            headers.append("List-Unsubscribe: <" + pieces.joined(separator: HeaderEncoding.fold) + ">")
            headers.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        }

        var out: [UInt8] = []
        out.reserveCapacity(1024 + body.bytes.count)
        for header in headers {
            out += header.utf8
            out += crlf
        }
        out += crlf
        out += body.bytes
        return out
    }

    static let crlf: [UInt8] = [0x0D, 0x0A]

    /// Caller-supplied identifiers (message id, list id, URL) are machine-made, but they still
    /// go into headers: keep only visible ASCII other than angle brackets, so none of them can
    /// break a line or close its `<...>` early.
    static func headerToken(_ value: String, maxLength: Int) -> String {
        let bytes = value.utf8.filter { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") }
        return String(decoding: bytes.prefix(maxLength), as: UTF8.self)
    }

    /// The body's lines as UTF-8, without terminators. CRLF, lone CR and lone LF all end a
    /// line; a final line break does not start another line, and an empty body is one empty line.
    static func bodyLines(_ body: String) -> [[UInt8]] {
        // Slices of one copy of the bytes, not a byte-by-byte append per line.
        let bytes = Array(body.utf8)
        var lines: [[UInt8]] = []
        var start = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x0D || byte == 0x0A {
                lines.append(Array(bytes[start..<index]))
                if byte == 0x0D, index + 1 < bytes.count, bytes[index + 1] == 0x0A { index += 1 }
                start = index + 1
            }
            index += 1
        }
        if start < bytes.count || lines.isEmpty { lines.append(Array(bytes[start...])) }
        return lines
    }

    /// A body's lines encoded in its charset, each ending in CRLF, up to and including its
    /// last LF; the text after it (`tail`) is encoded with the recipient's footer, since a
    /// line break in the footer may end the body's last line. Every recipient of a message
    /// shares this (`MailComposer` keeps it per message).
    ///
    /// 7bit for short ASCII lines, 8bit when the server takes it and every line fits SMTP's
    /// 998 octets, base64 otherwise (a NUL also forces base64: 7bit/8bit data may not hold
    /// one). ISO-2022-JP (RFC 1468) is 7bit, every line back in ASCII state before its CRLF,
    /// so a phone that loses one line (or shows lines separately) still decodes the next; a
    /// line over 998 octets once encoded makes the whole body base64 (charset unchanged).
    struct EncodedBody: Sendable {
        /// The charset written: UTF-8 when ISO-2022-JP was asked for and the C library has
        /// no converter.
        let charset: MailCharset
        let text: String
        let lines: [UInt8]
        /// Every line fits SMTP's limit (and, in UTF-8, holds no NUL).
        let fits: Bool
        let ascii: Bool
        let tail: String
    }

    static func encodeBody(_ text: String, charset requested: MailCharset) -> EncodedBody {
        let encoder = requested == .iso2022jp ? ISO2022JPEncoder.borrow() : nil
        defer { if let encoder { ISO2022JPEncoder.giveBack(encoder) } }
        let charset: MailCharset = encoder == nil ? .utf8 : .iso2022jp
        let bytes = Array(text.utf8)
        let split = (bytes.lastIndex(of: 0x0A) ?? -1) + 1
        let complete = encodeLines(String(decoding: bytes[..<split], as: UTF8.self), charset: charset, encoder: encoder, noneIfEmpty: true)
        return EncodedBody(charset: charset, text: text, lines: complete.lines, fits: complete.fits, ascii: complete.ascii,
                           tail: String(decoding: bytes[split...], as: UTF8.self))
    }

    /// `noneIfEmpty`: an empty text is no line (else one empty line, as an empty body is).
    private static func encodeLines(_ text: String, charset: MailCharset, encoder: ISO2022JPEncoder?, noneIfEmpty: Bool)
        -> (lines: [UInt8], fits: Bool, ascii: Bool) {
        if text.isEmpty, noneIfEmpty { return ([], true, true) }
        var out: [UInt8] = []
        var fits = true, ascii = true
        for line in bodyLines(text) {
            if let encoder, charset == .iso2022jp {
                let encoded = ISO2022JPEncoder.bytes(encoder.units(String(decoding: line, as: UTF8.self)))
                fits = fits && encoded.count <= HeaderEncoding.hardLimit
                out += encoded
            } else {
                fits = fits && line.count <= HeaderEncoding.hardLimit && !line.contains(0)
                ascii = ascii && line.allSatisfy { $0 < 0x80 }
                out += line
            }
            out += crlf
        }
        return (out, fits, ascii)
    }

    /// Base64 in lines of 76 characters, each ending in CRLF (RFC 2045 6.8).
    static func base64Lines(_ bytes: [UInt8]) -> [UInt8] {
        let text = Array(Data(bytes).base64EncodedString().utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.count + text.count / 38 + 2)
        var start = 0
        while start < text.count {
            let end = min(start + 76, text.count)
            out += text[start..<end]
            out += crlf
            start = end
        }
        return out
    }

    /// RFC 5322 date in Japan time, e.g. `Wed, 25 Nov 2026 17:34:47 +0900`. Computed by hand
    /// so no locale, time zone database or formatter cache can change a byte.
    static func rfc5322Date(_ date: Date) -> String {
        let raw = date.timeIntervalSince1970
        // Keep to years 0001...9999 so the integer conversion below can never trap.
        let seconds = raw.isFinite ? Int64(min(max(raw, -62_135_596_800), 253_402_300_799).rounded(.down)) : 0
        let local = seconds + 9 * 3600
        let days = local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
        let secondOfDay = local - days * 86_400
        let (year, month, day) = RFC3339.civil(fromDays: days)
        let weekday = Int(((days % 7) + 11) % 7)  // 1970-01-01 was a Thursday; 0 = Sunday
        let dayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func pad(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(dayNames[weekday]), \(pad(day, 2)) \(monthNames[Int(month - 1)]) \(pad(year, 4)) "
            + "\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay % 3600 / 60, 2)):\(pad(secondOfDay % 60, 2)) +0900"
    }
}

/// The encoded From and Subject fields, by their inputs.
enum HeaderMemo {
    struct Key: Hashable, Sendable {
        let name: String
        let address: String
        let subject: String
        let charset: MailCharset
    }
    static let fields = BoundedMemo<Key, (String, String)>()
}
