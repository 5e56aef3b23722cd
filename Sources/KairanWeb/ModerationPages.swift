import Foundation
import Hummingbird
import KairanAPI
import KairanCore
import KairanServices
import KairanStore

/// Moderators: the queue (live), an item with the post as flagged, its flags, history and
/// the actions with a reason; the town's watched words with CSV import and export; the log.
struct ModerationPages {
    let web: WebFrontEnd
    var services: Services { web.services }

    func addRoutes(to routes: RouterGroup<KairanRequestContext>) {
        routes.get("/moderation", use: queue)
        routes.get("/moderation/items/:id", use: item)
        routes.post("/moderation/items/:id", use: decide)
        routes.get("/moderation/watched-words", use: watchedWords)
        routes.post("/moderation/watched-words", use: addWord)
        routes.post("/moderation/watched-words/import", use: importWords)
        routes.post("/moderation/watched-words/:id/delete", use: deleteWord)
        routes.get("/moderation/watched-words.csv", use: exportWords)
        routes.get("/moderation/log", use: log)
    }

    static let stateLabels: [ModerationItemState: String] = [
        .pending: "未対応", .escalated: "町のモデレーターへ", .kept: "問題なし", .removed: "非表示・削除", .ignored: "対応不要",
    ]

    static let actionLabels: [(ModerationActionKind, String)] = [
        (.keep, "問題なし（投稿を残す）"), (.hide, "非表示にする"), (.delete, "削除する"), (.warn, "投稿者に注意する"),
        (.suspend, "投稿を一時停止する"), (.ban, "グループから追放する"), (.ignore, "対応不要（通報が不当）"), (.escalate, "町のモデレーターに任せる"),
    ]

    /// A log entry's action in words ("flag" is a resident's flag, the others a decision).
    static func label(action: String) -> String {
        if action == "flag" { return "通報" }
        if action == "auto_hide" { return "自動で非表示" }
        return actionLabels.first { $0.0.rawValue == action }?.1 ?? action
    }

    /// A flag's reason code in words; a moderator's own reason is shown as written.
    static func label(reason: String) -> String {
        Messages.flagReasons.first { $0.0.rawValue == reason }?.1 ?? reason
    }

    struct QueueView {
        struct Filter { let value: String; let label: String; let selected: Bool }
        struct Item { let id: ModerationItemID; let group: String; let excerpt: String; let reasons: String; let state: String; let flagged: String; let hidden: Bool }
        let filters: [Filter]
        let items: [Item]
        let next: String?
        let townModerator: Bool
    }

    static func reasonsText(_ reasons: [String: Int]) -> String {
        Messages.flagReasons.compactMap { reason, label in reasons[reason.rawValue].map { "\(label) \($0)" } }.joined(separator: "、")
    }

    @Sendable func queue(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let query = request.uri.queryParameters
            let state = query["state"].map(String.init) == "all" ? nil : (query["state"].flatMap { ModerationItemState(rawValue: String($0)) } ?? .pending)
            let before = query["before"].flatMap { Int64(String($0)) }
            let items = try await services.moderation.queue(actor, filter: .init(state: state), before: before, limit: 50, logger: context.logger)
            let zone = services.timeZone
            let view = QueueView(
                filters: [("pending", "未対応"), ("escalated", "町のモデレーターへ"), ("all", "すべて")].map {
                    QueueView.Filter(value: $0.0, label: $0.1, selected: (state?.rawValue ?? "all") == $0.0)
                },
                items: items.items.map {
                    QueueView.Item(id: $0.id, group: $0.groupName, excerpt: String($0.postBody.prefix(120)), reasons: Self.reasonsText($0.reasons),
                                   state: Self.stateLabels[$0.state] ?? $0.state.rawValue, flagged: Dates.display($0.updatedAt, zone: zone),
                                   hidden: $0.postModeration != .visible)
                },
                next: items.nextBefore.map { "/moderation?state=\(state?.rawValue ?? "all")&before=\($0)" }, townModerator: actor.isTownModerator)
            return web.renderer.page("moderation", title: "モデレーション", content: view, request: page, liveStreams: ["user:\(actor.accountID)"])
        }
    }

    struct ItemView {
        struct Flag { let name: String; let reason: String; let note: String?; let at: String }
        struct Entry { let action: String; let reason: String; let at: String }
        struct Action { let value: String; let label: String }
        let csrf: String
        let item: ModerationItemView
        let paragraphs: [String]
        let state: String
        let postState: String
        let open: Bool
        let flags: [Flag]
        let history: [Entry]
        let actions: [Action]
        let townModerator: Bool
        let reason: String
        let errors: [String]
    }

    func itemPage(_ page: PageRequest, actor: Actor, id: ModerationItemID, reason: String = "", errors: [String] = [], status: HTTPResponse.Status = .ok,
                  context: KairanRequestContext) async throws -> Response {
        let item = try await services.moderation.item(actor, id, logger: context.logger)
        let zone = services.timeZone
        let labels = Dictionary(uniqueKeysWithValues: Messages.flagReasons.map { ($0.0, $0.1) })
        let view = ItemView(
            csrf: page.csrf, item: item, paragraphs: Messages.lines(item.postBody),
            state: Self.stateLabels[item.state] ?? item.state.rawValue,
            postState: item.postModeration == .visible ? "公開中" : item.postModeration == .held ? "保留中" : "非表示・削除済み",
            open: item.state == .pending || item.state == .escalated,
            flags: (item.flags ?? []).map {
                .init(name: $0.displayName, reason: labels[$0.reason] ?? $0.reason.rawValue, note: $0.note.isEmpty ? nil : $0.note, at: Dates.display($0.createdAt, zone: zone))
            },
            history: (item.history ?? []).map { entry in
                .init(action: Self.label(action: entry.action), reason: Self.label(reason: entry.reason), at: Dates.display(entry.at, zone: zone))
            },
            actions: Self.actionLabels.map { .init(value: $0.0.rawValue, label: $0.1) }, townModerator: actor.isTownModerator,
            reason: reason, errors: errors)
        return web.renderer.page("moderation-item", title: "通報の確認", content: view, request: page, status: status)
    }

    @Sendable func item(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            try await itemPage(page, actor: try web.requireActor(page), id: try context.parameters.require("id", as: ModerationItemID.self), context: context)
        }
    }

    @Sendable func decide(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: ModerationItemID.self)
            let form = try await web.postedForm(request, context: context)
            let reason = form["reason"] ?? ""
            guard let action = ModerationActionKind(rawValue: form["action"] ?? "") else {
                return try await itemPage(page, actor: actor, id: id, reason: reason, errors: ["対応を選んでください。"], status: .unprocessableContent, context: context)
            }
            let hours = (form["durationHours"]).flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            if action == .suspend, hours == nil {
                return try await itemPage(page, actor: actor, id: id, reason: reason, errors: ["一時停止の時間（時間単位）を入力してください。"],
                                          status: .unprocessableContent, context: context)
            }
            let scope = form["scope"] == "town" ? "town" : nil
            do {
                _ = try await services.moderation.decide(actor, item: id, .init(action: action, reason: reason, durationHours: hours, scope: scope),
                                                         logger: context.logger)
            } catch let error as ValidationError {
                let message = error.field == "reason" ? "理由を入力してください（500文字まで）。" : Messages.describe(error)
                return try await itemPage(page, actor: actor, id: id, reason: reason, errors: [message], status: .unprocessableContent, context: context)
            }
            return PageRenderer.redirect("/moderation?m=decided")
        }
    }

    struct WordsView {
        struct Word { let id: Int64; let pattern: String; let action: String; let fold: Bool }
        let csrf: String
        let words: [Word]
        let errors: [String]
    }

    static let wordActions: [WatchedWordAction: String] = [.block: "投稿させない", .hold: "保留して確認", .flag: "投稿して通報"]

    func wordsPage(_ page: PageRequest, actor: Actor, errors: [String] = [], status: HTTPResponse.Status = .ok, context: KairanRequestContext) async throws -> Response {
        let words = try await services.watchedWords.list(actor, logger: context.logger)
        let view = WordsView(csrf: page.csrf, words: words.map { .init(id: $0.id, pattern: $0.pattern, action: Self.wordActions[$0.action] ?? $0.action.rawValue, fold: $0.foldKana) },
                             errors: errors)
        return web.renderer.page("watched-words", title: "監視語", content: view, request: page, status: status)
    }

    @Sendable func watchedWords(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            try await wordsPage(page, actor: try web.requireActor(page), context: context)
        }
    }

    @Sendable func addWord(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let form = try await web.postedForm(request, context: context)
            let action = WatchedWordAction(rawValue: form["action"] ?? "") ?? .hold
            do {
                _ = try await services.watchedWords.set(actor, pattern: form["pattern"] ?? "", action: action, foldingKana: form["fold"] == "on", logger: context.logger)
            } catch let error as ValidationError {
                return try await wordsPage(page, actor: actor, errors: [Messages.describe(error)], status: .unprocessableContent, context: context)
            }
            return PageRenderer.redirect("/moderation/watched-words?m=saved")
        }
    }

    @Sendable func importWords(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let form = try await web.postedForm(request, context: context)
            do {
                _ = try await services.watchedWords.importCSV(actor, form["csv"] ?? "", logger: context.logger)
            } catch let error as ValidationError {
                return try await wordsPage(page, actor: actor, errors: [Messages.describe(error)], status: .unprocessableContent, context: context)
            }
            return PageRenderer.redirect("/moderation/watched-words?m=imported")
        }
    }

    @Sendable func deleteWord(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            _ = try await web.postedForm(request, context: context)
            try await services.watchedWords.delete(actor, try context.parameters.require("id", as: Int64.self), logger: context.logger)
            return PageRenderer.redirect("/moderation/watched-words?m=removed")
        }
    }

    @Sendable func exportWords(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let text = try await services.watchedWords.exportCSV(try web.requireActor(page), logger: context.logger)
            var headers: HTTPFields = [:]
            headers[.contentType] = "text/csv; charset=utf-8"
            headers[.contentDisposition] = "attachment; filename=\"watched-words.csv\""
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }

    struct LogView {
        struct Entry { let at: String; let action: String; let reason: String; let item: ModerationItemID? }
        let entries: [Entry]
        let next: String?
    }

    @Sendable func log(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let before = request.uri.queryParameters["before"].flatMap { Int64(String($0)) }
            let entries = try await services.moderation.log(actor, before: before, limit: 100, logger: context.logger)
            let zone = services.timeZone
            let view = LogView(entries: entries.items.map {
                .init(at: Dates.display($0.at, zone: zone), action: Self.label(action: $0.action), reason: Self.label(reason: $0.reason), item: $0.itemId)
            },
                               next: entries.nextBefore.map { "/moderation/log?before=\($0)" })
            return web.renderer.page("moderation-log", title: "モデレーションの記録", content: view, request: page)
        }
    }
}
