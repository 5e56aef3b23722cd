import Foundation
import Hummingbird
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// A person's notifications: listed here, and pushed live on their `user:<id>` stream.
struct NotificationsController {
    let dependencies: APIDependencies

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.get("/v1/notifications", use: list)
        routes.put("/v1/notifications/{notificationID}/read", use: markRead)
    }

    /// What a notification is about. Each kind fills the fields it needs.
    struct Payload: Codable, Sendable {
        var postId: PostID?
        var threadId: ThreadID?
        var groupId: GroupID?
        var author: PostResponse.Author?
        /// The start of the text, so a phone can show it without another request.
        var excerpt: String?
        /// Moderation: the queue item, a flag's outcome ("kept" or "removed"), the reason
        /// moderators gave, a suspension's scope ("group" or "town") and end (ISO 8601).
        var itemId: ModerationItemID?
        var outcome: String?
        var reason: String?
        var scope: String?
        var until: String?
    }

    /// Writes a notification and pushes it on the person's stream, in the caller's transaction.
    static func notify(_ account: AccountID, kind: String, _ payload: Payload, now: Date, on connection: PostgresConnection, logger: Logger) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(payload), as: UTF8.self)
        let id = try await NotificationStore.insert(account: account, kind: kind, payloadJSON: json, now: now, on: connection, logger: logger)
        try await EventStore.append(EventStore.userStream(account), kind: "notification.created",
                                    payload: NotificationResponse(id: id, kind: kind, createdAt: now, read: false, data: payload),
                                    now: now, on: connection, logger: logger)
    }

    struct NotificationResponse: ResponseEncodable, Sendable {
        let id: Int64
        let kind: String
        let createdAt: Date
        let read: Bool
        let data: Payload
    }

    @Sendable func list(_ request: Request, context: KairanRequestContext) async throws -> Page<NotificationResponse> {
        let actor = try context.requireActor()
        let before = try request.cursor("before")
        let limit = try request.pageLimit()
        let records = try await dependencies.database.withConnection { connection in
            try await NotificationStore.list(account: actor.accountID, before: before, limit: limit, on: connection, logger: context.logger)
        }
        let items = records.map { record in
            NotificationResponse(id: record.id, kind: record.kind, createdAt: record.createdAt, read: record.readAt != nil,
                                 data: (try? JSONDecoder().decode(Payload.self, from: Data(record.payload.utf8))) ?? Payload())
        }
        return Page(items: items, nextBefore: items.count == limit ? items.last?.id : nil)
    }

    @Sendable func markRead(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let id = try context.parameters.require("notificationID", as: Int64.self)
        let now = dependencies.clock.now()
        let found = try await dependencies.database.withTransaction { connection in
            try await NotificationStore.markRead(id: id, account: actor.accountID, now: now, on: connection, logger: context.logger)
        }
        guard found else { throw APIError.notFound }
        return .noContent
    }

    /// Notifies the members a new post mentions, in the post's transaction.
    static func notifyMentions(of post: PostRecord, now: Date, on connection: PostgresConnection, logger: Logger) async throws {
        guard let body = post.body, let authorID = post.authorID else { return }
        let names = Mentions.names(in: body)
        let mentioned = try await NotificationStore.mentionedMembers(group: post.groupID, names: names, excluding: authorID, on: connection, logger: logger)
        guard !mentioned.isEmpty else { return }
        let payload = Payload(postId: post.id, threadId: post.threadID, groupId: post.groupID,
                              author: post.authorName.map { PostResponse.Author(id: authorID, displayName: $0) },
                              excerpt: String(body.prefix(100)))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(payload), as: UTF8.self)
        for account in mentioned {
            let id = try await NotificationStore.insert(account: account, kind: "mention", payloadJSON: json, now: now, on: connection, logger: logger)
            try await EventStore.append(EventStore.userStream(account), kind: "notification.created",
                                        payload: NotificationResponse(id: id, kind: "mention", createdAt: now, read: false, data: payload),
                                        now: now, on: connection, logger: logger)
        }
    }
}
