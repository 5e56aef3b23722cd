import Foundation
import KairanCore
import Testing
@testable import KairanDelivery
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct MailRenderingTests {
    // MARK: A message's body encoded once

    /// The worker encodes a message's text once and each recipient's footer on its own
    /// (`MailComposer`): the bytes must be those of the whole body rendered at once, for
    /// every way a body can end, in both charsets, with and without 8BITMIME.
    @Test func aBodyEncodedOnceRendersAsTheWholeBody() throws {
        let long = String(repeating: "避難", count: 400)  // 2,400 octets in UTF-8: base64
        let bodies = ["", "一行", "一行\n", "一行\r", "一行\r\n", "\n", "\r", "a\nb", "避難所\n\n開設\r\nしました", "end\r\n\r\n",
                      "ascii only\nlines", "nul\u{0}here\n", long, "前\n\(long)\n後"]
        let footers = ["", "\n", "\n\n--\n配信設定の変更・配信停止:\nhttps://k.example.jp/m/s/abc\n", "\r\n", "tail", "\n\(long)"]
        for charset in MailCharset.allCases {
            for body in bodies {
                let encoded = MailRenderer.encodeBody(body, charset: charset)
                for footer in footers {
                    for eightBit in [true, false] {
                        let whole = MailRenderer.render(try Self.mail(body: body + footer, charset: charset), eightBitAllowed: eightBit)
                        let parts = MailRenderer.render(try Self.mail(body: "", charset: charset), body: encoded, footer: footer,
                                                        eightBitAllowed: eightBit)
                        let label = "\(charset) \(body.debugDescription) + \(footer.debugDescription) 8bit: \(eightBit)"
                        #expect(parts == whole, "\(label)")
                        // And both are what the body says, line by line (written out here, not
                        // by the renderer's own path).
                        let expected = Self.referenceBody(body + footer, charset: charset, eightBitAllowed: eightBit)
                        #expect(Self.body(of: whole) == expected.bytes, "\(label)")
                        #expect(Self.fields(whole).first { $0.name == "Content-Transfer-Encoding" }?.value == expected.transferEncoding, "\(label)")
                    }
                }
            }
        }
    }

    /// The composer keeps a message's encoded text only when it is in the charset asked for: a
    /// UTF-8 fallback (no ISO-2022-JP encoder could be had that once) serves its one mail and
    /// the next recipient's text is encoded again.
    @Test func aValueTheMemoMayNotKeepIsComputedAgain() {
        let memo = BoundedMemo<Int, String>(capacity: 4)
        var computed = 0
        let keepOnlyISO: (String) -> Bool = { $0 == "iso-2022-jp" }
        #expect(memo.value(for: 1, keep: keepOnlyISO) { computed += 1; return "utf-8" } == "utf-8")
        #expect(memo.value(for: 1, keep: keepOnlyISO) { computed += 1; return "iso-2022-jp" } == "iso-2022-jp")
        #expect(memo.value(for: 1, keep: keepOnlyISO) { computed += 1; return "never" } == "iso-2022-jp")
        #expect(computed == 2)
        // Full: dropped wholesale, so the first key is computed again after four others.
        for key in 2...5 { _ = memo.value(for: key) { "\(key)" } }
        #expect(memo.value(for: 1) { computed += 1; return "again" } == "again")
        #expect(computed == 3)
    }

    /// A body as RFC 5322 and MIME want it: lines split at CRLF, CR or LF (a final break does
    /// not start a line; an empty body is one empty line), each ending in CRLF; 7bit, 8bit
    /// or base64 in UTF-8, 7bit or base64 in ISO-2022-JP, by the 998-octet limit.
    static func referenceBody(_ text: String, charset: MailCharset, eightBitAllowed: Bool) -> (transferEncoding: String, bytes: [UInt8]) {
        var lines: [[UInt8]] = [[]]
        var sawCR = false
        for byte in text.utf8 {
            if byte == 0x0A, sawCR { sawCR = false; continue }
            sawCR = byte == 0x0D
            if byte == 0x0D || byte == 0x0A { lines.append([]) } else { lines[lines.count - 1].append(byte) }
        }
        if lines.count > 1, lines.last == [] { lines.removeLast() }
        if charset == .iso2022jp, let encoder = ISO2022JPEncoder() {
            let encoded = lines.map { ISO2022JPEncoder.bytes(encoder.units(String(decoding: $0, as: UTF8.self))) }
            let joined = Array(encoded.map { $0 + [0x0D, 0x0A] }.joined())
            return encoded.allSatisfy { $0.count <= 998 } ? ("7bit", joined) : ("base64", MailRenderer.base64Lines(joined))
        }
        let joined = Array(lines.map { $0 + [0x0D, 0x0A] }.joined())
        let fits = lines.allSatisfy { $0.count <= 998 && !$0.contains(0) }
        if fits, lines.allSatisfy({ $0.allSatisfy { $0 < 0x80 } }) { return ("7bit", joined) }
        if fits, eightBitAllowed { return ("8bit", joined) }
        return ("base64", MailRenderer.base64Lines(joined))
    }

    // MARK: Golden messages

    @Test func goldenUTF8Message() throws {
        let mail = try Self.mail(
            subject: "【避難指示】大雨警報が発表されました",
            body: "〇〇町からのお知らせです。\n本日17時、避難所を開設しました。\r\n詳しくは町のホームページをご覧ください。",
            listUnsubscribeURL: "https://mail.town.example.jp/u/3f9a2c?sig=abc", listID: "bousai.mail.town.example.jp")
        let expected = [
            "Date: Wed, 25 Nov 2026 17:34:47 +0900",
            "From: =?UTF-8?B?44CH44CH55S6IOmYsueBveODoeODvOODqw==?=",  // 〇〇町 防災メール
            " <bousai@mail.town.example.jp>",
            "To: hanako@example.jp",
            "Subject: =?UTF-8?B?44CQ6YG/6Zuj5oyH56S644CR5aSn6Zuo6K2m5aCx44GM55m66KGo44GV?=",
            " =?UTF-8?B?44KM44G+44GX44Gf?=",
            "Message-ID: <d123.m45@mail.town.example.jp>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=UTF-8",
            "Content-Transfer-Encoding: 8bit",
            "List-Id: <bousai.mail.town.example.jp>",
            "List-Unsubscribe: <https://mail.town.example.jp/u/3f9a2c?sig=abc>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "",
            "〇〇町からのお知らせです。",
            "本日17時、避難所を開設しました。",
            "詳しくは町のホームページをご覧ください。",
            "",
        ].joined(separator: "\r\n")
        let rendered = MailRenderer.render(mail, eightBitAllowed: true)
        #expect(rendered == Array(expected.utf8))
        #expect(rendered == MailRenderer.render(mail, eightBitAllowed: true), "deterministic")
    }

    @Test func goldenISO2022JPMessage() throws {
        var mail = try Self.mail(
            subject: "【避難情報】①避難所を開設",
            body: "〇〇町 防災メールです。\n本日１７時、避難所を開設しました。\n問合せ：℡ 0120-000-000\n",
            charset: .iso2022jp)
        mail.to = try EmailAddress("hanako.@ezweb.ne.jp")
        mail.messageID = "d124.m7@mail.town.example.jp"
        mail.date = Date(timeIntervalSince1970: 1_798_729_200)  // 2027-01-01 00:00 JST
        let esc = "\u{1B}"
        let expected = [
            "Date: Fri, 01 Jan 2027 00:00:00 +0900",
            // ESC$B !;!;D. ESC(B " " ESC$B KI:R%a!<%k ESC(B = "〇〇町 防災メール"
            "From: =?ISO-2022-JP?B?GyRCITshO0QuGyhCIBskQktJOlIlYSE8JWsbKEI=?=",
            " <bousai@mail.town.example.jp>",
            "To: \"hanako.\"@ezweb.ne.jp",
            // "【避難情報】(1)避難所を" then "開設", each word back in ASCII at its end.
            "Subject: =?ISO-2022-JP?B?GyRCIVpIckZxPnBKcyFbGyhCKDEpGyRCSHJGcT1qJHIbKEI=?=",
            " =?ISO-2022-JP?B?GyRCMytAXxsoQg==?=",
            "Message-ID: <d124.m7@mail.town.example.jp>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=ISO-2022-JP",
            "Content-Transfer-Encoding: 7bit",
            "",
            "\(esc)$B!;!;D.\(esc)(B \(esc)$BKI:R%a!<%k$G$9!#\(esc)(B",
            "\(esc)$BK\\F|#1#7;~!\"HrFq=j$r3+@_$7$^$7$?!#\(esc)(B",
            "\(esc)$BLd9g$;!'\(esc)(BTEL 0120-000-000",
            "",
        ].joined(separator: "\r\n")
        let rendered = MailRenderer.render(mail, eightBitAllowed: true)
        #expect(rendered == Array(expected.utf8))
        let body = Array(rendered[(Self.headerEnd(rendered) ?? 0)...])
        #expect(Self.iso2022jpDecode(body) == "〇〇町 防災メールです。\r\n本日１７時、避難所を開設しました。\r\n問合せ：TEL 0120-000-000\r\n")
    }

    // MARK: ISO-2022-JP substitution

    @Test func iso2022jpSubstitutesCP932OnlyCharacters() throws {
        let body = Self.body(of: MailRenderer.render(try Self.mail(body: "①避難所㈱～ｶﾞｽ😀", charset: .iso2022jp), eightBitAllowed: true))
        // (1) 避難所 (株) 〜(0x2141) ガス 〓(0x222E)
        let expected = "(1)\u{1B}$BHrFq=j\u{1B}(B(\u{1B}$B3t\u{1B}(B)\u{1B}$B!A%,%9\".\u{1B}(B\r\n"
        #expect(body == Array(expected.utf8))
        #expect(Self.iso2022jpDecode(body) == "(1)避難所(株)\u{301C}ガス〓\r\n")
    }

    @Test(arguments: [
        ("②⑳", "(2)(20)"), ("Ⅲⅹ", "IIIx"), ("㈲㈹", "(有)(代)"), ("㍉㌔㍍㌶", "ミリキロメートルヘクタール"),
        ("㎜㎞㎏㏄㎡", "mmkmkgccm2"), ("№℡", "No.TEL"), ("㊤㊨", "(上)(右)"), ("㍻㋿", "平成令和"),
        ("ﾊﾟﾝｳﾞｧ", "パンヴァ"), ("｢ｱｲｳ｣､｡･ｰ", "「アイウ」、。・ー"), ("ﾜﾞ", "ワ゛"),
        ("∮∟⊿", "〓〓〓"), ("髙😀", "高〓"), ("❤️👨‍👩‍👧x", "〓〓x"), ("カ\u{3099}", "ガ"), ("㍿", "株式会社"),
    ])
    func iso2022jpSubstitution(input: String, expected: String) throws {
        let body = Self.body(of: MailRenderer.render(try Self.mail(body: input, charset: .iso2022jp), eightBitAllowed: true))
        #expect(Self.iso2022jpDecode(body) == expected + "\r\n")
    }

    /// Every variant kanji the table maps: not encodable as it is (else mapping it would
    /// change a name for nothing), and its JIS X 0208 form arrives in its place.
    @Test(arguments: JISSubstitution.variantKanji.sorted { $0.key.value < $1.key.value })
    func variantKanjiArriveAsTheirJISForm(variant: Unicode.Scalar, jis: Unicode.Scalar) throws {
        let encoder = try #require(ISO2022JPEncoder())
        #expect(encoder.units(for: variant) == nil, "\(variant) is in JIS X 0208 already")
        #expect(encoder.units(for: jis) != nil, "\(jis) is not in JIS X 0208")
        let body = Self.body(of: MailRenderer.render(try Self.mail(body: "\(variant)橋さん", charset: .iso2022jp), eightBitAllowed: true))
        #expect(Self.iso2022jpDecode(body) == "\(jis)橋さん\r\n")
    }

    @Test(arguments: [("～", "〜"), ("∥", "‖"), ("－", "−"), ("￠", "¢"), ("￡", "£"), ("￢", "¬"), ("—", "―")])
    func cp932AndJISFormsGiveTheSameJISCode(cp932: String, jis: String) throws {
        let a = Self.body(of: MailRenderer.render(try Self.mail(body: cp932, charset: .iso2022jp), eightBitAllowed: true))
        let b = Self.body(of: MailRenderer.render(try Self.mail(body: jis, charset: .iso2022jp), eightBitAllowed: true))
        #expect(a == b)
        // ESC $ B, one two-byte JIS X 0208 code, ESC ( B, CRLF, and that code is not 〓 (0x222E).
        #expect(a.count == 10)
        #expect(a != Array("\u{1B}$B\".\u{1B}(B\r\n".utf8))
    }

    @Test func iso2022jpLinesEndInASCIIAndStaySevenBit() throws {
        let mail = try Self.mail(subject: "件名①", body: "一行目\r二行目 abc\nｶﾅ\n\n\u{1B}$B混入\u{0E}\n末尾漢字", charset: .iso2022jp)
        let rendered = MailRenderer.render(mail, eightBitAllowed: true)
        #expect(rendered.allSatisfy { $0 < 0x80 })
        let lines = Self.crlfLines(Array(rendered[(Self.headerEnd(rendered) ?? 0)...]))
        #expect(lines.count == 6)
        for line in lines {
            #expect(Self.endsInASCII(line))
            let escapes = line.indices.filter { line[$0] == 0x1B }
            // ESC $ B and ESC ( B only: the ESC typed into the text was neutralised.
            for index in escapes { #expect([[0x24, 0x42], [0x28, 0x42]].contains(Array(line[(index + 1)..<min(index + 3, line.count)]))) }
            #expect(!line.contains(0x0E))
        }
    }

    // MARK: Subject encoding

    // Mixed 1-, 3- and (UTF-8 only) 4-byte characters, so a byte-count split would cut one.
    @Test(arguments: [
        (MailCharset.utf8, "大雨による避難指示を発令しました。対象地区(A-3)の方は直ちに避難してください🙏"),
        (.iso2022jp, "大雨による避難指示を発令しました。対象地区(A-3)の方は直ちに避難してください!"),
    ])
    func longJapaneseSubjectIsSplitIntoSelfContainedWords(charset: MailCharset, unit: String) throws {
        let subject = String(String(repeating: unit, count: 6).prefix(200))
        #expect(subject.count == 200)
        let rendered = MailRenderer.render(try Self.mail(subject: subject, charset: charset), eightBitAllowed: true)
        let block = try #require(Self.headerBlock(rendered))
        for line in Self.crlfLines(block) { #expect(line.count <= 78) }
        let value = try #require(Self.fields(rendered).first { $0.name == "Subject" }?.value)
        let words = value.split(separator: " ").map(String.init)
        #expect(words.count > 5)
        for word in words {
            #expect(word.utf8.count <= 75)
            let parts = word.split(separator: "?")
            let bytes = try #require(parts.count == 5 ? Data(base64Encoded: String(parts[3])) : nil)
            #expect(Self.endsInASCII(Array(bytes)), "each ISO-2022-JP word decodes on its own")
        }
        #expect(Self.decodeWords(value) == subject)
    }

    @Test func shortASCIISubjectStaysReadableAndLongOneFoldsAtSpaces() throws {
        let short = MailRenderer.render(try Self.mail(subject: "Test alert"), eightBitAllowed: true)
        #expect(Self.fields(short).contains { $0.name == "Subject" && $0.value == "Test alert" })
        let long = Array(repeating: "Evacuation", count: 20).joined(separator: " ")
        let rendered = MailRenderer.render(try Self.mail(subject: long), eightBitAllowed: true)
        for line in Self.crlfLines(try #require(Self.headerBlock(rendered))) { #expect(line.count <= 78) }
        #expect(Self.fields(rendered).first { $0.name == "Subject" }?.value == long)
        // A single 3000-character word cannot be folded at spaces: encoded words keep lines short.
        let huge = MailRenderer.render(try Self.mail(subject: String(repeating: "x", count: 3000)), eightBitAllowed: true)
        for line in Self.crlfLines(try #require(Self.headerBlock(huge))) { #expect(line.count <= 998) }
        #expect(Self.decodeWords(Self.fields(huge).first { $0.name == "Subject" }?.value ?? "") == String(repeating: "x", count: 3000))
    }

    // MARK: Header injection

    @Test(arguments: [MailCharset.utf8, .iso2022jp])
    func controlCharactersCannotInjectHeaders(charset: MailCharset) throws {
        var mail = try Self.mail(subject: "火事\r\nBcc: victim@example.com", charset: charset)
        mail.fromName = "町\nX-Injected: 1"
        let rendered = MailRenderer.render(mail, eightBitAllowed: true)
        let block = try #require(Self.headerBlock(rendered))
        // Every CR and LF in the header block is part of a CRLF pair: no bare line breaks.
        #expect(Self.crlfLines(block).allSatisfy { !$0.contains(0x0A) && !$0.contains(0x0D) })
        let names = Self.fields(rendered).map(\.name)
        #expect(names == ["Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"])
        for line in Self.crlfLines(block) {
            let text = String(decoding: line, as: UTF8.self)
            #expect(!text.hasPrefix("Bcc:") && !text.hasPrefix("X-Injected:"))
        }
        let fields = Self.fields(rendered)
        #expect(Self.decodeWords(fields.first { $0.name == "Subject" }?.value ?? "") == "火事 Bcc: victim@example.com")
        #expect(fields.first { $0.name == "From" }.map { Self.decodeWords($0.value) } == "町 X-Injected: 1 <bousai@mail.town.example.jp>")
    }

    @Test func otherLineBreakingCharactersBecomeOneSpace() {
        #expect(HeaderEncoding.sanitized("  a\u{2028}b\u{2029}c\u{85}d\u{7F}e\t\u{0}f \r\n g  ") == "a b c d e f g")
    }

    // MARK: Addresses

    @Test func addressesAndNames() throws {
        var mail = try Self.mail()
        mail.to = try EmailAddress("taro..yamada@docomo.ne.jp")
        mail.fromName = "Town \"Bousai\" \\ Office"
        var fields = Self.fields(MailRenderer.render(mail, eightBitAllowed: true))
        #expect(fields.first { $0.name == "To" }?.value == "\"taro..yamada\"@docomo.ne.jp")
        #expect(fields.first { $0.name == "From" }?.value == "\"Town \\\"Bousai\\\" \\\\ Office\" <bousai@mail.town.example.jp>")
        mail.fromName = " \r\n "
        fields = Self.fields(MailRenderer.render(mail, eightBitAllowed: true))
        #expect(fields.first { $0.name == "From" }?.value == "bousai@mail.town.example.jp")
    }

    // MARK: Body transfer encoding

    @Test func lineEndingsAreNormalisedAndAsciiIs7bit() throws {
        let rendered = MailRenderer.render(try Self.mail(body: "a\rb\nc\r\nd"), eightBitAllowed: false)
        #expect(Self.fields(rendered).contains { $0.name == "Content-Transfer-Encoding" && $0.value == "7bit" })
        #expect(Self.body(of: rendered) == Array("a\r\nb\r\nc\r\nd\r\n".utf8))
    }

    @Test func eightBitOnlyWhenTheServerOffersIt() throws {
        let mail = try Self.mail(body: "避難所を開設しました。\n")
        let rendered = MailRenderer.render(mail, eightBitAllowed: false)
        #expect(Self.fields(rendered).contains { $0.name == "Content-Transfer-Encoding" && $0.value == "base64" })
        #expect(rendered.allSatisfy { $0 < 0x80 })
        #expect(Self.base64Body(rendered) == Array("避難所を開設しました。\r\n".utf8))
    }

    @Test(arguments: [MailCharset.utf8, .iso2022jp])
    func overlongLineFallsBackToBase64(charset: MailCharset) throws {
        let text = "お知らせ\n" + String(repeating: "避難", count: 300) + "\n"
        let rendered = MailRenderer.render(try Self.mail(body: text, charset: charset), eightBitAllowed: true)
        let fields = Self.fields(rendered)
        #expect(fields.contains { $0.name == "Content-Transfer-Encoding" && $0.value == "base64" })
        #expect(fields.contains { $0.name == "Content-Type" && $0.value == "text/plain; charset=" + (charset == .utf8 ? "UTF-8" : "ISO-2022-JP") })
        for line in Self.crlfLines(Self.body(of: rendered)) { #expect(line.count <= 76) }
        let decoded = Self.base64Body(rendered)
        let normalised = "お知らせ\r\n" + String(repeating: "避難", count: 300) + "\r\n"
        #expect((charset == .utf8 ? String(decoding: decoded, as: UTF8.self) : Self.iso2022jpDecode(decoded)) == normalised)
    }

    @Test func longASCIILineIsBase64Too() throws {
        let rendered = MailRenderer.render(try Self.mail(body: String(repeating: "a", count: 999)), eightBitAllowed: true)
        #expect(Self.fields(rendered).contains { $0.name == "Content-Transfer-Encoding" && $0.value == "base64" })
    }

    @Test(arguments: [
        (0.0, "Thu, 01 Jan 1970 09:00:00 +0900"),
        (1_709_218_800.0, "Fri, 01 Mar 2024 00:00:00 +0900"),  // 2024-02-29 15:00 UTC: leap day rolls over
        (-1.5, "Thu, 01 Jan 1970 08:59:58 +0900"),
    ])
    func datesAreInJapanTime(seconds: Double, expected: String) {
        #expect(MailRenderer.rfc5322Date(Date(timeIntervalSince1970: seconds)) == expected)
    }

    // MARK: Helpers

    static func mail(subject: String = "Test", body: String = "Hello", charset: MailCharset = .utf8,
                     listUnsubscribeURL: String? = nil, listID: String? = nil) throws -> OutgoingMail {
        OutgoingMail(
            fromAddress: try EmailAddress("bousai@mail.town.example.jp"), fromName: "〇〇町 防災メール",
            to: try EmailAddress("hanako@example.jp"), subject: subject, body: body, charset: charset,
            messageID: "d123.m45@mail.town.example.jp", date: Date(timeIntervalSince1970: 1_795_595_687),
            listUnsubscribeURL: listUnsubscribeURL, listID: listID)
    }

    /// Index of the first body byte (after the empty line), nil if there is no header end.
    static func headerEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4) where bytes[index..<(index + 4)].elementsEqual([0x0D, 0x0A, 0x0D, 0x0A]) {
            return index + 4
        }
        return nil
    }

    /// The header block including the CRLF ending its last line.
    static func headerBlock(_ bytes: [UInt8]) -> [UInt8]? { headerEnd(bytes).map { Array(bytes[..<($0 - 2)]) } }

    static func body(of bytes: [UInt8]) -> [UInt8] { Array(bytes[(headerEnd(bytes) ?? bytes.count)...]) }

    static func crlfLines(_ bytes: [UInt8]) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var current: [UInt8] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x0D, index + 1 < bytes.count, bytes[index + 1] == 0x0A {
                lines.append(current); current = []; index += 2
            } else {
                current.append(bytes[index]); index += 1
            }
        }
        if !current.isEmpty { lines.append(current) }
        return lines
    }

    /// Header fields after unfolding (CRLF before white space removed), as a reader sees them.
    static func fields(_ bytes: [UInt8]) -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        for line in crlfLines(headerBlock(bytes) ?? []) {
            let text = String(decoding: line, as: UTF8.self)
            if text.hasPrefix(" ") || text.hasPrefix("\t"), !fields.isEmpty {
                fields[fields.count - 1].value += text
            } else if let colon = text.firstIndex(of: ":") {
                let value = text[text.index(after: colon)...]
                fields.append((String(text[..<colon]), String(value.hasPrefix(" ") ? value.dropFirst() : value)))
            } else {
                fields.append((text, ""))
            }
        }
        return fields
    }

    /// A minimal RFC 2047 B decoder: white space between two encoded words is dropped, each
    /// word must decode on its own (UTF-8: complete sequences; ISO-2022-JP: through iconv).
    static func decodeWords(_ value: String) -> String? {
        var out = ""
        var previousWasWord = false
        for (index, token) in value.split(separator: " ", omittingEmptySubsequences: false).enumerated() {
            let parts = token.split(separator: "?", omittingEmptySubsequences: false)
            if token.hasPrefix("=?"), token.hasSuffix("?="), parts.count == 5, parts[2].uppercased() == "B" {
                guard let data = Data(base64Encoded: String(parts[3])) else { return nil }
                let text: String?
                switch parts[1].uppercased() {
                case "UTF-8": text = String(validating: Array(data), as: UTF8.self)
                case "ISO-2022-JP": text = iso2022jpDecode(Array(data))
                default: text = nil
                }
                guard let text else { return nil }
                if index > 0, !previousWasWord { out += " " }
                out += text
                previousWasWord = true
            } else {
                if index > 0 { out += " " }
                out += token
                previousWasWord = false
            }
        }
        return out
    }

    /// Where the bytes last switched character sets, they switched back to ASCII (ESC ( B).
    static func endsInASCII(_ bytes: [UInt8]) -> Bool {
        guard let last = bytes.lastIndex(of: 0x1B) else { return true }
        return Array(bytes[last...].prefix(3)) == [0x1B, 0x28, 0x42]
    }

    static func base64Body(_ rendered: [UInt8]) -> [UInt8] {
        let text = String(decoding: body(of: rendered).filter { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self)
        return Data(base64Encoded: text).map { Array($0) } ?? []
    }

    /// ISO-2022-JP → UTF-8 through the C library, independent of the renderer's own code path.
    static func iso2022jpDecode(_ bytes: [UInt8]) -> String? {
        guard let descriptor = iconv_open("UTF-8", "ISO-2022-JP"), Int(bitPattern: descriptor) != -1 else { return nil }
        defer { iconv_close(descriptor) }
        var input = bytes.map { CChar(bitPattern: $0) }
        let capacity = bytes.count * 4 + 16
        var output = [CChar](repeating: 0, count: capacity)
        let produced: Int? = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                var inPointer = inBuffer.baseAddress
                var outPointer = outBuffer.baseAddress
                var inLeft = inBuffer.count
                var outLeft = capacity
                guard iconv(descriptor, &inPointer, &inLeft, &outPointer, &outLeft) != -1, inLeft == 0 else { return nil }
                return capacity - outLeft
            }
        }
        guard let produced else { return nil }
        return String(validating: output[0..<produced].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
