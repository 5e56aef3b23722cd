import Foundation
import KairanCore
import Logging
import PostgresNIO

public struct AppealRecord: Sendable, Equatable, Codable {
    public let id: AppealID
    public let itemId: ModerationItemID
    public let authorId: AccountID
    public let text: String
    public let state: String
    public let createdAt: Date
    public let decidedAt: Date?
    public let decisionReason: String?
}

/// What moderation does to posts (hide, remove, restore) and the appeals against it.
public enum ModerationEffects {
    /// Sets a post's moderation state. Removing also takes the text out of the post (the
    /// queue item keeps a copy for the appeal); restoring puts it back.
    public static func setPost(
        _ post: PostID, to state: PostModeration, restoreBody: String? = nil, now: Date, on db: DatabaseConnection
    ) async throws {
        switch state {
        case .visible:
            try await db.query("""
                UPDATE posts SET moderation = 'visible', body = coalesce(\(restoreBody)::text, body),
                    deleted_at = CASE WHEN \(restoreBody)::text IS NULL THEN deleted_at ELSE NULL END
                WHERE id = \(post)
                """)
        case .hidden, .held:
            try await db.query("UPDATE posts SET moderation = \(state.rawValue) WHERE id = \(post)")
        case .removed:
            try await db.query("""
                UPDATE posts SET moderation = 'removed', body = NULL, deleted_at = coalesce(deleted_at, \(now)) WHERE id = \(post)
                """)
            try await db.query("DELETE FROM post_edits WHERE post_id = \(post)")
        }
    }

    /// Why a post's text is being taken out of what could show it again.
    public enum ScrubReason: Sendable {
        /// Hidden or removed by moderation: its thread's title goes too when it opened it.
        case moderated
        /// Deleted by its author or a moderator: the thread (and its title) stays.
        case deleted
    }

    /// Takes a post's text out of everything that could show it again: the live streams'
    /// stored events (a reconnecting client replays those) and the mention notifications
    /// that quote it (the notification rows and their stream events).
    public static func scrub(post: PostRecord, reason: ScrubReason = .moderated, on db: DatabaseConnection) async throws {
        let placeholder = reason == .moderated ? #"{"moderated": true}"# : #"{"deleted": true}"#
        try await db.query("""
            UPDATE events SET payload = jsonb_build_object('id', \(post.id), 'threadId', \(post.threadID), 'groupId', \(post.groupID)) || \(placeholder)::jsonb
            WHERE stream IN (\("thread:\(post.threadID)"), \("group:\(post.groupID)"))
              AND kind IN ('post.created', 'post.edited', 'reaction.changed', 'post.restored') AND (payload->>'id')::bigint = \(post.id)
            """)
        // The thread's title goes with its opening post when moderation took it.
        if reason == .moderated, try await ThreadStore.isOpeningPost(post.id, thread: post.threadID, on: db) {
            try await db.query("""
                UPDATE events SET payload = jsonb_build_object('id', \(post.threadID), 'groupId', \(post.groupID)) || \(placeholder)::jsonb
                WHERE stream = \("group:\(post.groupID)") AND kind IN ('thread.created', 'thread.updated') AND (payload->>'id')::bigint = \(post.threadID)
                """)
        }
        var mentioned: [AccountID] = []
        for try await account in try await db.query("""
            DELETE FROM notifications WHERE kind = 'mention' AND (payload->>'postId')::bigint = \(post.id) RETURNING account_id
            """).decode(Int64.self) {
            mentioned.append(account)
        }
        guard !mentioned.isEmpty else { return }
        let streams = Array(Set(mentioned)).map { "user:\($0)" }
        try await db.query("""
            UPDATE events SET payload = jsonb_build_object('kind', 'mention', 'data', jsonb_build_object('postId', \(post.id))) || \(placeholder)::jsonb
            WHERE stream = ANY(\(streams)::text[]) AND kind = 'notification.created' AND (payload->'data'->>'postId')::bigint = \(post.id)
            """)
    }

    // MARK: - Appeals

    /// Nil when the item already has an appeal (one only).
    public static func insertAppeal(item: ModerationItemID, author: AccountID, text: String, now: Date, on db: DatabaseConnection) async throws -> AppealRecord? {
        var id: AppealID?
        for try await value in try await db.query("""
            INSERT INTO moderation_appeals (item_id, author_id, text, created_at) VALUES (\(item), \(author), \(text), \(now))
            ON CONFLICT (item_id) DO NOTHING RETURNING id
            """).decode(Int64.self) {
            id = value
        }
        guard let id else { return nil }
        return try await appeal(id, on: db)
    }

    static let appealSelect = "SELECT id, item_id, author_id, text, state, created_at, decided_at, decision_reason FROM moderation_appeals"

    static func appeals(_ query: PostgresQuery, on db: DatabaseConnection) async throws -> [AppealRecord] {
        var result: [AppealRecord] = []
        for try await r in try await db.query(query).decode((Int64, Int64, Int64, String, String, Date, Date?, String?).self) {
            result.append(AppealRecord(id: r.0, itemId: r.1, authorId: r.2, text: r.3, state: r.4, createdAt: r.5, decidedAt: r.6, decisionReason: r.7))
        }
        return result
    }

    public static func appeal(_ id: AppealID, lock: Bool = false, on db: DatabaseConnection) async throws -> AppealRecord? {
        try await appeals(("\(unescaped: appealSelect) WHERE id = \(id)\(unescaped: (lock ? " FOR UPDATE" : ""))" as PostgresQuery),
                          on: db).first
    }

    public static func appeals(itemID: ModerationItemID, on db: DatabaseConnection) async throws -> AppealRecord? {
        try await appeals(("\(unescaped: appealSelect) WHERE item_id = \(itemID)" as PostgresQuery), on: db).first
    }

    public static func appeals(state: String?, before: AppealID?, limit: Int, on db: DatabaseConnection) async throws -> [AppealRecord] {
        try await appeals(("""
            \(unescaped: appealSelect)
             WHERE (\(state)::text IS NULL OR state = \(state)) AND (\(before)::bigint IS NULL OR id < \(before)) ORDER BY id DESC LIMIT \(limit)
            """ as PostgresQuery), on: db)
    }

    public static func decideAppeal(
        _ id: AppealID, state: String, by moderator: AccountID, reason: String, now: Date, on db: DatabaseConnection
    ) async throws {
        try await db.query("""
            UPDATE moderation_appeals SET state = \(state), decided_by = \(moderator), decided_at = \(now), decision_reason = \(reason)
            WHERE id = \(id)
            """)
    }
}
