import Foundation

public enum WatchedWordAction: String, Codable, CaseIterable, Sendable {
    /// The post is refused with a clear message.
    case block
    /// The post is kept back, seen only by its author, until a moderator approves it.
    case hold
    /// The post goes up and into the moderation queue.
    case flag

    /// The strongest action wins when several words match.
    var severity: Int {
        switch self {
        case .block: return 3
        case .hold: return 2
        case .flag: return 1
        }
    }
}

public struct WatchedWord: Sendable, Equatable {
    public let id: Int64
    public let pattern: String
    public let normalized: String
    public let action: WatchedWordAction

    public init(id: Int64, pattern: String, normalized: String, action: WatchedWordAction) {
        self.id = id
        self.pattern = pattern
        self.normalized = normalized
        self.action = action
    }
}

/// Matching text against watched words the way residents write in Japanese: full-width and
/// half-width forms, upper and lower case, hiragana and katakana are the same word.
public enum WatchedWords {
    /// NFKC (ｂａｄ → bad, ﾊﾞｶ → バカ, ① → 1), case folding, and hiragana → katakana.
    public static func normalize(_ text: String) -> String {
        let folded = text.precomposedStringWithCompatibilityMapping.folding(options: [.caseInsensitive], locale: nil)
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
        return String(scalars)
    }

    /// Whether normalized `text` contains the normalized pattern. `*` stands for any run of
    /// characters; matching is a left-to-right search, linear in the text (no regular
    /// expressions, so no pattern can make it slow).
    public static func matches(_ pattern: String, in text: String) -> Bool {
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: true)
        guard !parts.isEmpty else { return false }
        var rest = text[...]
        for part in parts {
            guard let range = rest.range(of: part) else { return false }
            rest = rest[range.upperBound...]
        }
        return true
    }

    /// The strongest action among the words found in `text`, and the word that caused it.
    public static func check(_ text: String, against words: [WatchedWord]) -> WatchedWord? {
        let normalized = normalize(text)
        var found: WatchedWord?
        for word in words where matches(word.normalized, in: normalized) {
            if found.map({ word.action.severity > $0.action.severity }) ?? true { found = word }
        }
        return found
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
