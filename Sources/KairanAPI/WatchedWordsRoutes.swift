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
        let text = try await watched.exportCSV(try context.requireActor(), logger: context.logger)
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
        return ImportResult(imported: try await watched.importCSV(actor, String(buffer: buffer), logger: context.logger))
    }
}

extension WatchedWordView: ResponseEncodable {}
