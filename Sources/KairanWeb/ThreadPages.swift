import Foundation
import Hummingbird
import KairanAPI
import KairanCore
import KairanServices

/// A thread with its posts; replying, editing, deleting, reacting and flagging.
struct ThreadPages {
    let web: WebFrontEnd
    var services: Services { web.services }

    func addRoutes(to routes: RouterGroup<KairanRequestContext>) {
        routes.get("/threads/:id", use: thread)
        routes.post("/threads/:id/posts", use: reply)
        routes.get("/posts/:id/edit", use: editPage)
        routes.post("/posts/:id/edit", use: edit)
        routes.post("/posts/:id/delete", use: delete)
        routes.post("/posts/:id/react", use: react)
        routes.get("/posts/:id/flag", use: flagPage)
        routes.post("/posts/:id/flag", use: flag)
    }

    struct PostItem {
        struct Count { let label: String; let count: Int }
        let id: PostID
        let author: String
        let created: String
        let createdISO: String
        let edited: Bool
        let status: String?
        let hidden: Bool
        let replyTo: PostID?
        let deleted: Bool
        let paragraphs: [String]
        let reactions: [Count]
        let actionable: Bool
        let mine: Bool
        let files: [FilePages.Item]
    }

    struct ThreadPageView {
        let csrf: String
        let thread: ThreadView
        let groupId: GroupID
        let groupName: String
        let posts: [PostItem]
        let older: String?
        let canReply: Bool
        let body: String
        let errors: [String]
        /// Files a post may carry (the picker's limit), and those chosen already (kept when
        /// the form comes back with an error).
        let maxFiles: Int
        let attachments: [AttachmentID]
    }

    func postItem(_ post: PostView, actor: Actor) -> PostItem {
        let status: String? = switch post.moderation {
        case .held?: "確認待ち（まだ公開されていません）"
        case .hidden?: "非表示（モデレーターが確認中）"
        case .removed?: "削除済み（モデレーター）"
        default: nil
        }
        let reactions = Reaction.allCases.compactMap { reaction -> PostItem.Count? in
            guard let count = post.reactions[reaction.rawValue], count > 0 else { return nil }
            return PostItem.Count(label: Messages.reactionLabels[reaction] ?? reaction.rawValue, count: count)
        }
        return PostItem(
            id: post.id, author: post.author?.displayName ?? "退会したユーザー", created: Dates.display(post.createdAt, zone: services.timeZone),
            createdISO: Dates.iso(post.createdAt), edited: post.edited, status: status, hidden: post.moderation != nil, replyTo: post.replyTo,
            deleted: post.deleted || post.body == nil, paragraphs: Messages.lines((post.body ?? "")), reactions: reactions,
            actionable: !post.deleted && post.moderation == nil, mine: post.author?.id == actor.accountID, files: FilePages.items(post.attachments))
    }

    func threadPage(
        _ page: PageRequest, id: ThreadID, before: Int64?, body: String = "", attachments: [AttachmentID] = [], errors: [String] = [],
        status: HTTPResponse.Status = .ok,
        context: KairanRequestContext
    ) async throws -> Response {
        let actor = try web.requireActor(page)
        let thread = try await services.threads.thread(actor, id, logger: context.logger)
        let group = try await services.groups.group(actor, thread.groupId, logger: context.logger)
        let posts = try await services.threads.posts(actor, in: id, before: before, limit: 100, logger: context.logger)
        // The newest hundred, shown oldest first as a conversation reads.
        let items = posts.items.reversed().map { postItem($0, actor: actor) }
        if let newest = posts.items.first, before == nil, group.myRole != nil {
            // Reading the page is reading the thread; a failure here costs an unread count, not the page.
            do {
                try await services.threads.markRead(actor, thread: id, upTo: newest.id, logger: context.logger)
            } catch {
                context.logger.warning("read marker not saved", metadata: ["thread_id": "\(id)", "error_type": "\(type(of: error))"])
            }
        }
        let view = ThreadPageView(
            csrf: page.csrf, thread: thread, groupId: group.id, groupName: group.name, posts: items,
            older: posts.nextBefore.map { "/threads/\(id)?before=\($0)" }, canReply: group.myRole != nil && !thread.locked, body: body, errors: errors,
            maxFiles: services.attachmentLimits.perPost, attachments: attachments)
        return web.renderer.page("thread", title: thread.title, content: view, request: page, status: status, liveStreams: ["thread:\(id)"],
                                 path: "/threads/\(id)" + (before.map { "?before=\($0)" } ?? ""))
    }

    @Sendable func thread(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let id = try context.parameters.require("id", as: ThreadID.self)
            return try await threadPage(page, id: id, before: request.uri.queryParameters["before"].flatMap { Int64(String($0)) }, context: context)
        }
    }

    @Sendable func reply(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: ThreadID.self)
            let form = try await web.postedForm(request, context: context)
            let body = form["body"] ?? ""
            let attachments = FilePages.chosen(in: form)
            do {
                let post = try await services.threads.reply(actor, in: id, body: body, replyTo: nil, attachments: attachments, logger: context.logger)
                return PageRenderer.redirect("/threads/\(id)?m=posted#post-\(post.id)")
            } catch {
                guard let message = Messages.formRefusal(error) else { throw error }
                return try await threadPage(page, id: id, before: nil, body: body, attachments: attachments, errors: [message],
                                            status: .unprocessableContent, context: context)
            }
        }
    }

    struct EditView {
        let csrf: String
        let id: PostID
        let threadId: ThreadID
        let body: String
        let errors: [String]
    }

    @Sendable func editPage(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let post = try await services.threads.post(actor, try context.parameters.require("id", as: PostID.self), logger: context.logger)
            guard post.author?.id == actor.accountID, let body = post.body else { throw ServiceError.forbidden("only the author may edit a post") }
            return web.renderer.page("post-edit", title: "投稿を編集", content: EditView(csrf: page.csrf, id: post.id, threadId: post.threadId, body: body, errors: []),
                                     request: page)
        }
    }

    @Sendable func edit(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: PostID.self)
            let form = try await web.postedForm(request, context: context)
            let body = form["body"] ?? ""
            do {
                let post = try await services.threads.edit(actor, post: id, body: body, logger: context.logger)
                return PageRenderer.redirect("/threads/\(post.threadId)?m=edited#post-\(post.id)")
            } catch {
                guard let message = Messages.formRefusal(error) else { throw error }
                return try await editAgain(page, actor: actor, id: id, body: body, message: message, context: context)
            }
        }
    }

    /// The edit form again with what the author wrote and why it was refused.
    func editAgain(_ page: PageRequest, actor: Actor, id: PostID, body: String, message: String, context: KairanRequestContext) async throws -> Response {
        let post = try await services.threads.post(actor, id, logger: context.logger)
        return web.renderer.page("post-edit", title: "投稿を編集", content: EditView(csrf: page.csrf, id: id, threadId: post.threadId, body: body, errors: [message]),
                                 request: page, status: .unprocessableContent, path: "/posts/\(id)/edit")
    }

    @Sendable func delete(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: PostID.self)
            _ = try await web.postedForm(request, context: context)
            let post = try await services.threads.post(actor, id, logger: context.logger)
            try await services.threads.delete(actor, post: id, logger: context.logger)
            return PageRenderer.redirect("/threads/\(post.threadId)?m=deleted")
        }
    }

    @Sendable func react(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: PostID.self)
            let form = try await web.postedForm(request, context: context)
            guard let reaction = Reaction(rawValue: form["reaction"] ?? "") else {
                throw ValidationError(field: "reaction", code: "invalid", message: "unknown reaction")
            }
            try await services.threads.react(actor, post: id, reaction: reaction, on: true, logger: context.logger)
            let post = try await services.threads.post(actor, id, logger: context.logger)
            return PageRenderer.redirect("/threads/\(post.threadId)?m=reacted#post-\(id)")
        }
    }

    struct FlagView {
        struct Reason { let value: String; let label: String }
        let csrf: String
        let id: PostID
        let threadId: ThreadID
        let reasons: [Reason]
        let errors: [String]
    }

    func flagView(_ page: PageRequest, post: PostView, errors: [String]) -> FlagView {
        FlagView(csrf: page.csrf, id: post.id, threadId: post.threadId,
                 reasons: Messages.flagReasons.map { FlagView.Reason(value: $0.0.rawValue, label: $0.1) }, errors: errors)
    }

    @Sendable func flagPage(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let post = try await services.threads.post(actor, try context.parameters.require("id", as: PostID.self), logger: context.logger)
            return web.renderer.page("post-flag", title: "投稿を通報する", content: flagView(page, post: post, errors: []), request: page)
        }
    }

    @Sendable func flag(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: PostID.self)
            let form = try await web.postedForm(request, context: context)
            let post = try await services.threads.post(actor, id, logger: context.logger)
            guard let reason = FlagReason(rawValue: form["reason"] ?? "") else {
                return web.renderer.page("post-flag", title: "投稿を通報する", content: flagView(page, post: post, errors: ["理由を選んでください。"]),
                                         request: page, status: .unprocessableContent)
            }
            let note = (form["note"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            _ = try await services.moderation.flag(actor, post: id, reason: reason, note: note.isEmpty ? nil : note, logger: context.logger)
            return PageRenderer.redirect("/threads/\(post.threadId)?m=flagged")
        }
    }
}
