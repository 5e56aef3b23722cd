import Foundation

public enum WatchedWordAction: String, Codable, CaseIterable, Sendable {
    /// The post is refused with a clear message.
    case block
    /// The post is kept back, seen only by its author, until a moderator approves it.
    case hold
    /// The post goes up and into the moderation queue.
    case flag
}

public struct WatchedWord: Sendable, Equatable {
    public let id: Int64
    public let pattern: String
    public let normalized: String
    public let action: WatchedWordAction
    /// Hiragana and katakana are the same word for this one (ばか = バカ).
    public let foldsKana: Bool

    public init(id: Int64, pattern: String, normalized: String, action: WatchedWordAction, foldsKana: Bool) {
        self.id = id
        self.pattern = pattern
        self.normalized = normalized
        self.action = action
        self.foldsKana = foldsKana
    }
}

/// Watched words are matched the way residents write in Japanese: full-width and half-width
/// forms and upper and lower case are the same word. Hiragana and katakana are the same only
/// for words that ask for it: folded for every word, a short kana entry collides with
/// everyday words (バカ in 生まれたばかり, シカ in しかし). Both the stored word and the post are
/// normalized here; the database does the matching (`ModerationStore.gateReading`), so
/// a post never loads the whole list.
public enum WatchedWords {
    /// NFKC (ｂａｄ → bad, ﾊﾞｶ → バカ, ① → 1) and case folding, plus hiragana → katakana when
    /// `foldingKana`, composed (NFC) at the end. The result is compared byte for byte (by the
    /// database, and by the unique index on stored words), so it must be composed: Swift's
    /// own `==` treats ハ+゛ and バ as equal, PostgreSQL does not, and Foundation on Linux
    /// leaves ﾊﾞ decomposed after its compatibility mapping.
    public static func normalize(_ text: String, foldingKana: Bool = false) -> String {
        let folded = text.precomposedStringWithCompatibilityMapping.folding(options: [.caseInsensitive], locale: nil)
        guard foldingKana else { return folded.precomposedStringWithCanonicalMapping }
        var scalars = String.UnicodeScalarView()
        for scalar in folded.unicodeScalars {
            // Hiragana ぁ…ゖ and ゝゞ sit exactly 0x60 below their katakana.
            if (0x3041...0x3096).contains(scalar.value) || (0x309D...0x309E).contains(scalar.value),
               let katakana = Unicode.Scalar(scalar.value + 0x60) {
                scalars.append(katakana)
            } else {
                scalars.append(scalar)
            }
        }
        return String(scalars).precomposedStringWithCanonicalMapping
    }

    /// A post as the matcher needs it: as written (normalized), and with kana folded for the
    /// words that fold.
    public struct Text: Sendable {
        public let plain: String
        public let kanaFolded: String
        public init(_ text: String) {
            plain = WatchedWords.normalize(text)
            kanaFolded = WatchedWords.normalize(text, foldingKana: true)
        }
    }
}

/// The new-account sandbox and per-role rate limits.
public enum RateLimitedAction: String, Sendable, CaseIterable {
    case post, flag, join
}

public struct RateLimit: Sendable, Equatable {
    public let count: Int
    public let window: TimeInterval
    public init(count: Int, window: TimeInterval) {
        self.count = count
        self.window = window
    }
}

public enum Sandbox {
    /// Links in a post: http(s) URLs and bare www. addresses.
    public static func linkCount(in text: String) -> Int {
        let lowered = text.lowercased()
        func occurrences(_ needle: String) -> Int { lowered.components(separatedBy: needle).count - 1 }
        return occurrences("http://") + occurrences("https://") + occurrences("www.") - occurrences("://www.")
    }

    /// Per role: the town's moderators and admins are not limited; a new account is held to
    /// the sandbox's posting rate; everyone has a ceiling against floods.
    public static func limit(for action: RateLimitedAction, actor: Actor, isNewAccount: Bool, newAccountPostsPerHour: Int) -> RateLimit? {
        if actor.isTownModerator { return nil }
        switch action {
        case .post: return RateLimit(count: isNewAccount ? newAccountPostsPerHour : 60, window: 3600)
        case .flag: return RateLimit(count: isNewAccount ? 5 : 30, window: 3600)
        case .join: return RateLimit(count: isNewAccount ? 5 : 30, window: 3600)
        }
    }
}
