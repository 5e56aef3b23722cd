/// `@name` mentions in a post.
///
/// Display names are not unique handles and Japanese names often contain a space
/// ("山田 太郎"), so a mention is `@` followed by the name written without spaces
/// (`@山田太郎`), compared against members' display names with their spaces removed.
public enum Mentions {
    public static let maxPerPost = 20

    /// The distinct names mentioned, in order of first appearance, at most `maxPerPost`.
    public static func names(in body: String) -> [String] {
        var names: [String] = []
        var current: String?
        func finish() {
            if let name = current, !name.isEmpty, !names.contains(name), names.count < maxPerPost { names.append(name) }
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
                } else {
                    current!.append(character)
                    // 「@山田太郎さん、…」: the honorific ends the name and is not part of it.
                    if let honorific = honorifics.first(where: { current!.hasSuffix($0) && current!.count > $0.count }) {
                        current!.removeLast(honorific.count)
                        finish()
                    }
                }
            }
        }
        finish()
        return names
    }

    /// Punctuation that ends a name: `@山田太郎、明日…` mentions 山田太郎.
    static let terminators: Set<Character> = ["、", "。", ",", ".", "!", "！", "?", "？", "(", ")", "（", "）", "「", "」", "『", "』", ":", "：", ";", "；",
                                              "…", "‥", "〜", "～", "/", "／"]

    /// Honorifics written after a name; each ends the name (`@佐藤さん` mentions 佐藤).
    /// Longer forms first, so さま is not read as さ + ま.
    static let honorifics = ["ちゃん", "先生", "さま", "さん", "くん", "様", "君", "殿"]
}
