/// `@name` mentions in a post.
///
/// Display names are not unique handles and Japanese names often contain a space
/// ("山田 太郎"), so a mention is `@` followed by the name written without spaces
/// (`@山田太郎`), compared against members' display names with their spaces removed.
public enum Mentions {
    public static let maxPerPost = 20

    /// The longest text after an `@` that is read as a mention (a display name is at most 50
    /// characters; an honorific follows).
    public static let maxTokenCharacters = 60

    /// What follows each `@`, up to a space or punctuation, distinct, in order of first
    /// appearance, at most `maxPerPost`. A token is the name and whatever is written right
    /// after it (`@高橋君が来ます` → `高橋君が来ます`): which member it names is decided
    /// against the members' names (`resolve`), since no character on its own says where a
    /// Japanese name ends (田中君子 is a name; 田中君 is 田中 with an honorific).
    public static func tokens(in body: String) -> [String] {
        var tokens: [String] = []
        var current: String?
        func finish() {
            if let token = current, !token.isEmpty, !tokens.contains(token), tokens.count < maxPerPost { tokens.append(token) }
            current = nil
        }
        var previous: Character?
        for character in body {
            defer { previous = character }
            if character == "@" || character == "＠" {
                finish()
                // `name@example.jp` is a mail address, not a mention.
                let afterWord = previous.map { $0.isASCII && ($0.isLetter || $0.isNumber) } ?? false
                current = afterWord ? nil : ""
            } else if current != nil {
                if character.isWhitespace || terminators.contains(character) {
                    finish()
                } else if current!.count < maxTokenCharacters {
                    current!.append(character)
                }
            }
        }
        finish()
        return tokens
    }

    /// Whether `token` names `name` (a display name without its spaces): the whole token, or
    /// the name followed by an honorific and anything after it (`@佐藤くんもどうぞ`).
    public static func names(_ token: String, _ name: String) -> Bool {
        guard !name.isEmpty, token.hasPrefix(name) else { return false }
        let rest = token.dropFirst(name.count)
        return rest.isEmpty || honorifics.contains { rest.hasPrefix($0) }
    }

    /// The names among `candidates` that `token` mentions: the longest that fit, so
    /// `@田中君子さん` is 田中君子 when she is a member, and 田中 only when she is not.
    /// Several people with that same name are all meant.
    public static func resolve(_ token: String, among candidates: [String]) -> Set<String> {
        let fitting = candidates.filter { names(token, $0) }
        guard let longest = fitting.map(\.count).max() else { return [] }
        return Set(fitting.filter { $0.count == longest })
    }

    /// Punctuation that ends a name: `@山田太郎、明日…` mentions 山田太郎.
    static let terminators: Set<Character> = ["、", "。", ",", ".", "!", "！", "?", "？", "(", ")", "（", "）", "「", "」", "『", "』", ":", "：", ";", "；",
                                              "…", "‥", "〜", "～", "/", "／"]

    /// Honorifics written after a name (`@佐藤さん` mentions 佐藤).
    static let honorifics = ["ちゃん", "先生", "さま", "さん", "くん", "様", "君", "殿"]
}
