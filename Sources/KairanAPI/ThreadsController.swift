import Foundation
import Hummingbird
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// Threads and posts: start, read, reply, edit (with history), delete (soft), react, pin,
/// lock, read markers and search. Each change appends its events in the same transaction.
struct ThreadsController {
    let dependencies: APIDependencies
    var database: Database { dependencies.database }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.post("/v1/groups/{groupID}/threads", use: createThread)
        routes.get("/v1/groups/{groupID}/threads", use: listThreads)
        routes.get("/v1/groups/{groupID}/search", use: search)
        routes.get("/v1/threads/{threadID}", use: showThread)
        routes.patch("/v1/threads/{threadID}", use: updateThread)
        routes.get("/v1/threads/{threadID}/posts", use: listPosts)
        routes.post("/v1/threads/{threadID}/posts", use: createPost)
        routes.put("/v1/threads/{threadID}/read", use: markRead)
        routes.patch("/v1/posts/{postID}", use: editPost)
        routes.delete("/v1/posts/{postID}", use: deletePost)
        routes.get("/v1/posts/{postID}/edits", use: postEdits)
        routes.put("/v1/posts/{postID}/reactions/{reaction}", use: addReaction)
        routes.delete("/v1/posts/{postID}/reactions/{reaction}", use: removeReaction)
    }

    /// The thread and the caller's standing in its group, authorised for `action`.
    private func authorizeThread(
        _ action: GroupAction, thread id: ThreadID, actor: Actor, now: Date, on connection: PostgresConnection, logger: Logger
    ) async throws -> (ThreadRecord, GroupStanding) {
        guard let thread = try await ThreadStore.findThread(id, reader: actor.accountID, on: connection, logger: logger) else { throw APIError.notFound }
        let (_, standing) = try await authorize(action, group: thread.groupID, actor: actor, now: now, on: connection, logger: logger)
        // A thread whose posts moderation holds, hid or removed (its title may be what was
        // held) is there only for whoever started it and the moderators.
        if thread.createdBy != actor.accountID, Policy.decide(actor, .moderate, in: standing) != .allow,
           try await !ThreadStore.hasVisiblePost(thread: id, on: connection, logger: logger) {
            throw APIError.notFound
        }
        return (thread, standing)
    }

    private func authorizePost(
        _ action: GroupAction, post id: PostID, actor: Actor, now: Date, on connection: PostgresConnection, logger: Logger
    ) async throws -> (PostRecord, GroupStanding) {
        guard let post = try await ThreadStore.findPost(id, on: connection, logger: logger) else { throw APIError.notFound }
        let (_, standing) = try await authorize(action, group: post.groupID, actor: actor, now: now, on: connection, logger: logger)
        // A post moderation hid or removed is not there for anyone but its author (hidden
        // only) and the moderators.
        if post.moderation != .visible, Policy.decide(actor, .moderate, in: standing) != .allow,
           !(post.moderation.authorOnly && post.authorID == actor.accountID) {
            throw APIError.notFound
        }
        return (post, standing)
    }

    /// Appends a post event to both its thread's and its group's stream.
    private func announce(_ kind: String, post id: PostID, now: Date, on connection: PostgresConnection, logger: Logger) async throws {
        // FOR SHARE: a hide waits for this transaction, and its scrub then sees this event;
        // a hide that committed first is seen here, and nothing is announced.
        guard try await ThreadStore.lockVisible(post: id, on: connection, logger: logger),
              let post = try await ThreadStore.findPost(id, on: connection, logger: logger) else { return }
        let payload = PostResponse(post)
        try await EventStore.append(EventStore.threadStream(post.threadID), kind: kind, payload: payload, now: now, on: connection, logger: logger)
        try await EventStore.append(EventStore.groupStream(post.groupID), kind: kind, payload: payload, now: now, on: connection, logger: logger)
    }

    // MARK: - Threads

    struct CreateThread: Decodable {
        let title: String
        let body: String
    }

    struct CreatedThread: ResponseEncodable {
        let thread: ThreadResponse
        let post: PostResponse
    }

    @Sendable func createThread(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<CreatedThread> {
        let actor = try context.requireActor()
        let groupID = try context.parameters.require("groupID", as: GroupID.self)
        let input = try await request.decode(as: CreateThread.self, context: context)
        let title = try Content.text(input.title, field: "title", max: Content.threadTitleMax)
        let body = try Content.text(input.body, field: "body", max: Content.postBodyMax, multiline: true)
        let now = dependencies.clock.now()
        let logger = context.logger
        let created = try await database.withTransaction { connection in
            let (_, standing) = try await authorize(.participate, group: groupID, actor: actor, now: now, on: connection, logger: logger)
            // The title is checked with the text: a held thread's title must not show either.
            let disposition = try await PostGate.check(actor, group: groupID, standing: standing, body: title + "\n" + body, isEdit: false, now: now,
                                                       on: connection, logger: logger)
            let threadID = try await ThreadStore.insertThread(group: groupID, title: title, author: actor.accountID, now: now, on: connection, logger: logger)
            let postID = try await ThreadStore.insertPost(thread: threadID, group: groupID, author: actor.accountID, body: body, replyTo: nil,
                                                          now: now, on: connection, logger: logger)
            try await ThreadStore.markRead(thread: threadID, account: actor.accountID, upTo: postID, on: connection, logger: logger)
            guard let written = try await ThreadStore.findPost(postID, on: connection, logger: logger) else { throw APIError.notFound }
            let shown = try await PostGate.apply(disposition, post: written, isEdit: false, now: now, on: connection, logger: logger)
            guard let thread = try await ThreadStore.findThread(threadID, reader: actor.accountID, on: connection, logger: logger),
                  let post = try await ThreadStore.findPost(postID, on: connection, logger: logger) else { throw APIError.notFound }
            if shown {
                try await EventStore.append(EventStore.groupStream(groupID), kind: "thread.created", payload: ThreadResponse(thread), now: now, on: connection, logger: logger)
                try await announce("post.created", post: postID, now: now, on: connection, logger: logger)
                try await NotificationsController.notifyMentions(of: post, now: now, on: connection, logger: logger)
            }
            return CreatedThread(thread: ThreadResponse(thread), post: PostResponse(post))
        }
        return EditedResponse(status: .created, response: created)
    }

    struct ThreadPage: ResponseEncodable {
        /// Pinned threads, on the first page only.
        let pinned: [ThreadResponse]
        let items: [ThreadResponse]
        let nextBefore: Int64?
    }

    @Sendable func listThreads(_ request: Request, context: KairanRequestContext) async throws -> ThreadPage {
        let actor = try context.requireActor()
        let groupID = try context.parameters.require("groupID", as: GroupID.self)
        let before = try request.cursor("before")
        let limit = try request.pageLimit()
        let now = dependencies.clock.now()
        return try await database.withConnection { connection in
            let (_, standing) = try await authorize(.read, group: groupID, actor: actor, now: now, on: connection, logger: context.logger)
            let reader = standing.role == nil ? nil : actor.accountID
            let moderator = Policy.decide(actor, .moderate, in: standing) == .allow
            let pinned = before == nil
                ? try await ThreadStore.threads(group: groupID, reader: reader, pinnedOnly: true, before: nil, limit: 20, viewer: actor.accountID,
                                                moderator: moderator, on: connection, logger: context.logger)
                : []
            let threads = try await ThreadStore.threads(group: groupID, reader: reader, pinnedOnly: false, before: before, limit: limit,
                                                        viewer: actor.accountID, moderator: moderator,
                                                        on: connection, logger: context.logger)
            return ThreadPage(pinned: pinned.map(ThreadResponse.init), items: threads.map(ThreadResponse.init),
                              nextBefore: threads.count == limit ? threads.last?.id : nil)
        }
    }

    @Sendable func showThread(_ request: Request, context: KairanRequestContext) async throws -> ThreadResponse {
        let actor = try context.requireActor()
        let id = try context.parameters.require("threadID", as: ThreadID.self)
        let now = dependencies.clock.now()
        return try await database.withConnection { connection in
            ThreadResponse(try await authorizeThread(.read, thread: id, actor: actor, now: now, on: connection, logger: context.logger).0)
        }
    }

    struct UpdateThread: Decodable {
        let pinned: Bool?
        let locked: Bool?
    }

    @Sendable func updateThread(_ request: Request, context: KairanRequestContext) async throws -> ThreadResponse {
        let actor = try context.requireActor()
        let id = try context.parameters.require("threadID", as: ThreadID.self)
        let input = try await request.decode(as: UpdateThread.self, context: context)
        let now = dependencies.clock.now()
        let logger = context.logger
        return try await database.withTransaction { connection in
            let (thread, _) = try await authorizeThread(.moderate, thread: id, actor: actor, now: now, on: connection, logger: logger)
            try await ThreadStore.setFlags(thread: id, pinned: input.pinned, locked: input.locked, on: connection, logger: logger)
            guard let updated = try await ThreadStore.findThread(id, reader: actor.accountID, on: connection, logger: logger) else { throw APIError.notFound }
            try await EventStore.append(EventStore.groupStream(thread.groupID), kind: "thread.updated", payload: ThreadResponse(updated), now: now, on: connection, logger: logger)
            return ThreadResponse(updated)
        }
    }

    // MARK: - Posts

    @Sendable func listPosts(_ request: Request, context: KairanRequestContext) async throws -> Page<PostResponse> {
        let actor = try context.requireActor()
        let id = try context.parameters.require("threadID", as: ThreadID.self)
        let before = try request.cursor("before")
        let limit = try request.pageLimit()
        let now = dependencies.clock.now()
        let posts = try await database.withConnection { connection in
            let (_, standing) = try await authorizeThread(.read, thread: id, actor: actor, now: now, on: connection, logger: context.logger)
            return try await ThreadStore.posts(thread: id, before: before, limit: limit, viewer: actor.accountID,
                                               moderator: Policy.decide(actor, .moderate, in: standing) == .allow,
                                               on: connection, logger: context.logger)
        }
        return Page(items: posts.map(PostResponse.init), nextBefore: posts.count == limit ? posts.last?.id : nil)
    }

    struct CreatePost: Decodable {
        let body: String
        let replyTo: PostID?
    }

    @Sendable func createPost(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<PostResponse> {
        let actor = try context.requireActor()
        let threadID = try context.parameters.require("threadID", as: ThreadID.self)
        let input = try await request.decode(as: CreatePost.self, context: context)
        let body = try Content.text(input.body, field: "body", max: Content.postBodyMax, multiline: true)
        let now = dependencies.clock.now()
        let logger = context.logger
        let post = try await database.withTransaction { connection in
            let (thread, standing) = try await authorizeThread(.participate, thread: threadID, actor: actor, now: now, on: connection, logger: logger)
            let disposition = try await PostGate.check(actor, group: thread.groupID, standing: standing, body: body, isEdit: false, now: now,
                                                       on: connection, logger: logger)
            if thread.locked, Policy.decide(actor, .moderate, in: standing) != .allow {
                throw APIError(.conflict, code: "thread_locked", message: "this thread is locked")
            }
            if let replyTo = input.replyTo {
                // Only to a post the caller can see: a held or hidden one is not there for them.
                guard let target = try await ThreadStore.findPost(replyTo, on: connection, logger: logger), target.threadID == threadID,
                      target.moderation == .visible || target.authorID == actor.accountID || Policy.decide(actor, .moderate, in: standing) == .allow else {
                    throw APIError(.unprocessableContent, code: "invalid_reply", message: "replyTo must be a post in this thread", field: "replyTo")
                }
            }
            let postID = try await ThreadStore.insertPost(thread: threadID, group: thread.groupID, author: actor.accountID, body: body,
                                                          replyTo: input.replyTo, now: now, on: connection, logger: logger)
            try await ThreadStore.markRead(thread: threadID, account: actor.accountID, upTo: postID, on: connection, logger: logger)
            guard let written = try await ThreadStore.findPost(postID, on: connection, logger: logger) else { throw APIError.notFound }
            let shown = try await PostGate.apply(disposition, post: written, isEdit: false, now: now, on: connection, logger: logger)
            guard let post = try await ThreadStore.findPost(postID, on: connection, logger: logger) else { throw APIError.notFound }
            if shown {
                try await announce("post.created", post: postID, now: now, on: connection, logger: logger)
                try await NotificationsController.notifyMentions(of: post, now: now, on: connection, logger: logger)
            }
            return PostResponse(post)
        }
        return EditedResponse(status: .created, response: post)
    }

    struct EditPost: Decodable {
        let body: String
    }

    @Sendable func editPost(_ request: Request, context: KairanRequestContext) async throws -> PostResponse {
        let actor = try context.requireActor()
        let id = try context.parameters.require("postID", as: PostID.self)
        let body = try Content.text(try await request.decode(as: EditPost.self, context: context).body, field: "body", max: Content.postBodyMax, multiline: true)
        let now = dependencies.clock.now()
        let logger = context.logger
        return try await database.withTransaction { connection in
            let (post, standing) = try await authorizePost(.participate, post: id, actor: actor, now: now, on: connection, logger: logger)
            guard post.authorID == actor.accountID else { throw APIError.forbidden("only the author may edit a post") }
            guard post.deletedAt == nil else { throw APIError(.conflict, code: "post_deleted", message: "a deleted post cannot be edited") }
            guard post.moderation == .visible else {
                throw APIError(.conflict, code: "under_review", message: "a post moderation holds or hid cannot be edited")
            }
            let disposition = try await PostGate.check(actor, group: post.groupID, standing: standing, body: body, isEdit: true, now: now,
                                                       on: connection, logger: logger)
            try await ThreadStore.edit(post: id, body: body, by: actor.accountID, now: now, on: connection, logger: logger)
            _ = try await ModerationStore.postEdited(id, body: body, now: now, on: connection, logger: logger)
            guard let written = try await ThreadStore.findPost(id, on: connection, logger: logger) else { throw APIError.notFound }
            // An edit of a post moderation holds or hid stays out of sight.
            if try await PostGate.apply(disposition, post: written, isEdit: true, now: now, on: connection, logger: logger), written.moderation == .visible {
                try await announce("post.edited", post: id, now: now, on: connection, logger: logger)
            }
            guard let edited = try await ThreadStore.findPost(id, on: connection, logger: logger) else { throw APIError.notFound }
            return PostResponse(edited)
        }
    }

    @Sendable func deletePost(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let id = try context.parameters.require("postID", as: PostID.self)
        let now = dependencies.clock.now()
        let logger = context.logger
        try await database.withTransaction { connection in
            let (post, standing) = try await authorizePost(.read, post: id, actor: actor, now: now, on: connection, logger: logger)
            if post.authorID != actor.accountID { try APIError.check(Policy.decide(actor, .moderate, in: standing)) }
            guard post.deletedAt == nil else { return }
            try await ThreadStore.delete(post: id, now: now, on: connection, logger: logger)
            try await announce("post.deleted", post: id, now: now, on: connection, logger: logger)
        }
        return .noContent
    }

    struct EditResponse: ResponseEncodable, Sendable {
        let body: String
        let replacedAt: Date
    }

    struct EditHistory: ResponseEncodable, Sendable {
        let items: [EditResponse]
    }

    @Sendable func postEdits(_ request: Request, context: KairanRequestContext) async throws -> EditHistory {
        let actor = try context.requireActor()
        let id = try context.parameters.require("postID", as: PostID.self)
        let now = dependencies.clock.now()
        let edits = try await database.withConnection { connection in
            _ = try await authorizePost(.read, post: id, actor: actor, now: now, on: connection, logger: context.logger)
            return try await ThreadStore.edits(post: id, on: connection, logger: context.logger)
        }
        return EditHistory(items: edits.map { EditResponse(body: $0.body, replacedAt: $0.editedAt) })
    }

    @Sendable func addReaction(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        try await react(context: context, on: true)
    }

    @Sendable func removeReaction(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        try await react(context: context, on: false)
    }

    private func react(context: KairanRequestContext, on: Bool) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let id = try context.parameters.require("postID", as: PostID.self)
        guard let reaction = context.parameters.get("reaction").flatMap(Reaction.init(rawValue:)) else {
            throw APIError(.unprocessableContent, code: "unknown_reaction",
                           message: "reaction must be one of \(Reaction.allCases.map(\.rawValue).joined(separator: ", "))", field: "reaction")
        }
        let now = dependencies.clock.now()
        let logger = context.logger
        try await database.withTransaction { connection in
            let (post, _) = try await authorizePost(.participate, post: id, actor: actor, now: now, on: connection, logger: logger)
            guard post.deletedAt == nil else { throw APIError(.conflict, code: "post_deleted", message: "a deleted post cannot take reactions") }
            // A post moderation hid or holds carries its text: it is not announced.
            if try await ThreadStore.setReaction(post: id, account: actor.accountID, reaction: reaction, on: on, now: now, on: connection, logger: logger),
               post.moderation == .visible {
                try await announce("reaction.changed", post: id, now: now, on: connection, logger: logger)
            }
        }
        return .noContent
    }

    struct MarkRead: Decodable {
        let lastReadPostId: PostID
    }

    @Sendable func markRead(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let id = try context.parameters.require("threadID", as: ThreadID.self)
        let input = try await request.decode(as: MarkRead.self, context: context)
        let now = dependencies.clock.now()
        try await database.withTransaction { connection in
            let (_, standing) = try await authorizeThread(.read, thread: id, actor: actor, now: now, on: connection, logger: context.logger)
            guard standing.role != nil else { throw APIError.forbidden("read markers are kept for members") }
            try await ThreadStore.markRead(thread: id, account: actor.accountID, upTo: input.lastReadPostId, on: connection, logger: context.logger)
        }
        return .noContent
    }

    // MARK: - Search

    @Sendable func search(_ request: Request, context: KairanRequestContext) async throws -> Page<PostResponse> {
        let actor = try context.requireActor()
        let groupID = try context.parameters.require("groupID", as: GroupID.self)
        let text = try Content.text(request.uri.queryParameters["q"].map(String.init) ?? "", field: "q",
                                    min: Content.searchQueryMin, max: Content.searchQueryMax)
        let before = try request.cursor("before")
        let limit = try request.pageLimit()
        let now = dependencies.clock.now()
        let posts = try await database.withConnection { connection in
            _ = try await authorize(.read, group: groupID, actor: actor, now: now, on: connection, logger: context.logger)
            return try await ThreadStore.search(group: groupID, text: text, before: before, limit: limit, on: connection, logger: context.logger)
        }
        return Page(items: posts.map(PostResponse.init), nextBefore: posts.count == limit ? posts.last?.id : nil)
    }
}
