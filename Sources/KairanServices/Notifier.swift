import Foundation
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// A person's notifications: stored for their list and pushed on their `user:<id>` stream,
/// in the transaction of the change they are about.
enum Notifier {
    static func notify(_ account: AccountID, kind: String, _ payload: NotificationPayload, now: Date,
                       on db: DatabaseConnection) async throws {
        try await notify([account], kind: kind, payload, now: now, on: db)
    }

    static func notify(_ accounts: [AccountID], kind: String, _ payload: NotificationPayload, now: Date,
                       on db: DatabaseConnection) async throws {
        guard !accounts.isEmpty else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(payload), as: UTF8.self)
        for account in accounts {
            let id = try await NotificationStore.insert(account: account, kind: kind, payloadJSON: json, now: now, on: db)
            try await EventStore.append(EventStore.userStream(account), kind: "notification.created",
                                        payload: NotificationView(id: id, kind: kind, createdAt: now, read: false, data: payload),
                                        now: now, on: db)
        }
    }

    /// Notifies the members a newly shown post mentions.
    static func mentions(of post: PostRecord, now: Date, on db: DatabaseConnection) async throws {
        guard let body = post.body, let authorID = post.authorID else { return }
        let tokens = Mentions.tokens(in: body)
        let members = try await NotificationStore.membersNamedAtTheStart(of: tokens, group: post.groupID, excluding: authorID, on: db)
        let names = Set(tokens.flatMap { Mentions.resolve($0, among: members.map(\.name)) })
        let mentioned = members.filter { names.contains($0.name) }.map(\.account)
        let payload = NotificationPayload(postId: post.id, threadId: post.threadID, groupId: post.groupID,
                                          author: post.authorName.map { PostView.Author(id: authorID, displayName: $0) },
                                          excerpt: String(body.prefix(100)))
        try await notify(mentioned, kind: "mention", payload, now: now, on: db)
    }
}
