import Foundation
import Hummingbird
import KairanCore
import KairanServices
import NIOCore

/// Watched words: the town's moderators manage them, one at a time or as CSV.
extension ModerationController {
    var watched: WatchedWordService { dependencies.services.watchedWords }

    struct WatchedWordInput: Decodable {
        let pattern: String
        let action: WatchedWordAction
        let foldKana: Bool?
    }

    @Sendable func watchedWords(_ request: Request, context: KairanRequestContext) async throws -> Items<WatchedWordView> {
        Items(items: try await watched.list(try context.requireActor(), logger: context.logger))
    }

    @Sendable func addWatchedWord(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<WatchedWordView> {
        let actor = try context.requireActor()
        try moderation.requireTownModerator(actor)
        let input = try await request.decode(as: WatchedWordInput.self, context: context)
        return EditedResponse(status: .created, response: try await watched.set(
            actor, pattern: input.pattern, action: input.action, foldingKana: input.foldKana ?? false, logger: context.logger))
    }

    @Sendable func deleteWatchedWord(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        try moderation.requireTownModerator(actor)
        try await watched.delete(actor, try context.parameters.require("wordID", as: Int64.self), logger: context.logger)
        return .noContent
    }

    @Sendable func exportWatchedWords(_ request: Request, context: KairanRequestContext) async throws -> Response {
        let words = try await watched.list(try context.requireActor(), logger: context.logger)
        var text = "pattern,action,kana\r\n"
        for word in words { text += CSV.field(word.pattern) + "," + word.action.rawValue + "," + (word.foldKana ? "fold" : "") + "\r\n" }
        var headers: HTTPFields = [:]
        headers[.contentType] = "text/csv; charset=utf-8"
        headers[.contentDisposition] = "attachment; filename=\"watched-words.csv\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    struct ImportResult: ResponseEncodable, Sendable {
        let imported: Int
    }

    /// `pattern,action[,kana]` rows (a header row is skipped); each adds a word or changes its
    /// action. `kana` is `fold` for a word whose hiragana and katakana forms are the same
    /// (ばか = バカ), empty or absent otherwise. All rows or none: the first bad row is a 422
    /// naming its line.
    @Sendable func importWatchedWords(_ request: Request, context: KairanRequestContext) async throws -> ImportResult {
        let actor = try context.requireActor()
        try moderation.requireTownModerator(actor)
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: 256 * 1024)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, code: "payload_too_large", message: "the CSV exceeds 262144 bytes")
        }
        var rows: [WatchedWordService.ImportRow] = []
        // "\r\n" is one Character: split on newlines, not on "\n".
        for (index, line) in String(buffer: buffer).split(whereSeparator: \.isNewline).enumerated() {
            let fields = Self.csvFields(String(line))
            if index == 0, fields.first?.lowercased() == "pattern" { continue }
            let kana = fields.count == 3 ? fields[2].trimmingCharacters(in: .whitespaces).lowercased() : ""
            guard fields.count == 2 || fields.count == 3, ["", "fold"].contains(kana),
                  let action = WatchedWordAction(rawValue: fields[1].trimmingCharacters(in: .whitespaces)) else {
                throw APIError.validation(ValidationError(
                    field: "line \(index + 1)", code: "invalid_row", message: "line \(index + 1): expected pattern,block|hold|flag[,fold]"))
            }
            var pattern = fields[0]
            // Our own export defuses formulas with a leading quote mark; take it off again.
            if pattern.hasPrefix("'"), let first = pattern.dropFirst().unicodeScalars.first, "=+-@".unicodeScalars.contains(first) { pattern.removeFirst() }
            rows.append(.init(pattern: pattern, action: action, foldingKana: kana == "fold", place: "line \(index + 1)"))
        }
        // An empty file is more likely a mistake (the wrong file, a failed upload) than an
        // import of nothing: it is refused rather than answered "imported 0".
        guard !rows.isEmpty else {
            throw APIError.validation(ValidationError(field: "body", code: "empty", message: "the CSV has no rows to import"))
        }
        return ImportResult(imported: try await watched.importWords(actor, rows, logger: context.logger))
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

extension WatchedWordView: ResponseEncodable {}
