import Foundation
import Hummingbird
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// Residents flag posts; a weighted score hides a post pending review; moderators clear
/// the queue (their groups', or every group's for the town's moderators) and every action
/// lands in the append-only moderation log; authors may appeal a removal once.
struct ModerationController {
    let dependencies: APIDependencies
    var database: Database { dependencies.database }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.post("/v1/posts/{postID}/flags", use: flag)
        routes.get("/v1/me/flags", use: myFlags)
        routes.get("/v1/moderation/items", use: items)
        routes.get("/v1/moderation/items/{itemID}", use: item)
        routes.post("/v1/moderation/items/{itemID}/actions", use: act)
        routes.post("/v1/moderation/items/{itemID}/appeal", use: appeal)
        routes.get("/v1/moderation/appeals", use: appeals)
        routes.post("/v1/moderation/appeals/{appealID}/decision", use: decideAppeal)
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

    struct FlagResponse: ResponseEncodable, Sendable {
        let postId: PostID
        let reason: FlagReason
        let createdAt: Date
        /// pending until moderators decide, then kept or removed (never who decided).
        let outcome: String
    }

    /// What moderators are told live on their own stream when an item enters their queue.
    struct QueueEvent: Encodable {
        let itemId: ModerationItemID
        let groupId: GroupID
        let postId: PostID
        let state: ModerationItemState
        let autoHidden: Bool
    }

    @Sendable func flag(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<FlagResponse> {
        let actor = try context.requireActor()
        let postID = try context.parameters.require("postID", as: PostID.self)
        let input = try await request.decode(as: FlagInput.self, context: context)
        let note = try Content.text(input.note ?? "", field: "note", min: input.reason == .other ? 1 : 0, max: 500, multiline: true)
        let now = dependencies.clock.now()
        let logger = context.logger
        try await database.withTransaction { connection in
            guard let post = try await ThreadStore.findPost(postID, on: connection, logger: logger) else { throw APIError.notFound }
            _ = try await authorize(.read, group: post.groupID, actor: actor, now: now, on: connection, logger: logger)
            guard post.moderation == .visible, let body = post.body else { throw APIError.notFound }
            guard post.authorID != actor.accountID else { throw APIError.forbidden("you cannot flag your own post") }
            let settings = try await ModerationStore.settings(on: connection, logger: logger)
            let history = try await ModerationStore.flaggerHistory(account: actor.accountID, settings: settings, now: now, on: connection, logger: logger)
            try await APIError.checkRate(.flag, actor: actor, isNewAccount: history.isNew, settings: settings, now: now, on: connection, logger: logger)
            let weight = FlagWeight.weight(isNewAccount: history.isNew, upheld: history.upheld, rejected: history.rejected)
            let (itemID, state, created) = try await ModerationStore.openItem(post: post, body: body, now: now, on: connection, logger: logger)
            guard let score = try await ModerationStore.addFlag(item: itemID, post: post.id, account: actor.accountID, reason: input.reason, note: note,
                                                                weight: weight, now: now, on: connection, logger: logger) else {
                throw APIError(.conflict, code: "already_flagged", message: "you have already flagged this post")
            }
            // The note stays with the flag (deleted with the item), not in the permanent log:
            // it may quote the very personal information it reports.
            try await ModerationStore.log("flag", item: itemID, post: post.id, group: post.groupID, actor: actor.accountID,
                                          reason: input.reason.rawValue, now: now, on: connection, logger: logger)
            // A decided item records later flags but is not reopened: a kept post cannot be
            // hidden again by the same crowd.
            guard state == .pending || state == .escalated else { return }
            var autoHidden = false
            // Re-read under the item's lock: a moderator may have acted meanwhile, and only the
            // flag that crosses the threshold hides the post.
            if score >= settings.autoHideScore,
               try await ThreadStore.findPost(post.id, on: connection, logger: logger)?.moderation == .visible,
               try await ModerationStore.setAutoHidden(item: itemID, on: connection, logger: logger) {
                autoHidden = true
                try await ModerationEffects.setPost(post.id, to: .hidden, now: now, on: connection, logger: logger)
                try await ModerationEffects.scrub(post: post, on: connection, logger: logger)
                try await announce("post.hidden", post: post, now: now, on: connection, logger: logger)
                try await ModerationStore.log("auto_hide", item: itemID, post: post.id, group: post.groupID, actor: nil,
                                              reason: "score \(score) reached \(settings.autoHideScore)", now: now, on: connection, logger: logger)
            }
            if created || autoHidden {
                let moderators = try await ModerationStore.moderators(ofGroup: post.groupID, townOnly: state == .escalated, on: connection, logger: logger)
                try await EventStore.appendToEach(moderators.map(EventStore.userStream), kind: "moderation.item",
                                                  payload: QueueEvent(itemId: itemID, groupId: post.groupID, postId: post.id, state: state, autoHidden: autoHidden),
                                                  now: now, on: connection, logger: logger)
            }
        }
        context.logger.info("post flagged", metadata: ["post_id": "\(postID)", "reason": "\(input.reason.rawValue)"])
        return EditedResponse(status: .created, response: FlagResponse(postId: postID, reason: input.reason, createdAt: now, outcome: "pending"))
    }

    @Sendable func myFlags(_ request: Request, context: KairanRequestContext) async throws -> Items<FlagResponse> {
        let actor = try context.requireActor()
        let rows = try await database.withConnection { connection in
            var rows: [FlagResponse] = []
            for (post, reason, at, state) in try await ModerationStore.flags(by: actor.accountID, limit: 100, on: connection, logger: context.logger) {
                rows.append(FlagResponse(postId: post, reason: FlagReason(rawValue: reason) ?? .other, createdAt: at,
                                         outcome: Self.outcome(ModerationItemState(rawValue: state) ?? .pending)))
            }
            return rows
        }
        return Items(items: rows)
    }

    /// What a reporter is told: removed, kept, or still pending.
    static func outcome(_ state: ModerationItemState) -> String {
        switch state {
        case .removed: return "removed"
        case .kept, .ignored: return "kept"
        case .pending, .escalated: return "pending"
        }
    }

    /// Post events for live readers of the thread and the group.
    func announce(_ kind: String, post: PostRecord, now: Date, on connection: PostgresConnection, logger: Logger) async throws {
        struct Moderated: Encodable {
            let id: PostID
            let threadId: ThreadID
            let groupId: GroupID
        }
        let fresh = try await ThreadStore.findPost(post.id, on: connection, logger: logger) ?? post
        for stream in [EventStore.threadStream(post.threadID), EventStore.groupStream(post.groupID)] {
            if kind == "post.restored" {
                try await EventStore.append(stream, kind: kind, payload: PostResponse(fresh), now: now, on: connection, logger: logger)
            } else {
                try await EventStore.append(stream, kind: kind, payload: Moderated(id: post.id, threadId: post.threadID, groupId: post.groupID),
                                            now: now, on: connection, logger: logger)
            }
        }
    }

    // MARK: - The queue

    struct ItemResponse: ResponseEncodable, Sendable {
        struct Flag: Encodable, Sendable {
            let accountId: AccountID
            let displayName: String
            let reason: FlagReason
            let note: String
            let weight: Double
            let createdAt: Date
        }
        let id: ModerationItemID
        let postId: PostID
        let threadId: ThreadID
        let groupId: GroupID
        let groupName: String
        let authorId: AccountID?
        /// The post's text as flagged (kept for review even when it was removed).
        let postBody: String
        let postModeration: PostModeration
        let state: ModerationItemState
        let score: Double
        let autoHidden: Bool
        let reasons: [String: Int]
        let createdAt: Date
        let updatedAt: Date
        let decidedAt: Date?
        /// Detail view only.
        let flags: [Flag]?
        let history: [ModerationStore.LogEntry]?
        let appeal: AppealRecord?

        init(_ r: ModerationItemRecord, flags: [FlagRecord]? = nil, history: [ModerationStore.LogEntry]? = nil, appeal: AppealRecord? = nil) {
            id = r.id; postId = r.postID; threadId = r.threadID; groupId = r.groupID; groupName = r.groupName; authorId = r.authorID
            postBody = r.postBody; postModeration = r.postModeration; state = r.state; score = r.score; autoHidden = r.autoHidden
            reasons = r.reasons; createdAt = r.createdAt; updatedAt = r.updatedAt; decidedAt = r.decidedAt
            self.flags = flags?.map { Flag(accountId: $0.accountID, displayName: $0.displayName, reason: $0.reason, note: $0.note, weight: $0.weight, createdAt: $0.createdAt) }
            self.history = history
            self.appeal = appeal
        }
    }

    @Sendable func items(_ request: Request, context: KairanRequestContext) async throws -> Page<ItemResponse> {
        let actor = try context.requireActor()
        let query = request.uri.queryParameters
        let state = try query["state"].map { text in
            guard let value = ModerationItemState(rawValue: String(text)) else { throw APIError.badRequest("unknown state '\(text)'") }
            return value
        }
        let reason = try query["reason"].map { text in
            guard let value = FlagReason(rawValue: String(text)) else { throw APIError.badRequest("unknown reason '\(text)'") }
            return value
        }
        let group = try request.cursor("groupId")
        let before = try request.cursor("before")
        let limit = try request.pageLimit()
        let items = try await database.withConnection { connection -> [ModerationItemRecord] in
            var scope: [GroupID]?
            if !actor.isTownModerator {
                scope = try await ModerationStore.moderatedGroups(account: actor.accountID, on: connection, logger: context.logger)
                guard !(scope?.isEmpty ?? true) else { throw APIError.forbidden("only moderators have a queue") }
            }
            // A group moderator's own posts are judged by the town's moderators, not by them.
            return try await ModerationStore.items(groups: scope, state: state, reason: reason, group: group, before: before, limit: limit,
                                                   excludingAuthor: actor.isTownModerator ? nil : actor.accountID,
                                                   on: connection, logger: context.logger)
        }
        return Page(items: items.map { ItemResponse($0) }, nextBefore: items.count == limit ? items.last?.id : nil)
    }

    /// The item, if the caller may see it (its group's moderators or the town's).
    func loadItem(_ context: KairanRequestContext, actor: Actor, lock: Bool, on connection: PostgresConnection) async throws -> (ModerationItemRecord, GroupStanding) {
        let id = try context.parameters.require("itemID", as: ModerationItemID.self)
        guard let item = try await ModerationStore.item(id, lock: lock, on: connection, logger: context.logger),
              let (_, standing) = try await GroupStore.standing(group: item.groupID, account: actor.accountID, now: dependencies.clock.now(),
                                                                on: connection, logger: context.logger),
              Policy.decide(actor, .moderate, in: standing) == .allow,
              // Nobody but the town's moderators sees the queue item of their own post (who
              // flagged it, and how it is judged).
              item.authorID != actor.accountID || actor.isTownModerator else { throw APIError.notFound }
        return (item, standing)
    }

    @Sendable func item(_ request: Request, context: KairanRequestContext) async throws -> ItemResponse {
        let actor = try context.requireActor()
        return try await database.withConnection { connection in
            let (item, _) = try await loadItem(context, actor: actor, lock: false, on: connection)
            let flags = try await ModerationStore.flags(item: item.id, on: connection, logger: context.logger)
            let history = try await ModerationStore.logEntries(item: item.id, before: nil, limit: 200, on: connection, logger: context.logger)
            let appeal = try await ModerationEffects.appeals(itemID: item.id, on: connection, logger: context.logger)
            return ItemResponse(item, flags: flags, history: history, appeal: appeal)
        }
    }
}
