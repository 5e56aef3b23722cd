import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One character of ISO-2022-JP text (RFC 1468): an ASCII byte, or a JIS X 0208 code point
/// (two bytes in 0x21...0x7E, written while in the `ESC $ B` state).
enum JISUnit: Hashable, Sendable {
    case ascii(UInt8)
    case kanji(UInt8, UInt8)

    /// 〓 GETA MARK (JIS 0x222E): what Japanese software traditionally prints for "a character
    /// this terminal cannot show", so residents recognise it as such rather than as garbage.
    static let geta = JISUnit.kanji(0x22, 0x2E)
}

/// Turns text into ISO-2022-JP for feature phones.
///
/// The character mapping comes from the C library's iconv (strict JIS X 0208 in glibc), but the
/// escape sequences are written here: every unit is converted on its own and parsed back, so
/// the output only ever uses ASCII and JIS X 0208 (never JIS-Roman `ESC ( J` or anything an
/// old handset may not know), and callers can cut text anywhere and still end in ASCII state.
/// Not thread-safe (an iconv descriptor carries state): make one per render.
final class ISO2022JPEncoder {
    private let descriptor: iconv_t
    /// Results per scalar, failures included (nil), so each distinct character costs one iconv call.
    private var cache: [Unicode.Scalar: JISUnit?] = [:]

    /// Nil when the C library has no working ISO-2022-JP encoder (no gconv modules, or a libc
    /// whose converter opens but cannot encode kana): the caller then falls back to UTF-8
    /// instead of sending a message that is all 〓.
    init?() {
        guard let handle = iconv_open("ISO-2022-JP", "UTF-8"), Int(bitPattern: handle) != -1 else { return nil }
        descriptor = handle
        guard convert("あ") == .kanji(0x24, 0x22) else { return nil }
    }

    deinit { iconv_close(descriptor) }

    /// The units for one line of text (no CR/LF expected; any that slip through become spaces).
    /// A character that cannot be encoded becomes one 〓 as a whole: "❤️" or a family emoji
    /// (several scalars, one thing on screen) is one mark, not a row of them.
    func units(_ text: String) -> [JISUnit] {
        let prepared = String(String.UnicodeScalarView(JISSubstitution.prepare(text)))
        var result: [JISUnit] = []
        for character in prepared {
            var pieces: [JISUnit] = []
            for scalar in character.unicodeScalars {
                guard let units = units(for: scalar) else { pieces = [.geta]; break }
                pieces += units
            }
            result += pieces
        }
        return result
    }

    /// Bytes for a run of units, starting and ending in ASCII state. RFC 1468 requires every
    /// line (and every RFC 2047 encoded word) to end in ASCII so each one decodes on its own.
    static func bytes(_ units: some Sequence<JISUnit>) -> [UInt8] {
        var out: [UInt8] = []
        var inKanji = false
        for unit in units {
            switch unit {
            case .ascii(let byte):
                if inKanji { out += toASCII; inKanji = false }
                out.append(byte)
            case .kanji(let high, let low):
                if !inKanji { out += toKanji; inKanji = true }
                out += [high, low]
            }
        }
        if inKanji { out += toASCII }
        return out
    }

    static let toKanji: [UInt8] = [0x1B, 0x24, 0x42]  // ESC $ B
    static let toASCII: [UInt8] = [0x1B, 0x28, 0x42]  // ESC ( B

    /// One scalar as C library iconv encodes it, no substitutions; nil when JIS X 0208 lacks it.
    func units(for scalar: Unicode.Scalar) -> [JISUnit]? {
        if scalar.isASCII {
            // ESC, SO and SI would switch the reader's character set mid-line; no other control
            // belongs in a line either. Tab is ordinary text.
            let value = UInt8(scalar.value)
            return [(value < 0x20 && value != 0x09) || value == 0x7F ? .ascii(0x20) : .ascii(value)]
        }
        if let unit = convert(scalar) { return [unit] }
        // Compatibility forms the table does not list (㍿ → 株式会社, Ⅻ → XII, NBSP → space)
        // still read better decomposed than as 〓, but only if every piece is encodable.
        let compatible = String(scalar).precomposedStringWithCompatibilityMapping.unicodeScalars
        if compatible.count > 1 || compatible.first != scalar {
            var pieces: [JISUnit] = []
            for piece in compatible {
                if piece.isASCII, piece.value >= 0x20, piece.value < 0x7F {
                    pieces.append(.ascii(UInt8(piece.value)))
                } else if let unit = convert(piece) {
                    pieces.append(unit)
                } else {
                    return nil
                }
            }
            return pieces
        }
        return nil
    }

    /// iconv for one non-ASCII scalar. Returns nil for EILSEQ, or for anything that is not a
    /// plain `ESC $ B xx yy ESC ( B` (e.g. ¥ in JIS-Roman), which the caller then replaces.
    private func convert(_ scalar: Unicode.Scalar) -> JISUnit? {
        if let cached = cache[scalar] { return cached }
        var input = Array(String(scalar).utf8).map { CChar(bitPattern: $0) }
        var output = [CChar](repeating: 0, count: 32)
        let outputCapacity = output.count
        let written: [UInt8]? = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                var inPointer = inBuffer.baseAddress
                var outPointer = outBuffer.baseAddress
                var inLeft = inBuffer.count
                var outLeft = outputCapacity
                let status = iconv(descriptor, &inPointer, &inLeft, &outPointer, &outLeft)
                // Back to the initial (ASCII) state, writing the reset sequence if needed, so the
                // next scalar starts clean whether or not this one converted.
                let reset = iconv(descriptor, nil, nil, &outPointer, &outLeft)
                guard status != -1, reset != -1, inLeft == 0 else {
                    _ = iconv(descriptor, nil, nil, nil, nil)
                    return nil
                }
                return outBuffer[0..<(outputCapacity - outLeft)].map { UInt8(bitPattern: $0) }
            }
        }
        var unit: JISUnit?
        if let bytes = written, bytes.count == 8,
           Array(bytes[0..<3]) == Self.toKanji, Array(bytes[5..<8]) == Self.toASCII,
           (0x21...0x7E).contains(bytes[3]), (0x21...0x7E).contains(bytes[4]) {
            unit = .kanji(bytes[3], bytes[4])
        }
        cache[scalar] = .some(unit)
        return unit
    }
}

/// Replacements applied before encoding to ISO-2022-JP.
///
/// Residents type on PCs and smartphones whose Japanese is CP932 / Unicode; their handsets read
/// strict JIS X 0208. Without these, "①" or "㈱" in an evacuation notice would arrive as 〓.
enum JISSubstitution {
    /// NFC first (a macOS-typed "ガ" may be カ + U+3099), then the table and half-width katakana.
    static func prepare(_ text: String) -> [Unicode.Scalar] {
        let scalars = Array(text.precomposedStringWithCanonicalMapping.unicodeScalars)
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count)
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            index += 1
            if let full = fullWidth(scalar) {
                // RFC 1468 has no half-width katakana; a following ﾞ/ﾟ is merged into the letter
                // (ｶﾞ → ガ) because a separate ゛ reads as a stray mark on a phone.
                let next = index < scalars.count ? scalars[index].value : 0
                if next == 0xFF9E, let voiced = voiced(full) {
                    out.append(voiced); index += 1
                } else if next == 0xFF9F, let semi = semiVoiced(full) {
                    out.append(semi); index += 1
                } else {
                    out.append(full)
                }
            } else if let replacement = table[scalar] {
                out.append(contentsOf: replacement.unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return out
    }

    private static let halfWidth = Array(
        "。「」、・ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン゛゜"
            .unicodeScalars)

    private static func fullWidth(_ scalar: Unicode.Scalar) -> Unicode.Scalar? {
        guard (0xFF61...0xFF9F).contains(scalar.value) else { return nil }
        let offset = Int(scalar.value - 0xFF61)
        return offset < halfWidth.count ? halfWidth[offset] : nil
    }

    private static func voiced(_ kana: Unicode.Scalar) -> Unicode.Scalar? {
        if kana == "ウ" { return "ヴ" }
        guard "カキクケコサシスセソタチツテトハヒフヘホ".unicodeScalars.contains(kana) else { return nil }
        return Unicode.Scalar(kana.value + 1)
    }

    private static func semiVoiced(_ kana: Unicode.Scalar) -> Unicode.Scalar? {
        guard "ハヒフヘホ".unicodeScalars.contains(kana) else { return nil }
        return Unicode.Scalar(kana.value + 2)
    }

    /// Kanji that residents' PCs and phones have (IBM/NEC extensions of CP932, JIS X 0213,
    /// the unified CJK compatibility ideographs NFC leaves alone) and JIS X 0208 does not,
    /// each with the JIS X 0208 form a Japanese reader takes for the same character in a
    /// name or a word: 髙橋 arrives as 高橋, not 〓橋. Each entry has its own test.
    static let variantKanji: [Unicode.Scalar: Unicode.Scalar] = [
        "髙": "高", "﨑": "崎", "德": "徳", "瀨": "瀬", "濵": "浜", "栁": "柳", "凞": "煕", "昻": "昂",
        "𠮷": "吉", "鷗": "鴎", "剝": "剥", "𠮟": "叱", "頰": "頬", "塡": "填", "繫": "繋", "蔣": "蒋",
        "俱": "倶", "瘦": "痩", "桒": "桑",
        // Old forms common in names (一郞, 黑田, 增田, 淸水, 靑木…), from the IBM extension.
        "郞": "郎", "淸": "清", "黑": "黒", "靑": "青", "增": "増", "橫": "横", "寬": "寛", "緖": "緒",
        "綠": "緑", "賴": "頼", "敎": "教", "悅": "悦", "鄕": "郷", "薰": "薫", "﨔": "欅", "曻": "昇",
    ]

    static let table: [Unicode.Scalar: String] = {
        var table: [Unicode.Scalar: String] = variantKanji.mapValues { String($0) }
        table.merge([
            // NEC special characters (CP932 row 13), absent from JIS X 0208.
            "㈱": "(株)", "㈲": "(有)", "㈹": "(代)",
            "㍉": "ミリ", "㌔": "キロ", "㌢": "センチ", "㍍": "メートル", "㌘": "グラム", "㌧": "トン",
            "㌃": "アール", "㌶": "ヘクタール", "㍑": "リットル", "㍗": "ワット", "㌍": "カロリー",
            "㌦": "ドル", "㌣": "セント", "㌫": "パーセント", "㍊": "ミリバール", "㌻": "ページ",
            "㎜": "mm", "㎝": "cm", "㎞": "km", "㎎": "mg", "㎏": "kg", "㏄": "cc", "㎡": "m2",
            "№": "No.", "℡": "TEL",
            "㊤": "(上)", "㊥": "(中)", "㊦": "(下)", "㊧": "(左)", "㊨": "(右)",
            "㍾": "明治", "㍽": "大正", "㍼": "昭和", "㍻": "平成", "㋿": "令和",
            "〝": "“", "〟": "”",
            // CP932 maps these JIS code points to other Unicode characters than JIS does; glibc
            // accepts only the JIS form, so fold the CP932 form onto it (～ and 〜 → 0x2141).
            "～": "〜", "∥": "‖", "－": "−", "￠": "¢", "￡": "£", "￢": "¬", "—": "―",
            // ¥ and ‾ would go out in JIS-Roman (ESC ( J), which some handsets garble; the
            // full-width forms are plain JIS X 0208.
            "¥": "￥", "‾": "￣",
            // Lone combining sound marks (NFC could not attach them) as their spacing forms.
            "\u{3099}": "゛", "\u{309A}": "゜",
        ]) { variant, _ in variant }
        for number in 1...20 {
            if let circled = Unicode.Scalar(0x245F + number) { table[circled] = "(\(number))" }
        }
        let romans = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"]
        for (offset, roman) in romans.enumerated() {
            if let upper = Unicode.Scalar(0x2160 + offset) { table[upper] = roman }
            if let lower = Unicode.Scalar(0x2170 + offset) { table[lower] = roman.lowercased() }
        }
        return table
    }()
}

extension ISO2022JPEncoder {
    /// Encoders remember what each character encodes to: reused, they stop asking iconv
    /// after the first few messages (one made per message asked once per distinct character
    /// of every message, and opened iconv each time).
    private static let pool = Mutex<[Pooled]>([])

    /// Used by one renderer at a time: taken from the pool, given back after.
    private struct Pooled: @unchecked Sendable {
        let encoder: ISO2022JPEncoder
    }

    static func borrow() -> ISO2022JPEncoder? {
        pool.withLock { $0.popLast()?.encoder } ?? ISO2022JPEncoder()
    }

    static func giveBack(_ encoder: ISO2022JPEncoder) {
        pool.withLock { pool in
            if pool.count < 16 { pool.append(Pooled(encoder: encoder)) }
        }
    }
}
