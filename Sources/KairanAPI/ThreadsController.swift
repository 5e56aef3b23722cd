import Foundation
import Hummingbird
import KairanCore
import KairanServices

/// Threads and posts over JSON: each route parses its input, calls `ThreadService` and
/// encodes what it returns.
struct ThreadsController {
    let dependencies: APIDependencies
    var threads: ThreadService { dependencies.services.threads }

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

    // MARK: - Threads

    struct CreateThread: Decodable {
        let title: String
        let body: String
        /// Uploads (`POST /v1/attachments`) to show with the opening post.
        let attachmentIds: [AttachmentID]?
    }

    struct CreatedThread: ResponseEncodable {
        let thread: ThreadView
        let post: PostView
    }

    @Sendable func createThread(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<CreatedThread> {
        let actor = try context.requireActor()
        let groupID = try context.parameters.require("groupID", as: GroupID.self)
        let input = try await request.decode(as: CreateThread.self, context: context)
        let started = try await threads.startThread(actor, in: groupID, title: input.title, body: input.body,
                                                   attachments: input.attachmentIds ?? [], logger: context.logger)
        return EditedResponse(status: .created, response: CreatedThread(thread: started.thread, post: started.post))
    }

    struct ThreadPage: ResponseEncodable {
        /// Pinned threads, on the first page only.
        let pinned: [ThreadView]
        let items: [ThreadView]
        let nextBefore: Int64?
    }

    @Sendable func listThreads(_ request: Request, context: KairanRequestContext) async throws -> ThreadPage {
        let actor = try context.requireActor()
        let groupID = try context.parameters.require("groupID", as: GroupID.self)
        let list = try await threads.threads(actor, in: groupID, before: try request.cursor("before"), limit: try request.pageLimit(), logger: context.logger)
        return ThreadPage(pinned: list.pinned, items: list.page.items, nextBefore: list.page.nextBefore)
    }

    @Sendable func showThread(_ request: Request, context: KairanRequestContext) async throws -> ThreadView {
        let actor = try context.requireActor()
        return try await threads.thread(actor, try context.parameters.require("threadID", as: ThreadID.self), logger: context.logger)
    }

    struct UpdateThread: Decodable {
        let pinned: Bool?
        let locked: Bool?
    }

    @Sendable func updateThread(_ request: Request, context: KairanRequestContext) async throws -> ThreadView {
        let actor = try context.requireActor()
        let id = try context.parameters.require("threadID", as: ThreadID.self)
        let input = try await request.decode(as: UpdateThread.self, context: context)
        return try await threads.setThreadFlags(actor, id, pinned: input.pinned, locked: input.locked, logger: context.logger)
    }

    struct MarkRead: Decodable {
        let lastReadPostId: PostID
    }

    @Sendable func markRead(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let id = try context.parameters.require("threadID", as: ThreadID.self)
        let input = try await request.decode(as: MarkRead.self, context: context)
        try await threads.markRead(actor, thread: id, upTo: input.lastReadPostId, logger: context.logger)
        return .noContent
    }

    // MARK: - Posts

    @Sendable func listPosts(_ request: Request, context: KairanRequestContext) async throws -> PostPageResponse {
        let actor = try context.requireActor()
        let id = try context.parameters.require("threadID", as: ThreadID.self)
        return PostPageResponse(try await threads.posts(actor, in: id, before: try request.cursor("before"), limit: try request.pageLimit(),
                                                        logger: context.logger))
    }

    struct CreatePost: Decodable {
        let body: String
        let replyTo: PostID?
        let attachmentIds: [AttachmentID]?
    }

    @Sendable func createPost(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<PostView> {
        let actor = try context.requireActor()
        let threadID = try context.parameters.require("threadID", as: ThreadID.self)
        let input = try await request.decode(as: CreatePost.self, context: context)
        let post = try await threads.reply(actor, in: threadID, body: input.body, replyTo: input.replyTo,
                                          attachments: input.attachmentIds ?? [], logger: context.logger)
        return EditedResponse(status: .created, response: post)
    }

    struct EditPost: Decodable {
        let body: String
    }

    @Sendable func editPost(_ request: Request, context: KairanRequestContext) async throws -> PostView {
        let actor = try context.requireActor()
        let id = try context.parameters.require("postID", as: PostID.self)
        let input = try await request.decode(as: EditPost.self, context: context)
        return try await threads.edit(actor, post: id, body: input.body, logger: context.logger)
    }

    @Sendable func deletePost(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        try await threads.delete(actor, post: try context.parameters.require("postID", as: PostID.self), logger: context.logger)
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
        let edits = try await threads.edits(actor, post: try context.parameters.require("postID", as: PostID.self), logger: context.logger)
        return EditHistory(items: edits.map { EditResponse(body: $0.body, replacedAt: $0.replacedAt) })
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
        try await threads.react(actor, post: id, reaction: reaction, on: on, logger: context.logger)
        return .noContent
    }

    // MARK: - Search

    @Sendable func search(_ request: Request, context: KairanRequestContext) async throws -> PostPageResponse {
        let actor = try context.requireActor()
        let groupID = try context.parameters.require("groupID", as: GroupID.self)
        return PostPageResponse(try await threads.search(actor, in: groupID, text: request.uri.queryParameters["q"].map(String.init) ?? "",
                                                         before: try request.cursor("before"), limit: try request.pageLimit(), logger: context.logger))
    }
}

extension ThreadView: ResponseEncodable {}
extension PostView: ResponseEncodable {}
