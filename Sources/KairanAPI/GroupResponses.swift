import Foundation
import Hummingbird
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// JSON shapes for groups, threads and posts. Events carry the same shapes, so a client
/// renders a live post exactly as a fetched one.
struct GroupResponse: ResponseEncodable, Sendable {
    let id: GroupID
    let kind: GroupKind
    let name: String
    let description: String
    let area: String?
    let visibility: GroupVisibility
    let joinPolicy: JoinPolicy
    /// New accounts' posts wait for a moderator's approval.
    let approveNewAccounts: Bool
    let createdAt: Date
    let myRole: GroupRole?
    let memberCount: Int?
    let unreadCount: Int?

    init(_ group: GroupRecord, myRole: GroupRole?, memberCount: Int? = nil, unreadCount: Int? = nil) {
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

struct ThreadResponse: ResponseEncodable, Sendable {
    let id: ThreadID
    let groupId: GroupID
    let title: String
    let createdBy: AccountID?
    let createdAt: Date
    let pinned: Bool
    let locked: Bool
    let lastPostAt: Date
    let postCount: Int
    let unreadCount: Int

    init(_ thread: ThreadRecord) {
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
    }
}

struct PostResponse: ResponseEncodable, Sendable {
    struct Author: Codable, Sendable {
        let id: AccountID
        let displayName: String
    }

    let id: PostID
    let threadId: ThreadID
    let groupId: GroupID
    let author: Author?
    /// null once deleted.
    let body: String?
    let replyTo: PostID?
    let createdAt: Date
    let edited: Bool
    let editedAt: Date?
    let deleted: Bool
    let reactions: [String: Int]
    /// "hidden" (only its author and moderators see it) or "removed"; absent when visible.
    let moderation: PostModeration?

    init(_ post: PostRecord) {
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
    }

    enum CodingKeys: String, CodingKey {
        case id, threadId, groupId, author, body, replyTo, createdAt, edited, editedAt, deleted, reactions, moderation
    }

    /// Written by hand so a deleted post says `"body": null` rather than leaving the key out.
    func encode(to encoder: any Encoder) throws {
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
    }
}

extension Request {
    /// An integer cursor from the query string; 400 when present but not an integer.
    func cursor(_ name: String) throws -> Int64? {
        guard let text = uri.queryParameters[name[...]] else { return nil }
        guard let value = Int64(String(text)), value > 0 else { throw APIError.badRequest("query parameter '\(name)' must be a positive integer") }
        return value
    }

    /// `?limit=`: default 50, at most 100.
    func pageLimit(default defaultLimit: Int = 50, max: Int = 100) throws -> Int {
        guard let text = uri.queryParameters["limit"] else { return defaultLimit }
        guard let value = Int(String(text)), (1...max).contains(value) else {
            throw APIError.badRequest("query parameter 'limit' must be between 1 and \(max)")
        }
        return value
    }
}

/// Loads a group with the caller's standing in it, and asks the policy. A group the
/// caller may not see is a 404, exactly like one that does not exist.
func authorize(
    _ action: GroupAction, group id: GroupID, actor: Actor, now: Date, lock: Bool = false,
    on connection: PostgresConnection, logger: Logger
) async throws -> (GroupRecord, GroupStanding) {
    guard let (group, standing) = try await GroupStore.standing(group: id, account: actor.accountID, now: now, lock: lock, on: connection, logger: logger) else {
        throw APIError.notFound
    }
    try APIError.check(Policy.decide(actor, action, in: standing))
    return (group, standing)
}
