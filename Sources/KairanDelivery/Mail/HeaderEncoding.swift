import Foundation
import KairanCore

/// Header fields built from free text (subject, sender name) and addresses: RFC 5322 folding,
/// RFC 2047 encoded words, and the sanitising that makes header injection impossible.
enum HeaderEncoding {
    /// RFC 5322 2.1.1: lines SHOULD be at most 78 characters and MUST be at most 998.
    static let softLimit = 78
    static let hardLimit = 998
    /// RFC 2047 2: an encoded word is at most 75 characters.
    static let maxEncodedWord = 75
    static let fold = "\r\n "

    /// Free text as it may appear in a header: every line break, C0/C1 control, DEL and
    /// Unicode line/paragraph separator becomes a space, runs of spaces collapse to one, and
    /// the ends are trimmed. After this no input can start a new header line, whatever the
    /// encoding that follows does.
    static func sanitized(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var pendingSpace = false
        for scalar in text.unicodeScalars {
            let value = scalar.value
            let isBreak = value <= 0x20 || value == 0x7F || (0x80...0x9F).contains(value)
                || value == 0x2028 || value == 0x2029
            if isBreak {
                pendingSpace = !out.isEmpty
                continue
            }
            if pendingSpace { out.append(" "); pendingSpace = false }
            out.append(scalar)
        }
        return String(out)
    }

    /// Printable ASCII that can go into a header unencoded. Text containing "=?" is encoded
    /// anyway, so a reader's RFC 2047 decoder cannot be made to show something else.
    static func isPlainASCII(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F } && !text.contains("=?")
    }

    /// `Subject: ...`, folded with CRLF + space where needed.
    static func subjectField(_ subject: String, charset: MailCharset, encoder: ISO2022JPEncoder?) -> String {
        let prefix = "Subject: "
        let text = sanitized(subject)
        if isPlainASCII(text), let folded = foldAtSpaces(prefix: prefix, text: text) { return folded }
        let words = encodedWords(text, charset: charset, encoder: encoder, firstMax: softLimit - prefix.utf8.count)
        return prefix + words.joined(separator: fold)
    }

    /// `From: ...`: `"Name" <addr>`, `=?charset?B?...?= <addr>`, or a bare address.
    static func fromField(name: String, address: EmailAddress, charset: MailCharset, encoder: ISO2022JPEncoder?) -> String {
        let prefix = "From: "
        let spec = addrSpec(address)
        let text = sanitized(name)
        guard !text.isEmpty else { return prefix + spec }
        var lines: [String]
        let quoted = quotedString(text)
        if isPlainASCII(text), prefix.utf8.count + quoted.utf8.count <= softLimit {
            lines = [prefix + quoted]
        } else {
            // A long ASCII name goes into encoded words too: they fold cleanly, a quoted-string
            // split across lines confuses more readers than it helps.
            let words = encodedWords(text, charset: charset, encoder: encoder, firstMax: softLimit - prefix.utf8.count)
            lines = [prefix + (words.first ?? "")] + words.dropFirst().map { " " + $0 }
        }
        let angle = "<" + spec + ">"
        if let last = lines.last, last.utf8.count + 1 + angle.utf8.count <= softLimit {
            lines[lines.count - 1] = last + " " + angle
        } else {
            lines.append(" " + angle)
        }
        return lines.joined(separator: "\r\n")
    }

    /// The address as written in a header. Carrier legacy local parts (`taro..yamada`) are not
    /// dot-atoms, so RFC 5322 needs them as a quoted-string: `"taro..yamada"@docomo.ne.jp`.
    static func addrSpec(_ address: EmailAddress) -> String {
        guard address.needsQuotedLocalPart else { return address.localPart + "@" + address.domain }
        return quotedString(address.localPart) + "@" + address.domain
    }

    static func quotedString(_ text: String) -> String {
        var out = "\""
        for character in text {
            if character == "\"" || character == "\\" { out.append("\\") }
            out.append(character)
        }
        return out + "\""
    }

    /// Folds ASCII text at its spaces (each fold keeps the space, so unfolding restores the
    /// text exactly). Nil if some word is too long to fit in 998 octets even on its own line.
    static func foldAtSpaces(prefix: String, text: String) -> String? {
        var lines: [String] = [prefix]
        for (index, word) in text.split(separator: " ").enumerated() {
            let last = lines[lines.count - 1]
            if index == 0 || last.utf8.count + 1 + word.utf8.count <= softLimit {
                lines[lines.count - 1] = last + (index == 0 ? "" : " ") + word
            } else {
                lines.append(" " + word)
            }
        }
        guard lines.allSatisfy({ $0.utf8.count <= hardLimit }) else { return nil }
        return lines.joined(separator: "\r\n")
    }

    /// RFC 2047 B-encoded words for `text`, the first at most `firstMax` characters (it shares
    /// its line with the field name), the others at most 75. Words never split a character: a
    /// UTF-8 word holds whole characters (whole scalars if one character is enormous), an
    /// ISO-2022-JP word starts and ends in ASCII state, so each word decodes on its own.
    static func encodedWords(_ text: String, charset: MailCharset, encoder: ISO2022JPEncoder?, firstMax: Int) -> [String] {
        let label = charset == .utf8 || encoder == nil ? "UTF-8" : "ISO-2022-JP"
        let overhead = "=?\(label)?B??=".utf8.count
        let firstBytes = max(1, (firstMax - overhead) / 4) * 3
        let restBytes = (maxEncodedWord - overhead) / 4 * 3
        var chunks: [[UInt8]] = []
        if let encoder, charset == .iso2022jp {
            var current: [JISUnit] = []
            for unit in encoder.units(text) {
                let budget = chunks.isEmpty ? firstBytes : restBytes
                if !current.isEmpty, ISO2022JPEncoder.bytes(current + [unit]).count > budget {
                    chunks.append(ISO2022JPEncoder.bytes(current))
                    current = []
                }
                current.append(unit)
            }
            if !current.isEmpty { chunks.append(ISO2022JPEncoder.bytes(current)) }
        } else {
            var current: [UInt8] = []
            for character in text {
                let bytes = Array(character.utf8)
                let pieces = bytes.count <= min(firstBytes, restBytes)
                    ? [bytes] : character.unicodeScalars.map { Array(String($0).utf8) }
                for piece in pieces {
                    let budget = chunks.isEmpty ? firstBytes : restBytes
                    if !current.isEmpty, current.count + piece.count > budget {
                        chunks.append(current)
                        current = []
                    }
                    current += piece
                }
            }
            if !current.isEmpty { chunks.append(current) }
        }
        if chunks.isEmpty { chunks = [[]] }
        return chunks.map { "=?\(label)?B?" + Data($0).base64EncodedString() + "?=" }
    }
}
