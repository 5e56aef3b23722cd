import Foundation
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// Residents flag posts; a weighted score hides a post pending review; moderators clear
/// the queue (their groups', or every group's for the town's moderators) and every action
/// lands in the append-only moderation log; authors may appeal a removal once.
public struct ModerationService: Sendable {
    let services: Services
    var database: Database { services.database }

    // MARK: - Flags

    /// A resident reports a post. The flag that brings the post's weighted score over the
    /// town's threshold hides it until a moderator decides.
    public func flag(_ actor: Actor, post postID: PostID, reason: FlagReason, note rawNote: String?, logger: Logger) async throws -> FlagView {
        let note = try Content.text(rawNote ?? "", field: "note", min: reason == .other ? 1 : 0, max: 500, multiline: true)
        let now = services.clock.now()
        try await database.withTransaction { db in
            guard let post = try await ThreadStore.findPost(postID, on: db) else { throw ServiceError.notFound }
            _ = try await GroupAccess.group(.read, post.groupID, actor: actor, now: now, on: db)
            guard post.moderation == .visible, let body = post.body else { throw ServiceError.notFound }
            guard post.authorID != actor.accountID else { throw ServiceError.forbidden("you cannot flag your own post") }
            let settings = try await ModerationStore.settings(on: db)
            let history = try await ModerationStore.flaggerHistory(account: actor.accountID, settings: settings, now: now, on: db)
            try await PostGate.checkRate(.flag, actor: actor, isNewAccount: history.isNew, settings: settings, now: now, on: db)
            let weight = FlagWeight.weight(isNewAccount: history.isNew, upheld: history.upheld, rejected: history.rejected)
            let (itemID, state, created) = try await ModerationStore.openItem(post: post, body: body, now: now, on: db)
            guard let score = try await ModerationStore.addFlag(item: itemID, post: post.id, account: actor.accountID, reason: reason, note: note,
                                                                weight: weight, now: now, on: db) else {
                throw ServiceError.conflict("already_flagged", "you have already flagged this post")
            }
            // The note stays with the flag (deleted with the item), not in the permanent log:
            // it may quote the very personal information it reports.
            try await ModerationStore.log("flag", item: itemID, post: post.id, group: post.groupID, actor: actor.accountID,
                                          reason: reason.rawValue, now: now, on: db)
            // A decided item records later flags but is not reopened: a kept post cannot be
            // hidden again by the same crowd.
            guard state == .pending || state == .escalated else { return }
            var autoHidden = false
            // Re-read under the item's lock: a moderator may have acted meanwhile, and only the
            // flag that crosses the threshold hides the post.
            if score >= settings.autoHideScore,
               try await ThreadStore.findPost(post.id, on: db)?.moderation == .visible,
               try await ModerationStore.setAutoHidden(item: itemID, on: db) {
                autoHidden = true
                try await ModerationEffects.setPost(post.id, to: .hidden, now: now, on: db)
                try await ModerationEffects.scrub(post: post, on: db)
                try await Announce.postWithdrawn("post.hidden", post, now: now, on: db)
                try await ModerationStore.log("auto_hide", item: itemID, post: post.id, group: post.groupID, actor: nil,
                                              reason: "score \(score) reached \(settings.autoHideScore)", now: now, on: db)
            }
            if created || autoHidden {
                try await Announce.queueItem(itemID, group: post.groupID, post: post.id, state: state, autoHidden: autoHidden,
                                             townOnly: state == .escalated, now: now, on: db)
            }
        }
        logger.info("post flagged", metadata: ["post_id": "\(postID)", "reason": "\(reason.rawValue)"])
        return FlagView(postId: postID, reason: reason, createdAt: now, outcome: "pending")
    }

    /// The caller's own flags with their outcomes, newest first.
    public func myFlags(_ actor: Actor, before: Int64?, limit: Int, logger: Logger) async throws -> Page<FlagView> {
        let rows = try await database.withConnection { db in
            try await ModerationStore.flags(by: actor.accountID, before: before, limit: limit, on: db)
        }
        return Page(rows, limit: limit, cursor: \.id).map { row in
            FlagView(postId: row.postID, reason: FlagReason(rawValue: row.reason) ?? .other, createdAt: row.at,
                     outcome: FlagView.outcome(ModerationItemState(rawValue: row.state) ?? .pending),
                     threadId: row.threadID, groupId: row.groupID, excerpt: row.excerpt)
        }
    }

    // MARK: - The queue

    public struct QueueFilter: Sendable {
        public var state: ModerationItemState?
        public var reason: FlagReason?
        public var group: GroupID?
        public init(state: ModerationItemState? = nil, reason: FlagReason? = nil, group: GroupID? = nil) {
            self.state = state; self.reason = reason; self.group = group
        }
    }

    /// The caller's queue: their groups' items, or every group's for the town's moderators.
    public func queue(_ actor: Actor, filter: QueueFilter, before: Int64?, limit: Int, logger: Logger) async throws -> Page<ModerationItemView> {
        let items = try await database.withConnection { db -> [ModerationItemRecord] in
            var scope: [GroupID]?
            if !actor.isTownModerator {
                scope = try await ModerationStore.moderatedGroups(account: actor.accountID, on: db)
                guard !(scope?.isEmpty ?? true) else { throw ServiceError.forbidden("only moderators have a queue") }
            }
            // A group moderator's own posts are judged by the town's moderators, not by them.
            return try await ModerationStore.items(groups: scope, state: filter.state, reason: filter.reason, group: filter.group, before: before,
                                                   limit: limit, excludingAuthor: actor.isTownModerator ? nil : actor.accountID,
                                                   on: db)
        }
        return Page(items, limit: limit, cursor: \.id).map { ModerationItemView($0) }
    }

    /// The item, if the caller may see it (its group's moderators or the town's).
    private func loadItem(_ id: ModerationItemID, actor: Actor, lock: Bool, on db: DatabaseConnection) async throws -> (ModerationItemRecord, GroupStanding) {
        guard let item = try await ModerationStore.item(id, lock: lock, on: db),
              let (_, standing) = try await GroupStore.standing(group: item.groupID, account: actor.accountID, now: services.clock.now(),
                                                                on: db),
              GroupAccess.isModerator(actor, in: standing),
              // Nobody but the town's moderators sees the queue item of their own post (who
              // flagged it, and how it is judged).
              item.authorID != actor.accountID || actor.isTownModerator else { throw ServiceError.notFound }
        return (item, standing)
    }

    /// One item with its flags, its history and any appeal.
    public func item(_ actor: Actor, _ id: ModerationItemID, logger: Logger) async throws -> ModerationItemView {
        try await database.withConnection { db in
            let (item, _) = try await loadItem(id, actor: actor, lock: false, on: db)
            let flags = try await ModerationStore.flags(item: item.id, on: db)
            let history = try await ModerationStore.logEntries(item: item.id, before: nil, limit: 200, on: db)
            let appeal = try await ModerationEffects.appeals(itemID: item.id, on: db)
            return ModerationItemView(item, flags: flags, history: history, appeal: appeal)
        }
    }

    /// A moderator decides an item: keep, hide, delete, warn, suspend, ban or escalate. The
    /// effect, the notifications and the log line commit together.
    public func decide(_ actor: Actor, item id: ModerationItemID, _ decision: ModerationDecision, logger: Logger) async throws -> ModerationItemView {
        let reason = try Content.text(decision.reason, field: "reason", max: 500, multiline: true)
        if let hours = decision.durationHours, !(1...8760).contains(hours) {
            throw ValidationError(field: "durationHours", code: "out_of_range", message: "durationHours must be between 1 and 8760")
        }
        let now = services.clock.now()
        try await database.withTransaction { db in
            let (item, standing) = try await loadItem(id, actor: actor, lock: true, on: db)
            try Policy.decideModeration(actor, townHandled: item.townHandled || item.state == .escalated,
                                        isAuthor: item.authorID == actor.accountID, groupStanding: standing).require()
            guard let post = try await ThreadStore.findPost(item.postID, on: db) else { throw ServiceError.notFound }
            var subject: AccountID?
            var detail = ""
            // The author's account, which warnings, suspensions and bans need.
            func author() throws -> AccountID {
                guard let author = item.authorID else { throw ServiceError.conflict("no_author", "the author's account is gone") }
                return author
            }
            // Acting on a moderator's own standing takes the group's administrator.
            func requireAdministratorIfModerator(_ account: AccountID) async throws {
                if let role = try await GroupStore.standing(group: item.groupID, account: account, now: now, on: db)?.1.role,
                   role >= .moderator {
                    try Policy.decide(actor, .administer, in: standing).require()
                }
            }
            switch decision.action {
            case .keep, .ignore:
                if item.postModeration != .visible {
                    try await ModerationEffects.setPost(post.id, to: .visible,
                                                        restoreBody: item.postModeration == .removed && item.restorable ? item.postBody : nil,
                                                        now: now, on: db)
                    try await Announce.postRestored(post, now: now, on: db)
                    if item.postModeration == .held, let approved = try await ThreadStore.findPost(post.id, on: db) {
                        try await ThreadStore.markVisiblePost(in: post.threadID, at: now, on: db)
                        // Its author was waiting: told it is up now (a removal tells them below).
                        if let author = item.authorID {
                            try await Notifier.notify(author, kind: "moderation.approved", .init(
                                postId: post.id, threadId: post.threadID, groupId: post.groupID, itemId: item.id), now: now, on: db)
                        }
                        // Approved: now it may mention people, and a thread it opened appears.
                        try await Notifier.mentions(of: approved, now: now, on: db)
                        if try await ThreadStore.isOpeningPost(post.id, thread: post.threadID, on: db),
                           let thread = try await ThreadStore.findThread(post.threadID, reader: nil, on: db) {
                            try await Announce.thread("thread.created", thread, now: now, on: db)
                        }
                    }
                }
                try await close(item, as: decision.action == .keep ? .kept : .ignored, now: now, on: db)
            case .hide, .delete:
                let target: PostModeration = decision.action == .hide ? .hidden : .removed
                if target == .removed && post.deletedAt != nil && item.postModeration != .removed {
                    // Its author had already taken it down: a later keep must not bring it back.
                    try await ModerationStore.setRestorable(item.id, false, on: db)
                }
                if item.postModeration != target {
                    try await ModerationEffects.setPost(post.id, to: target, now: now, on: db)
                    try await ModerationEffects.scrub(post: post, on: db)
                    try await Announce.postWithdrawn(target == .hidden ? "post.hidden" : "post.removed", post, now: now, on: db)
                }
                try await close(item, as: .removed, now: now, on: db)
                if let author = item.authorID {
                    try await Notifier.notify(author, kind: "moderation.removed", .init(
                        postId: post.id, threadId: post.threadID, groupId: post.groupID, itemId: item.id, reason: reason), now: now, on: db)
                }
            case .warn:
                let author = try author()
                subject = author
                try await Notifier.notify(author, kind: "moderation.warning", .init(
                    postId: post.id, threadId: post.threadID, groupId: post.groupID, itemId: item.id, reason: reason), now: now, on: db)
            case .suspend:
                let author = try author()
                guard let hours = decision.durationHours else {
                    throw ValidationError(field: "durationHours", code: "required", message: "a suspension needs durationHours")
                }
                let town = decision.scope == "town"
                guard decision.scope == nil || town || decision.scope == "group" else {
                    throw ValidationError(field: "scope", code: "invalid_scope", message: "scope is group or town")
                }
                if town && !actor.isTownModerator { throw ServiceError.forbidden("only the town's moderators may suspend from the whole town") }
                try await requireAdministratorIfModerator(author)
                let until = now.addingTimeInterval(TimeInterval(hours) * 3600)
                try await ModerationStore.suspend(account: author, group: town ? nil : item.groupID, until: until, reason: reason, by: actor.accountID,
                                                  now: now, on: db)
                subject = author
                detail = "\(town ? "town" : "group") until \(until.formatted(.iso8601))"
                try await Notifier.notify(author, kind: "moderation.suspended", .init(
                    groupId: town ? nil : item.groupID, itemId: item.id, reason: reason, scope: town ? "town" : "group", until: until.formatted(.iso8601)),
                    now: now, on: db)
            case .ban:
                let author = try author()
                guard author != actor.accountID else { throw ServiceError.conflict("self_ban", "you cannot ban yourself") }
                try await requireAdministratorIfModerator(author)
                let expires = decision.durationHours.map { now.addingTimeInterval(TimeInterval($0) * 3600) }
                try await GroupStore.ban(group: item.groupID, account: author, by: actor.accountID, reason: reason, expiresAt: expires, now: now,
                                         on: db)
                try await Announce.member("member.banned", group: item.groupID, account: author, role: nil, now: now, on: db)
                subject = author
                detail = expires.map { "until \($0.formatted(.iso8601))" } ?? "for good"
            case .escalate:
                guard item.state == .pending else { throw ServiceError.conflict("not_pending", "only a pending item can be escalated") }
                guard !actor.isTownModerator else { throw ServiceError.conflict("already_town", "the town's moderators decide it themselves") }
                try await ModerationStore.setState(item.id, .escalated, decided: false, now: now, on: db)
                try await ModerationStore.setTownHandled(item.id, on: db)
                try await Announce.queueItem(item.id, group: item.groupID, post: item.postID, state: .escalated, autoHidden: item.autoHidden,
                                             townOnly: true, now: now, on: db)
            }
            if actor.isTownModerator { try await ModerationStore.setTownHandled(item.id, on: db) }
            try await ModerationStore.log(decision.action.rawValue, item: item.id, post: item.postID, group: item.groupID, actor: actor.accountID,
                                          reason: reason, subject: subject, detail: detail, now: now, on: db)
        }
        logger.info("moderation action", metadata: ["item_id": "\(id)", "action": "\(decision.action.rawValue)"])
        return try await item(actor, id, logger: logger)
    }

    /// Closes an item and tells every reporter the outcome (never who decided).
    private func close(_ item: ModerationItemRecord, as state: ModerationItemState, now: Date, on db: DatabaseConnection) async throws {
        let wasOpen = item.state == .pending || item.state == .escalated
        try await ModerationStore.setState(item.id, state, decided: true, now: now, on: db)
        guard wasOpen || FlagView.outcome(item.state) != FlagView.outcome(state) else { return }
        let reporters = try await ModerationStore.reporters(item: item.id, on: db)
        // The thread and the start of the post as it was flagged, so a reporter can tell which
        // of their reports this was (the same excerpt `/v1/me/flags` shows them).
        try await Notifier.notify(reporters, kind: "flag.outcome", .init(postId: item.postID, threadId: item.threadID, groupId: item.groupID,
                                                                           excerpt: String(item.postBody.prefix(50)), outcome: FlagView.outcome(state)),
                                  now: now, on: db)
    }

    // MARK: - Appeals

    /// The author of a removed post asks the town's moderators to look again, once.
    public func appeal(_ actor: Actor, item id: ModerationItemID, text rawText: String, logger: Logger) async throws -> AppealRecord {
        let text = try Content.text(rawText, field: "text", max: 2000, multiline: true)
        let now = services.clock.now()
        return try await database.withTransaction { db -> AppealRecord in
            guard let item = try await ModerationStore.item(id, lock: true, on: db), item.authorID == actor.accountID else {
                throw ServiceError.notFound
            }
            guard item.state == .removed else { throw ServiceError.conflict("not_removed", "only a removed post can be appealed") }
            guard let appeal = try await ModerationEffects.insertAppeal(item: item.id, author: actor.accountID, text: text, now: now, on: db) else {
                throw ServiceError.conflict("already_appealed", "a removal can be appealed once")
            }
            try await ModerationStore.setTownHandled(item.id, on: db)
            try await ModerationStore.log("appeal", item: item.id, post: item.postID, group: item.groupID, actor: actor.accountID, reason: "",
                                          now: now, on: db)
            struct AppealEvent: Encodable { let appealId: AppealID; let itemId: ModerationItemID }
            let moderators = try await ModerationStore.moderators(ofGroup: item.groupID, townOnly: true, on: db)
            try await EventStore.appendToEach(moderators.map(EventStore.userStream), kind: "moderation.appeal",
                                              payload: AppealEvent(appealId: appeal.id, itemId: item.id), now: now, on: db)
            return appeal
        }
    }

    public enum AppealState: String, Sendable {
        case pending, upheld, reversed
    }

    /// Appeals for the town's moderators, optionally in one state.
    public func appeals(_ actor: Actor, state: AppealState?, before: Int64?, limit: Int, logger: Logger) async throws -> Page<AppealRecord> {
        try Policy.decideTownModeration(actor).require()
        let rows = try await database.withConnection { db in
            try await ModerationEffects.appeals(state: state?.rawValue, before: before, limit: limit, on: db)
        }
        return Page(rows, limit: limit, cursor: \.id)
    }

    /// The town's moderators uphold a removal or reverse it (the post comes back).
    public func decideAppeal(_ actor: Actor, _ id: AppealID, reverse: Bool, reason rawReason: String, logger: Logger) async throws -> AppealRecord {
        try Policy.decideTownModeration(actor).require()
        let reason = try Content.text(rawReason, field: "reason", max: 500, multiline: true)
        let now = services.clock.now()
        return try await database.withTransaction { db -> AppealRecord in
            guard let appeal = try await ModerationEffects.appeal(id, lock: true, on: db),
                  let item = try await ModerationStore.item(appeal.itemId, lock: true, on: db) else { throw ServiceError.notFound }
            guard appeal.state == "pending" else { throw ServiceError.conflict("already_decided", "this appeal was decided") }
            guard item.state == .removed else {
                throw ServiceError.conflict("not_removed", "the post is no longer removed; decide the queue item instead")
            }
            try await ModerationEffects.decideAppeal(id, state: reverse ? "reversed" : "upheld", by: actor.accountID, reason: reason, now: now,
                                                     on: db)
            if reverse, let post = try await ThreadStore.findPost(item.postID, on: db) {
                try await ModerationEffects.setPost(post.id, to: .visible,
                                                    restoreBody: item.postModeration == .removed && item.restorable ? item.postBody : nil,
                                                    now: now, on: db)
                try await Announce.postRestored(post, now: now, on: db)
                try await close(item, as: .kept, now: now, on: db)
            }
            try await ModerationStore.log(reverse ? "appeal_reversed" : "appeal_upheld", item: item.id, post: item.postID, group: item.groupID,
                                          actor: actor.accountID, reason: reason, subject: appeal.authorId, now: now, on: db)
            try await Notifier.notify(appeal.authorId, kind: "moderation.appeal", .init(
                postId: item.postID, groupId: item.groupID, itemId: item.id, outcome: reverse ? "reversed" : "upheld", reason: reason),
                now: now, on: db)
            return try await ModerationEffects.appeal(id, on: db) ?? appeal
        }
    }

    // MARK: - The log and settings

    /// The log, the appeals and the settings are the town's moderators'. Front ends ask
    /// this before reading a request's parameters, so a stranger learns nothing from
    /// validation errors.
    public func requireTownModerator(_ actor: Actor) throws {
        try Policy.decideTownModeration(actor).require()
    }

    /// Only a town administrator changes the moderation settings.
    public func requireSettingsAdministrator(_ actor: Actor) throws {
        guard actor.isTownAdmin else { throw ServiceError.forbidden("only a town administrator may change moderation settings") }
    }

    /// The moderation log, newest first (the town's moderators). `timeLimit` bounds the
    /// database wait of a page read outside a request's own deadline (a streamed export).
    public func log(_ actor: Actor, before: Int64?, limit: Int, timeLimit: Duration? = nil, logger: Logger) async throws -> Page<ModerationStore.LogEntry> {
        try requireTownModerator(actor)
        let rows: [ModerationStore.LogEntry]
        if let timeLimit {
            rows = try await database.withConnection(timeLimit: timeLimit) { db in
                try await ModerationStore.logEntries(before: before, limit: limit, on: db)
            }
        } else {
            rows = try await database.withConnection { db in
                try await ModerationStore.logEntries(before: before, limit: limit, on: db)
            }
        }
        return Page(rows, limit: limit, cursor: \.id)
    }

    public func settings(_ actor: Actor, logger: Logger) async throws -> ModerationSettings {
        try Policy.decideTownModeration(actor).require()
        return try await database.withConnection { try await ModerationStore.settings(on: $0) }
    }

    /// A town administrator changes the thresholds; the change is logged.
    public func updateSettings(_ actor: Actor, _ change: ModerationSettingsChange, logger: Logger) async throws -> ModerationSettings {
        try requireSettingsAdministrator(actor)
        let now = services.clock.now()
        return try await database.withTransaction { db in
            try await ModerationStore.lockSettings(on: db)
            let current = try await ModerationStore.settings(on: db)
            let updated = ModerationSettings(
                autoHideScore: change.autoHideScore ?? current.autoHideScore, newAccountDays: change.newAccountDays ?? current.newAccountDays,
                newAccountPostsPerHour: change.newAccountPostsPerHour ?? current.newAccountPostsPerHour,
                newAccountMaxLinks: change.newAccountMaxLinks ?? current.newAccountMaxLinks)
            guard (0.25...100).contains(updated.autoHideScore) else {
                throw ValidationError(field: "autoHideScore", code: "out_of_range", message: "autoHideScore must be between 0.25 and 100")
            }
            guard (0...365).contains(updated.newAccountDays) else {
                throw ValidationError(field: "newAccountDays", code: "out_of_range", message: "newAccountDays must be between 0 and 365")
            }
            guard (1...1000).contains(updated.newAccountPostsPerHour), (0...100).contains(updated.newAccountMaxLinks) else {
                throw ValidationError(field: "newAccountPostsPerHour", code: "out_of_range",
                                      message: "newAccountPostsPerHour is 1–1000 and newAccountMaxLinks 0–100")
            }
            try await ModerationStore.update(updated, on: db)
            try await ModerationStore.log("settings", item: nil, post: nil, group: nil, actor: actor.accountID, reason: "",
                                          detail: "autoHideScore=\(updated.autoHideScore) newAccountDays=\(updated.newAccountDays) "
                                              + "newAccountPostsPerHour=\(updated.newAccountPostsPerHour) newAccountMaxLinks=\(updated.newAccountMaxLinks)",
                                          now: now, on: db)
            return updated
        }
    }
}
