import Foundation
import KairanCore
import KairanStore

/// JSON shapes for groups, threads and posts. Events carry the same shapes, so a client
/// renders a live post exactly as a fetched one.
public struct GroupView: Codable, Sendable {
    public let id: GroupID
    public let kind: GroupKind
    public let name: String
    public let description: String
    public let area: String?
    public let visibility: GroupVisibility
    public let joinPolicy: JoinPolicy
    /// New accounts' posts wait for a moderator's approval.
    public let approveNewAccounts: Bool
    public let createdAt: Date
    public let myRole: GroupRole?
    public let memberCount: Int?
    public let unreadCount: Int?

    public init(_ group: GroupRecord, myRole: GroupRole?, memberCount: Int? = nil, unreadCount: Int? = nil) {
        id = group.id
        kind = group.kind
        name = group.name
        description = group.description
        area = group.area
        visibility = group.visibility
        joinPolicy = group.joinPolicy
        approveNewAccounts = group.approveNewAccounts
        createdAt = group.createdAt
        self.myRole = myRole
        self.memberCount = memberCount
        self.unreadCount = unreadCount
    }
}

public struct ThreadView: Codable, Sendable {
    public let id: ThreadID
    public let groupId: GroupID
    public let title: String
    public let createdBy: AccountID?
    public let createdAt: Date
    public let pinned: Bool
    public let locked: Bool
    public let lastPostAt: Date
    public let postCount: Int
    public let unreadCount: Int
    /// The reader's read marker (the last post they read), so an app can open the thread at
    /// the first unread post; absent before they read any, and in stream events.
    public let lastReadPostId: PostID?

    public init(_ thread: ThreadRecord) {
        id = thread.id
        groupId = thread.groupID
        title = thread.title
        createdBy = thread.createdBy
        createdAt = thread.createdAt
        pinned = thread.pinned
        locked = thread.locked
        lastPostAt = thread.lastPostAt
        postCount = thread.postCount
        unreadCount = thread.unreadCount
        lastReadPostId = thread.lastReadPostID
    }
}

public struct PostView: Codable, Sendable {
    public struct Author: Codable, Sendable {
        public let id: AccountID
        public let displayName: String

        public init(id: AccountID, displayName: String) {
            self.id = id
            self.displayName = displayName
        }
    }

    public let id: PostID
    public let threadId: ThreadID
    public let groupId: GroupID
    public let author: Author?
    /// null once deleted.
    public let body: String?
    public let replyTo: PostID?
    public let createdAt: Date
    public let edited: Bool
    public let editedAt: Date?
    public let deleted: Bool
    public let reactions: [String: Int]
    /// "hidden" (only its author and moderators see it) or "removed"; absent when visible.
    public let moderation: PostModeration?
    /// A held post (only its author and moderators see those): why it waits for a
    /// moderator, "watched_word" (it contains a word the town reviews) or "new_account" (the
    /// group approves new accounts' posts). Absent otherwise.
    public let heldReason: String?
    /// Photos and PDFs, in the author's order (none once the post is deleted); each is
    /// downloaded from `GET /v1/attachments/{id}`.
    public let attachments: [AttachmentRecord]

    public init(_ post: PostRecord) {
        id = post.id
        threadId = post.threadID
        groupId = post.groupID
        if let authorID = post.authorID, let name = post.authorName {
            author = Author(id: authorID, displayName: name)
        } else {
            author = nil
        }
        body = post.deletedAt == nil ? post.body : nil
        replyTo = post.replyToID
        createdAt = post.createdAt
        edited = post.editedAt != nil
        editedAt = post.editedAt
        deleted = post.deletedAt != nil
        reactions = post.reactions
        moderation = post.moderation == .visible ? nil : post.moderation
        heldReason = post.moderation != .held ? nil : post.heldBecause == "approval" ? "new_account" : post.heldBecause.map { _ in "watched_word" }
        attachments = post.deletedAt == nil ? post.attachments : []
    }

    public enum CodingKeys: String, CodingKey {
        case id, threadId, groupId, author, body, replyTo, createdAt, edited, editedAt, deleted, reactions, moderation, heldReason, attachments
    }

    /// Written by hand so a deleted post says `"body": null` rather than leaving the key out.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(threadId, forKey: .threadId)
        try container.encode(groupId, forKey: .groupId)
        try container.encode(author, forKey: .author)
        try container.encode(body, forKey: .body)
        try container.encode(replyTo, forKey: .replyTo)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(edited, forKey: .edited)
        try container.encode(editedAt, forKey: .editedAt)
        try container.encode(deleted, forKey: .deleted)
        try container.encode(reactions, forKey: .reactions)
        try container.encodeIfPresent(moderation, forKey: .moderation)
        try container.encodeIfPresent(heldReason, forKey: .heldReason)
        try container.encode(attachments, forKey: .attachments)
    }
}


/// A keyset page: pass `nextBefore` as the next page's cursor (`?before=`, or `?after=`
/// for lists in ascending order such as a group's members); nil at the end.
public struct Page<Item: Sendable>: Sendable {
    public let items: [Item]
    public let nextBefore: Int64?

    public init(items: [Item], nextBefore: Int64?) {
        self.items = items
        self.nextBefore = nextBefore
    }

    /// A page read with `limit`: a full one may have more after its last row.
    public init(_ items: [Item], limit: Int, cursor: (Item) -> Int64) {
        self.items = items
        self.nextBefore = items.count == limit ? items.last.map(cursor) : nil
    }

    public func map<Other: Sendable>(_ transform: (Item) throws -> Other) rethrows -> Page<Other> {
        Page<Other>(items: try items.map(transform), nextBefore: nextBefore)
    }
}

extension Page: Encodable where Item: Encodable {}

/// What a notification is about. Each kind fills the fields it needs.
public struct NotificationPayload: Codable, Sendable {
    public var postId: PostID?
    public var threadId: ThreadID?
    public var groupId: GroupID?
    /// An invitation: the group's name (the invitee cannot look it up in their lists).
    public var groupName: String?
    public var author: PostView.Author?
    /// The start of the text, so a phone can show it without another request.
    public var excerpt: String?
    /// Moderation: the queue item, a flag's outcome ("kept" or "removed"), the reason
    /// moderators gave, a suspension's scope ("group" or "town") and end (ISO 8601).
    public var itemId: ModerationItemID?
    public var outcome: String?
    public var reason: String?
    public var scope: String?
    public var until: String?
    /// A group event's reminder, change or cancellation (its title is the excerpt).
    public var eventId: EventID?
    /// An alert from a weather warning waiting for alert staff (its subject is the excerpt).
    public var warningId: Int64?

    public init(postId: PostID? = nil, threadId: ThreadID? = nil, groupId: GroupID? = nil, groupName: String? = nil, author: PostView.Author? = nil,
                excerpt: String? = nil, itemId: ModerationItemID? = nil, outcome: String? = nil, reason: String? = nil, scope: String? = nil,
                until: String? = nil, eventId: EventID? = nil, warningId: Int64? = nil) {
        self.postId = postId; self.threadId = threadId; self.groupId = groupId; self.groupName = groupName; self.author = author; self.excerpt = excerpt
        self.itemId = itemId; self.outcome = outcome; self.reason = reason; self.scope = scope; self.until = until; self.eventId = eventId
        self.warningId = warningId
    }
}

/// One of a person's notifications, as listed and as pushed on their stream.
public struct NotificationView: Codable, Sendable {
    public let id: Int64
    public let kind: String
    public let createdAt: Date
    public let read: Bool
    public let data: NotificationPayload

    public init(id: Int64, kind: String, createdAt: Date, read: Bool, data: NotificationPayload) {
        self.id = id; self.kind = kind; self.createdAt = createdAt; self.read = read; self.data = data
    }
}

/// What moderators are told live on their own stream when an item enters their queue.
public struct ModerationQueueEvent: Codable, Sendable {
    public let itemId: ModerationItemID
    public let groupId: GroupID
    public let postId: PostID
    public let state: ModerationItemState
    public let autoHidden: Bool
}
