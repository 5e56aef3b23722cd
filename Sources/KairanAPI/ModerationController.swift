import Foundation
import Hummingbird
import KairanCore
import KairanServices
import KairanStore

/// Flags and the moderators' queue over JSON; the rules are `ModerationService`'s.
struct ModerationController {
    let dependencies: APIDependencies
    var moderation: ModerationService { dependencies.services.moderation }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.post("/v1/posts/{postID}/flags", use: flag)
        routes.get("/v1/me/flags", use: myFlags)
        routes.get("/v1/moderation/items", use: items)
        routes.get("/v1/moderation/items/{itemID}", use: item)
        routes.post("/v1/moderation/items/{itemID}/actions", use: act)
        routes.post("/v1/moderation/items/{itemID}/appeal", use: appeal)
        routes.get("/v1/moderation/appeals", use: appeals)
        routes.post("/v1/moderation/appeals/{appealID}/decision", use: decideAppeal)
        routes.get("/v1/moderation/suspensions", use: listSuspensions)
        routes.patch("/v1/moderation/suspensions/{suspensionID}", use: rescheduleSuspension)
        routes.post("/v1/moderation/suspensions/{suspensionID}/lift", use: liftSuspension)
        routes.get("/v1/moderation/log", use: log)
        routes.get("/v1/moderation/log.csv", use: exportLog)
        routes.get("/v1/moderation/settings", use: settings)
        routes.put("/v1/moderation/settings", use: updateSettings)
        routes.get("/v1/moderation/watched-words", use: watchedWords)
        routes.post("/v1/moderation/watched-words", use: addWatchedWord)
        routes.delete("/v1/moderation/watched-words/{wordID}", use: deleteWatchedWord)
        routes.get("/v1/moderation/watched-words.csv", use: exportWatchedWords)
        routes.post("/v1/moderation/watched-words.csv", use: importWatchedWords)
    }

    // MARK: - Flags

    struct FlagInput: Decodable {
        let reason: FlagReason
        let note: String?
    }

    @Sendable func flag(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<FlagView> {
        let actor = try context.requireActor()
        let postID = try context.parameters.require("postID", as: PostID.self)
        let input = try await request.decode(as: FlagInput.self, context: context)
        let flag = try await moderation.flag(actor, post: postID, reason: input.reason, note: input.note, logger: context.logger)
        return EditedResponse(status: .created, response: flag)
    }

    @Sendable func myFlags(_ request: Request, context: KairanRequestContext) async throws -> Page<FlagView> {
        let actor = try context.requireActor()
        return try await moderation.myFlags(actor, before: try request.cursor("before"), limit: try request.pageLimit(), logger: context.logger)
    }

    // MARK: - The queue

    @Sendable func items(_ request: Request, context: KairanRequestContext) async throws -> Page<ModerationItemView> {
        let actor = try context.requireActor()
        let query = request.uri.queryParameters
        var filter = ModerationService.QueueFilter()
        filter.state = try query["state"].map { text in
            guard let value = ModerationItemState(rawValue: String(text)) else { throw APIError.badRequest("unknown state '\(text)'") }
            return value
        }
        filter.reason = try query["reason"].map { text in
            guard let value = FlagReason(rawValue: String(text)) else { throw APIError.badRequest("unknown reason '\(text)'") }
            return value
        }
        filter.group = try request.cursor("groupId")
        return try await moderation.queue(actor, filter: filter, before: try request.cursor("before"), limit: try request.pageLimit(), logger: context.logger)
    }

    @Sendable func item(_ request: Request, context: KairanRequestContext) async throws -> ModerationItemView {
        let actor = try context.requireActor()
        return try await moderation.item(actor, try context.parameters.require("itemID", as: ModerationItemID.self), logger: context.logger)
    }
}

extension FlagView: ResponseEncodable {}
extension ModerationItemView: ResponseEncodable {}
