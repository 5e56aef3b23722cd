import Foundation
import KairanCore
import KairanStore
import Logging

/// A watched word as the town's moderators manage it.
public struct WatchedWordView: Codable, Sendable {
    public let id: Int64
    public let pattern: String
    /// The form matched against posts (NFKC, case-folded, and katakana when `foldKana`).
    public let normalized: String
    public let action: WatchedWordAction
    /// Hiragana and katakana are the same word (ばか = バカ). Off unless asked for.
    public let foldKana: Bool
    init(_ word: WatchedWord) {
        id = word.id; pattern = word.pattern; normalized = word.normalized; action = word.action; foldKana = word.foldsKana
    }
}

/// Watched words: the town's moderators manage them, one at a time or as a whole list.
/// Every change is in the moderation log.
public struct WatchedWordService: Sendable {
    let services: Services
    var database: Database { services.database }

    /// The most words one import may carry.
    public static let importMax = 5000

    static func validPattern(_ text: String, field: String) throws -> String {
        let pattern = try Content.text(text, field: field, max: 100)
        guard pattern.contains(where: { $0 != "*" }) else {
            throw ValidationError(field: field, code: "invalid_pattern", message: "a pattern needs more than wildcards")
        }
        // NFKC can lengthen text (ﷺ becomes 18 characters): the stored form has its own limit.
        guard WatchedWords.normalize(pattern, foldingKana: true).unicodeScalars.count <= 200 else {
            throw ValidationError(field: field, code: "too_long", message: "the pattern is too long once normalized")
        }
        return pattern
    }

    public func list(_ actor: Actor, logger: Logger) async throws -> [WatchedWordView] {
        try Policy.decideTownModeration(actor).require()
        return try await database.withConnection { try await ModerationStore.watchedWords(on: $0) }.map(WatchedWordView.init)
    }

    /// Adds a word, or changes the action of one already watched.
    public func set(_ actor: Actor, pattern rawPattern: String, action: WatchedWordAction, foldingKana: Bool, logger: Logger) async throws -> WatchedWordView {
        try Policy.decideTownModeration(actor).require()
        let pattern = try Self.validPattern(rawPattern, field: "pattern")
        let now = services.clock.now()
        return WatchedWordView(try await database.withTransaction { db in
            let word = try await ModerationStore.upsertWatchedWord(pattern: pattern, action: action, foldingKana: foldingKana, by: actor.accountID, now: now,
                                                                   on: db)
            if try await ModerationStore.watchedWordCount(on: db) > ModerationStore.maxWatchedWords {
                throw ServiceError.conflict("too_many", "the town may watch at most \(ModerationStore.maxWatchedWords) words")
            }
            try await ModerationStore.log("watched_word_set", item: nil, post: nil, group: nil, actor: actor.accountID, reason: "",
                                          detail: "\(pattern) → \(action.rawValue)", now: now, on: db)
            return word
        })
    }

    public func delete(_ actor: Actor, _ id: Int64, logger: Logger) async throws {
        try Policy.decideTownModeration(actor).require()
        let now = services.clock.now()
        try await database.withTransaction { db in
            guard let word = try await ModerationStore.deleteWatchedWord(id, on: db) else { throw ServiceError.notFound }
            try await ModerationStore.log("watched_word_deleted", item: nil, post: nil, group: nil, actor: actor.accountID, reason: "",
                                          detail: word.pattern, now: now, on: db)
        }
    }

    /// Rows of (pattern, action) as a file gave them, each with the name of its place in the
    /// file for error messages ("line 3").
    public struct ImportRow: Sendable {
        public var pattern: String
        public var action: WatchedWordAction
        public var foldingKana: Bool
        public var place: String
        public init(pattern: String, action: WatchedWordAction, foldingKana: Bool, place: String) {
            self.pattern = pattern; self.action = action; self.foldingKana = foldingKana; self.place = place
        }
    }

    /// The list as CSV (`pattern,action,kana`), as the API's export and the moderators' page
    /// download it.
    public func exportCSV(_ actor: Actor, logger: Logger) async throws -> String {
        let words = try await list(actor, logger: logger)
        var text = "pattern,action,kana\r\n"
        for word in words { text += CSV.field(word.pattern) + "," + word.action.rawValue + "," + (word.foldKana ? "fold" : "") + "\r\n" }
        return text
    }

    /// `pattern,action[,kana]` rows (a header row is skipped); each adds a word or changes its
    /// action. `kana` is `fold` for a word whose hiragana and katakana forms are the same
    /// (ばか = バカ), empty or absent otherwise. All rows or none: the first bad row is a
    /// `ValidationError` naming its line; no rows at all is one too (more likely the wrong
    /// file than an import of nothing).
    public func importCSV(_ actor: Actor, _ text: String, logger: Logger) async throws -> Int {
        try Policy.decideTownModeration(actor).require()
        var rows: [ImportRow] = []
        // "\r\n" is one Character: split on newlines, not on "\n".
        for (index, line) in text.split(whereSeparator: \.isNewline).enumerated() {
            let fields = CSV.fields(String(line))
            if index == 0, fields.first?.lowercased() == "pattern" { continue }
            let kana = fields.count == 3 ? fields[2].trimmingCharacters(in: .whitespaces).lowercased() : ""
            guard fields.count == 2 || fields.count == 3, ["", "fold"].contains(kana),
                  let action = WatchedWordAction(rawValue: fields[1].trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError(field: "line \(index + 1)", code: "invalid_row", message: "line \(index + 1): expected pattern,block|hold|flag[,fold]",
                                      japanese: "\(index + 1)行目が読めません（形式: 語,block|hold|flag[,fold]）。")
            }
            var pattern = fields[0]
            // Our own export defuses formulas with a leading quote mark; take it off again.
            if pattern.hasPrefix("'"), let first = pattern.dropFirst().unicodeScalars.first, "=+-@".unicodeScalars.contains(first) { pattern.removeFirst() }
            rows.append(.init(pattern: pattern, action: action, foldingKana: kana == "fold", place: "line \(index + 1)"))
        }
        guard !rows.isEmpty else {
            throw ValidationError(field: "body", code: "empty", message: "the CSV has no rows to import")
        }
        return try await importWords(actor, rows, logger: logger)
    }

    /// Adds or changes every row, all or none; the list keeps its ceiling.
    public func importWords(_ actor: Actor, _ rows: [ImportRow], logger: Logger) async throws -> Int {
        try Policy.decideTownModeration(actor).require()
        let words = try rows.map { (try Self.validPattern($0.pattern, field: $0.place), $0.action, $0.foldingKana) }
        guard words.count <= Self.importMax else {
            throw ValidationError(field: "body", code: "too_many", message: "at most \(Self.importMax) words per import")
        }
        let now = services.clock.now()
        try await database.withTransaction { db in
            for (pattern, action, foldingKana) in words {
                try await ModerationStore.upsertWatchedWord(
                    pattern: pattern, action: action, foldingKana: foldingKana, by: actor.accountID, now: now, on: db)
            }
            // Every word is enforced and exported: the list has a ceiling rather than a tail
            // that silently stops counting.
            if try await ModerationStore.watchedWordCount(on: db) > ModerationStore.maxWatchedWords {
                throw ValidationError(field: "body", code: "too_many", message: "the town may watch at most \(ModerationStore.maxWatchedWords) words")
            }
            try await ModerationStore.log("watched_words_imported", item: nil, post: nil, group: nil, actor: actor.accountID, reason: "",
                                          detail: "\(words.count) rows", now: now, on: db)
        }
        return words.count
    }
}
