import Foundation
import Hummingbird
import KairanCore
import KairanStore
import Logging
import NIOCore
import PostgresNIO

/// Watched words: the town's moderators manage them, one at a time or as CSV.
extension ModerationController {
    struct WatchedWordResponse: ResponseEncodable, Sendable {
        let id: Int64
        let pattern: String
        /// The form matched against posts (NFKC, case-folded, katakana).
        let normalized: String
        let action: WatchedWordAction
        init(_ word: WatchedWord) { id = word.id; pattern = word.pattern; normalized = word.normalized; action = word.action }
    }

    struct WatchedWordInput: Decodable {
        let pattern: String
        let action: WatchedWordAction
    }

    static func validPattern(_ text: String, field: String) throws -> String {
        let pattern = try Content.text(text, field: field, max: 100)
        guard pattern.contains(where: { $0 != "*" }) else {
            throw APIError.validation(ValidationError(field: field, code: "invalid_pattern", message: "a pattern needs more than wildcards"))
        }
        // NFKC can lengthen text (ﷺ becomes 18 characters): the stored form has its own limit.
        guard WatchedWords.normalize(pattern).unicodeScalars.count <= 200 else {
            throw APIError.validation(ValidationError(field: field, code: "too_long", message: "the pattern is too long once normalized"))
        }
        return pattern
    }

    @Sendable func watchedWords(_ request: Request, context: KairanRequestContext) async throws -> Items<WatchedWordResponse> {
        let actor = try context.requireActor()
        try APIError.check(Policy.decideTownModeration(actor))
        let words = try await database.withConnection { try await ModerationStore.watchedWords(on: $0, logger: context.logger) }
        return Items(items: words.map(WatchedWordResponse.init))
    }

    @Sendable func addWatchedWord(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<WatchedWordResponse> {
        let actor = try context.requireActor()
        try APIError.check(Policy.decideTownModeration(actor))
        let input = try await request.decode(as: WatchedWordInput.self, context: context)
        let pattern = try Self.validPattern(input.pattern, field: "pattern")
        let now = dependencies.clock.now()
        let word = try await database.withTransaction { connection in
            let word = try await ModerationStore.upsertWatchedWord(pattern: pattern, action: input.action, by: actor.accountID, now: now,
                                                                   on: connection, logger: context.logger)
            if try await ModerationStore.watchedWordCount(on: connection, logger: context.logger) > ModerationStore.maxWatchedWords {
                throw APIError(.conflict, code: "too_many", message: "the town may watch at most \(ModerationStore.maxWatchedWords) words")
            }
            try await ModerationStore.log("watched_word_set", item: nil, post: nil, group: nil, actor: actor.accountID, reason: "",
                                          detail: "\(pattern) → \(input.action.rawValue)", now: now, on: connection, logger: context.logger)
            return word
        }
        return EditedResponse(status: .created, response: WatchedWordResponse(word))
    }

    @Sendable func deleteWatchedWord(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        try APIError.check(Policy.decideTownModeration(actor))
        let id = try context.parameters.require("wordID", as: Int64.self)
        let now = dependencies.clock.now()
        try await database.withTransaction { connection in
            guard let word = try await ModerationStore.deleteWatchedWord(id, on: connection, logger: context.logger) else { throw APIError.notFound }
            try await ModerationStore.log("watched_word_deleted", item: nil, post: nil, group: nil, actor: actor.accountID, reason: "",
                                          detail: word.pattern, now: now, on: connection, logger: context.logger)
        }
        return .noContent
    }

    @Sendable func exportWatchedWords(_ request: Request, context: KairanRequestContext) async throws -> Response {
        let actor = try context.requireActor()
        try APIError.check(Policy.decideTownModeration(actor))
        let words = try await database.withConnection { try await ModerationStore.watchedWords(on: $0, logger: context.logger) }
        var text = "pattern,action\r\n"
        for word in words { text += CSV.field(word.pattern) + "," + word.action.rawValue + "\r\n" }
        var headers: HTTPFields = [:]
        headers[.contentType] = "text/csv; charset=utf-8"
        headers[.contentDisposition] = "attachment; filename=\"watched-words.csv\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    struct ImportResult: ResponseEncodable, Sendable {
        let imported: Int
    }

    /// `pattern,action` rows (a header row is skipped); each adds a word or changes its
    /// action. All rows or none: the first bad row is a 422 naming its line.
    @Sendable func importWatchedWords(_ request: Request, context: KairanRequestContext) async throws -> ImportResult {
        let actor = try context.requireActor()
        try APIError.check(Policy.decideTownModeration(actor))
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: 256 * 1024)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, code: "payload_too_large", message: "the CSV exceeds 262144 bytes")
        }
        var rows: [(String, WatchedWordAction)] = []
        // "\r\n" is one Character: split on newlines, not on "\n".
        for (index, line) in String(buffer: buffer).split(whereSeparator: \.isNewline).enumerated() {
            let fields = Self.csvFields(String(line))
            if index == 0, fields.first?.lowercased() == "pattern" { continue }
            guard fields.count == 2, let action = WatchedWordAction(rawValue: fields[1].trimmingCharacters(in: .whitespaces)) else {
                throw APIError.validation(ValidationError(field: "line \(index + 1)", code: "invalid_row", message: "line \(index + 1): expected pattern,block|hold|flag"))
            }
            var pattern = fields[0]
            // Our own export defuses formulas with a leading quote mark; take it off again.
            if pattern.hasPrefix("'"), let first = pattern.dropFirst().unicodeScalars.first, "=+-@".unicodeScalars.contains(first) { pattern.removeFirst() }
            rows.append((try Self.validPattern(pattern, field: "line \(index + 1)"), action))
        }
        guard rows.count <= 5000 else {
            throw APIError.validation(ValidationError(field: "body", code: "too_many", message: "at most 5000 words per import"))
        }
        let now = dependencies.clock.now()
        try await database.withTransaction { connection in
            for (pattern, action) in rows {
                try await ModerationStore.upsertWatchedWord(pattern: pattern, action: action, by: actor.accountID, now: now, on: connection, logger: context.logger)
            }
            // Every word is enforced and exported: the list has a ceiling rather than a tail
            // that silently stops counting.
            if try await ModerationStore.watchedWordCount(on: connection, logger: context.logger) > ModerationStore.maxWatchedWords {
                throw APIError.validation(ValidationError(field: "body", code: "too_many",
                                                          message: "the town may watch at most \(ModerationStore.maxWatchedWords) words"))
            }
            try await ModerationStore.log("watched_words_imported", item: nil, post: nil, group: nil, actor: actor.accountID, reason: "",
                                          detail: "\(rows.count) rows", now: now, on: connection, logger: context.logger)
        }
        return ImportResult(imported: rows.count)
    }

    /// One RFC 4180 line: quoted fields with doubled quotes, or plain ones.
    static func csvFields(_ line: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var iterator = line.makeIterator()
        while let character = iterator.next() {
            if quoted {
                if character == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { current.append("\"") } else { quoted = false; if next == "," { fields.append(current); current = "" } else { current.append(next) } }
                    } else { quoted = false }
                } else {
                    current.append(character)
                }
            } else if character == "\"" && current.isEmpty {
                quoted = true
            } else if character == "," {
                fields.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        fields.append(current)
        return fields
    }
}
