import Foundation
import Hummingbird
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// Moderators' actions on queue items, appeals, the log and the settings.
extension ModerationController {
    struct ActionInput: Decodable {
        let action: ModerationActionKind
        let reason: String
        /// Suspensions (required) and bans (absent: for good), in hours.
        let durationHours: Int?
        /// Suspensions: "group" (default) or "town" (the town's moderators only).
        let scope: String?
    }

    @Sendable func act(_ request: Request, context: KairanRequestContext) async throws -> ItemResponse {
        let actor = try context.requireActor()
        let input = try await request.decode(as: ActionInput.self, context: context)
        let reason = try Content.text(input.reason, field: "reason", max: 500, multiline: true)
        if let hours = input.durationHours, !(1...8760).contains(hours) {
            throw APIError.validation(ValidationError(field: "durationHours", code: "out_of_range", message: "durationHours must be between 1 and 8760"))
        }
        let now = dependencies.clock.now()
        let logger = context.logger
        let itemID = try await database.withTransaction { connection -> ModerationItemID in
            let (item, standing) = try await loadItem(context, actor: actor, lock: true, on: connection)
            try APIError.check(Policy.decideModeration(actor, townHandled: item.townHandled || item.state == .escalated,
                                                       isAuthor: item.authorID == actor.accountID, groupStanding: standing))
            guard let post = try await ThreadStore.findPost(item.postID, on: connection, logger: logger) else { throw APIError.notFound }
            var subject: AccountID?
            var detail = ""
            switch input.action {
            case .keep, .ignore:
                if item.postModeration != .visible {
                    try await ModerationEffects.setPost(post.id, to: .visible,
                                                        restoreBody: item.postModeration == .removed && item.restorable ? item.postBody : nil,
                                                        now: now, on: connection, logger: logger)
                    try await announce("post.restored", post: post, now: now, on: connection, logger: logger)
                    if item.postModeration == .held, let approved = try await ThreadStore.findPost(post.id, on: connection, logger: logger) {
                        try await ThreadStore.markVisiblePost(in: post.threadID, at: now, on: connection, logger: logger)
                        // Approved: now it may mention people, and a thread it opened appears.
                        try await NotificationsController.notifyMentions(of: approved, now: now, on: connection, logger: logger)
                        if try await ThreadStore.isOpeningPost(post.id, thread: post.threadID, on: connection, logger: logger),
                           let thread = try await ThreadStore.findThread(post.threadID, reader: nil, on: connection, logger: logger) {
                            try await EventStore.append(EventStore.groupStream(post.groupID), kind: "thread.created", payload: ThreadResponse(thread),
                                                        now: now, on: connection, logger: logger)
                        }
                    }
                }
                try await close(item, as: input.action == .keep ? .kept : .ignored, reason: reason, now: now, on: connection, logger: logger)
            case .hide, .delete:
                let target: PostModeration = input.action == .hide ? .hidden : .removed
                if target == .removed && post.deletedAt != nil && item.postModeration != .removed {
                    // Its author had already taken it down: a later keep must not bring it back.
                    try await ModerationStore.setRestorable(item.id, false, on: connection, logger: logger)
                }
                if item.postModeration != target {
                    try await ModerationEffects.setPost(post.id, to: target, now: now, on: connection, logger: logger)
                    try await ModerationEffects.scrub(post: post, on: connection, logger: logger)
                    try await announce(target == .hidden ? "post.hidden" : "post.removed", post: post, now: now, on: connection, logger: logger)
                }
                try await close(item, as: .removed, reason: reason, now: now, on: connection, logger: logger)
                if let author = item.authorID {
                    try await NotificationsController.notify(author, kind: "moderation.removed", .init(
                        postId: post.id, threadId: post.threadID, groupId: post.groupID, itemId: item.id, reason: reason), now: now, on: connection, logger: logger)
                }
            case .warn:
                guard let author = item.authorID else { throw APIError(.conflict, code: "no_author", message: "the author's account is gone") }
                subject = author
                try await NotificationsController.notify(author, kind: "moderation.warning", .init(
                    postId: post.id, threadId: post.threadID, groupId: post.groupID, itemId: item.id, reason: reason), now: now, on: connection, logger: logger)
            case .suspend:
                guard let author = item.authorID else { throw APIError(.conflict, code: "no_author", message: "the author's account is gone") }
                guard let hours = input.durationHours else {
                    throw APIError.validation(ValidationError(field: "durationHours", code: "required", message: "a suspension needs durationHours"))
                }
                let town = input.scope == "town"
                guard input.scope == nil || town || input.scope == "group" else {
                    throw APIError.validation(ValidationError(field: "scope", code: "invalid_scope", message: "scope is group or town"))
                }
                if town && !actor.isTownModerator { throw APIError.forbidden("only the town's moderators may suspend from the whole town") }
                if let role = try await GroupStore.standing(group: item.groupID, account: author, now: now, on: connection, logger: logger)?.1.role,
                   role >= .moderator {
                    try APIError.check(Policy.decide(actor, .administer, in: standing))
                }
                let until = now.addingTimeInterval(TimeInterval(hours) * 3600)
                try await ModerationStore.suspend(account: author, group: town ? nil : item.groupID, until: until, reason: reason, by: actor.accountID,
                                                  now: now, on: connection, logger: logger)
                subject = author
                detail = "\(town ? "town" : "group") until \(until.formatted(.iso8601))"
                try await NotificationsController.notify(author, kind: "moderation.suspended", .init(
                    groupId: town ? nil : item.groupID, itemId: item.id, reason: reason, scope: town ? "town" : "group", until: until.formatted(.iso8601)),
                    now: now, on: connection, logger: logger)
            case .ban:
                guard let author = item.authorID else { throw APIError(.conflict, code: "no_author", message: "the author's account is gone") }
                guard author != actor.accountID else { throw APIError(.conflict, code: "self_ban", message: "you cannot ban yourself") }
                if let role = try await GroupStore.standing(group: item.groupID, account: author, now: now, on: connection, logger: logger)?.1.role,
                   role >= .moderator {
                    try APIError.check(Policy.decide(actor, .administer, in: standing))
                }
                let expires = input.durationHours.map { now.addingTimeInterval(TimeInterval($0) * 3600) }
                try await GroupStore.ban(group: item.groupID, account: author, by: actor.accountID, reason: reason, expiresAt: expires, now: now,
                                         on: connection, logger: logger)
                struct MemberEvent: Encodable { let groupId: GroupID; let accountId: AccountID }
                try await EventStore.append(EventStore.groupStream(item.groupID), kind: "member.banned",
                                            payload: MemberEvent(groupId: item.groupID, accountId: author), now: now, on: connection, logger: logger)
                subject = author
                detail = expires.map { "until \($0.formatted(.iso8601))" } ?? "for good"
            case .escalate:
                guard item.state == .pending else {
                    throw APIError(.conflict, code: "not_pending", message: "only a pending item can be escalated")
                }
                guard !actor.isTownModerator else {
                    throw APIError(.conflict, code: "already_town", message: "the town's moderators decide it themselves")
                }
                try await ModerationStore.setState(item.id, .escalated, decided: false, now: now, on: connection, logger: logger)
                try await ModerationStore.setTownHandled(item.id, on: connection, logger: logger)
                let moderators = try await ModerationStore.moderators(ofGroup: item.groupID, townOnly: true, on: connection, logger: logger)
                try await EventStore.appendToEach(moderators.map(EventStore.userStream), kind: "moderation.item",
                                                  payload: QueueEvent(itemId: item.id, groupId: item.groupID, postId: item.postID, state: .escalated,
                                                                      autoHidden: item.autoHidden),
                                                  now: now, on: connection, logger: logger)
            }
            if actor.isTownModerator { try await ModerationStore.setTownHandled(item.id, on: connection, logger: logger) }
            try await ModerationStore.log(input.action.rawValue, item: item.id, post: item.postID, group: item.groupID, actor: actor.accountID,
                                          reason: reason, subject: subject, detail: detail, now: now, on: connection, logger: logger)
            return item.id
        }
        logger.info("moderation action", metadata: ["item_id": "\(itemID)", "action": "\(input.action.rawValue)"])
        return try await item(request, context: context)
    }

    /// Closes an item and tells every reporter the outcome (never who decided).
    func close(_ item: ModerationItemRecord, as state: ModerationItemState, reason: String, now: Date, on connection: PostgresConnection, logger: Logger) async throws {
        let wasOpen = item.state == .pending || item.state == .escalated
        try await ModerationStore.setState(item.id, state, decided: true, now: now, on: connection, logger: logger)
        guard wasOpen || Self.outcome(item.state) != Self.outcome(state) else { return }
        for reporter in try await ModerationStore.reporters(item: item.id, on: connection, logger: logger) {
            try await NotificationsController.notify(reporter, kind: "flag.outcome", .init(postId: item.postID, groupId: item.groupID, outcome: Self.outcome(state)),
                                                     now: now, on: connection, logger: logger)
        }
    }

    // MARK: - Appeals

    struct AppealInput: Decodable {
        let text: String
    }

    /// The author of a removed post asks the town's moderators to look again, once.
    @Sendable func appeal(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<AppealRecord> {
        let actor = try context.requireActor()
        let id = try context.parameters.require("itemID", as: ModerationItemID.self)
        let text = try Content.text(try await request.decode(as: AppealInput.self, context: context).text, field: "text", max: 2000, multiline: true)
        let now = dependencies.clock.now()
        let logger = context.logger
        let appeal = try await database.withTransaction { connection -> AppealRecord in
            guard let item = try await ModerationStore.item(id, lock: true, on: connection, logger: logger), item.authorID == actor.accountID else {
                throw APIError.notFound
            }
            guard item.state == .removed else { throw APIError(.conflict, code: "not_removed", message: "only a removed post can be appealed") }
            guard let appeal = try await ModerationEffects.insertAppeal(item: item.id, author: actor.accountID, text: text, now: now, on: connection, logger: logger) else {
                throw APIError(.conflict, code: "already_appealed", message: "a removal can be appealed once")
            }
            try await ModerationStore.setTownHandled(item.id, on: connection, logger: logger)
            try await ModerationStore.log("appeal", item: item.id, post: item.postID, group: item.groupID, actor: actor.accountID, reason: "",
                                          now: now, on: connection, logger: logger)
            struct AppealEvent: Encodable { let appealId: AppealID; let itemId: ModerationItemID }
            let moderators = try await ModerationStore.moderators(ofGroup: item.groupID, townOnly: true, on: connection, logger: logger)
            try await EventStore.appendToEach(moderators.map(EventStore.userStream), kind: "moderation.appeal",
                                              payload: AppealEvent(appealId: appeal.id, itemId: item.id), now: now, on: connection, logger: logger)
            return appeal
        }
        return EditedResponse(status: .created, response: appeal)
    }

    @Sendable func appeals(_ request: Request, context: KairanRequestContext) async throws -> Page<AppealRecord> {
        let actor = try context.requireActor()
        try APIError.check(Policy.decideTownModeration(actor))
        let state = request.uri.queryParameters["state"].map(String.init)
        if let state, !["pending", "upheld", "reversed"].contains(state) { throw APIError.badRequest("unknown state '\(state)'") }
        let before = try request.cursor("before")
        let limit = try request.pageLimit()
        let rows = try await database.withConnection { connection in
            try await ModerationEffects.appeals(state: state, before: before, limit: limit, on: connection, logger: context.logger)
        }
        return Page(items: rows, nextBefore: rows.count == limit ? rows.last?.id : nil)
    }

    struct AppealDecision: Decodable {
        /// "uphold" (the removal stands) or "reverse" (the post is restored).
        let decision: String
        let reason: String
    }

    @Sendable func decideAppeal(_ request: Request, context: KairanRequestContext) async throws -> AppealRecord {
        let actor = try context.requireActor()
        try APIError.check(Policy.decideTownModeration(actor))
        let id = try context.parameters.require("appealID", as: AppealID.self)
        let input = try await request.decode(as: AppealDecision.self, context: context)
        guard ["uphold", "reverse"].contains(input.decision) else {
            throw APIError.validation(ValidationError(field: "decision", code: "invalid_decision", message: "decision is uphold or reverse"))
        }
        let reason = try Content.text(input.reason, field: "reason", max: 500, multiline: true)
        let now = dependencies.clock.now()
        let logger = context.logger
        return try await database.withTransaction { connection -> AppealRecord in
            guard let appeal = try await ModerationEffects.appeal(id, lock: true, on: connection, logger: logger),
                  let item = try await ModerationStore.item(appeal.itemId, lock: true, on: connection, logger: logger) else { throw APIError.notFound }
            guard appeal.state == "pending" else { throw APIError(.conflict, code: "already_decided", message: "this appeal was decided") }
            guard item.state == .removed else {
                throw APIError(.conflict, code: "not_removed", message: "the post is no longer removed; decide the queue item instead")
            }
            let reverse = input.decision == "reverse"
            try await ModerationEffects.decideAppeal(id, state: reverse ? "reversed" : "upheld", by: actor.accountID, reason: reason, now: now,
                                                     on: connection, logger: logger)
            if reverse, let post = try await ThreadStore.findPost(item.postID, on: connection, logger: logger) {
                try await ModerationEffects.setPost(post.id, to: .visible,
                                                    restoreBody: item.postModeration == .removed && item.restorable ? item.postBody : nil,
                                                    now: now, on: connection, logger: logger)
                try await announce("post.restored", post: post, now: now, on: connection, logger: logger)
                try await close(item, as: .kept, reason: reason, now: now, on: connection, logger: logger)
            }
            try await ModerationStore.log(reverse ? "appeal_reversed" : "appeal_upheld", item: item.id, post: item.postID, group: item.groupID,
                                          actor: actor.accountID, reason: reason, subject: appeal.authorId, now: now, on: connection, logger: logger)
            try await NotificationsController.notify(appeal.authorId, kind: "moderation.appeal", .init(
                postId: item.postID, groupId: item.groupID, itemId: item.id, outcome: reverse ? "reversed" : "upheld", reason: reason),
                now: now, on: connection, logger: logger)
            return try await ModerationEffects.appeal(id, on: connection, logger: logger) ?? appeal
        }
    }

    // MARK: - The log and settings

    @Sendable func log(_ request: Request, context: KairanRequestContext) async throws -> Page<ModerationStore.LogEntry> {
        let actor = try context.requireActor()
        try APIError.check(Policy.decideTownModeration(actor))
        let before = try request.cursor("before")
        let limit = try request.pageLimit()
        let rows = try await database.withConnection { connection in
            try await ModerationStore.logEntries(before: before, limit: limit, on: connection, logger: context.logger)
        }
        return Page(items: rows, nextBefore: rows.count == limit ? rows.last?.id : nil)
    }

    /// The whole log as CSV, newest first, streamed a page at a time.
    @Sendable func exportLog(_ request: Request, context: KairanRequestContext) async throws -> Response {
        let actor = try context.requireActor()
        try APIError.check(Policy.decideTownModeration(actor))
        let database = self.database
        let logger = context.logger
        let requestTimeout = dependencies.requestTimeout
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: "id,at,action,actor_id,item_id,post_id,group_id,subject_id,reason,detail\r\n"))
            var before: Int64?
            while true {
                // Each page within the request timeout: the body is written after the
                // request's own deadline has let go.
                let from = before
                let rows = try await database.withConnection(timeLimit: requestTimeout) { connection in
                    try await ModerationStore.logEntries(before: from, limit: 1000, on: connection, logger: logger)
                }
                guard !rows.isEmpty else { break }
                var chunk = ""
                for row in rows {
                    func id(_ value: Int64?) -> String { value.map { String($0) } ?? "" }
                    let fields: [String] = [String(row.id), CSV.date(row.at), row.action, id(row.actorId), id(row.itemId), id(row.postId),
                                            id(row.groupId), id(row.subjectId), row.reason, row.detail]
                    chunk += fields.map(CSV.field).joined(separator: ",") + "\r\n"
                }
                try await writer.write(ByteBuffer(string: chunk))
                before = rows.last?.id
            }
            try await writer.finish(nil)
        }
        var headers: HTTPFields = [:]
        headers[.contentType] = "text/csv; charset=utf-8"
        headers[.contentDisposition] = "attachment; filename=\"moderation-log.csv\""
        return Response(status: .ok, headers: headers, body: body)
    }

    /// Absent fields keep their value.
    struct SettingsInput: Decodable {
        let autoHideScore: Double?
        let newAccountDays: Int?
        let newAccountPostsPerHour: Int?
        let newAccountMaxLinks: Int?
    }

    struct SettingsBody: ResponseEncodable, Sendable {
        let autoHideScore: Double
        let newAccountDays: Int
        let newAccountPostsPerHour: Int
        let newAccountMaxLinks: Int
        init(_ settings: ModerationSettings) {
            autoHideScore = settings.autoHideScore; newAccountDays = settings.newAccountDays
            newAccountPostsPerHour = settings.newAccountPostsPerHour; newAccountMaxLinks = settings.newAccountMaxLinks
        }
    }

    @Sendable func settings(_ request: Request, context: KairanRequestContext) async throws -> SettingsBody {
        let actor = try context.requireActor()
        try APIError.check(Policy.decideTownModeration(actor))
        let settings = try await database.withConnection { try await ModerationStore.settings(on: $0, logger: context.logger) }
        return SettingsBody(settings)
    }

    @Sendable func updateSettings(_ request: Request, context: KairanRequestContext) async throws -> SettingsBody {
        let actor = try context.requireActor()
        guard actor.isTownAdmin else { throw APIError.forbidden("only a town administrator may change moderation settings") }
        let patch = try await request.decode(as: SettingsInput.self, context: context)
        let current = try await database.withConnection { try await ModerationStore.settings(on: $0, logger: context.logger) }
        let input = SettingsBody(ModerationSettings(
            autoHideScore: patch.autoHideScore ?? current.autoHideScore, newAccountDays: patch.newAccountDays ?? current.newAccountDays,
            newAccountPostsPerHour: patch.newAccountPostsPerHour ?? current.newAccountPostsPerHour,
            newAccountMaxLinks: patch.newAccountMaxLinks ?? current.newAccountMaxLinks))
        guard (0.25...100).contains(input.autoHideScore) else {
            throw APIError.validation(ValidationError(field: "autoHideScore", code: "out_of_range", message: "autoHideScore must be between 0.25 and 100"))
        }
        guard (0...365).contains(input.newAccountDays) else {
            throw APIError.validation(ValidationError(field: "newAccountDays", code: "out_of_range", message: "newAccountDays must be between 0 and 365"))
        }
        guard (1...1000).contains(input.newAccountPostsPerHour), (0...100).contains(input.newAccountMaxLinks) else {
            throw APIError.validation(ValidationError(field: "newAccountPostsPerHour", code: "out_of_range",
                                                      message: "newAccountPostsPerHour is 1–1000 and newAccountMaxLinks 0–100"))
        }
        let now = dependencies.clock.now()
        try await database.withTransaction { connection in
            try await ModerationStore.update(ModerationSettings(autoHideScore: input.autoHideScore, newAccountDays: input.newAccountDays,
                                                                newAccountPostsPerHour: input.newAccountPostsPerHour, newAccountMaxLinks: input.newAccountMaxLinks),
                                             on: connection, logger: context.logger)
            try await ModerationStore.log("settings", item: nil, post: nil, group: nil, actor: actor.accountID, reason: "",
                                          detail: "autoHideScore=\(input.autoHideScore) newAccountDays=\(input.newAccountDays) "
                                              + "newAccountPostsPerHour=\(input.newAccountPostsPerHour) newAccountMaxLinks=\(input.newAccountMaxLinks)",
                                          now: now, on: connection, logger: context.logger)
        }
        return input
    }
}

extension AppealRecord: ResponseEncodable {}
extension ModerationStore.LogEntry: ResponseEncodable {}
