import Foundation
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// The stream events a change appends, in its own transaction (the event table is the
/// outbox: a change and its announcement commit together or not at all).
enum Announce {
    /// A post's new state, to live readers of its thread and its group. Nothing when the
    /// post is not (or no longer) visible.
    static func post(_ kind: String, _ id: PostID, now: Date, on db: DatabaseConnection) async throws {
        // FOR SHARE: a hide waits for this transaction, and its scrub then sees this event;
        // a hide that committed first is seen here, and nothing is announced.
        guard try await ThreadStore.lockVisible(post: id, on: db),
              let post = try await ThreadStore.findPost(id, on: db) else { return }
        let payload = PostView(post)
        for stream in [EventStore.threadStream(post.threadID), EventStore.groupStream(post.groupID)] {
            try await EventStore.append(stream, kind: kind, payload: payload, now: now, on: db)
        }
    }

    /// Moderation took a post out of sight (hidden, removed): readers are told which, never
    /// its text.
    static func postWithdrawn(_ kind: String, _ post: PostRecord, now: Date, on db: DatabaseConnection) async throws {
        struct Withdrawn: Encodable {
            let id: PostID
            let threadId: ThreadID
            let groupId: GroupID
        }
        let payload = Withdrawn(id: post.id, threadId: post.threadID, groupId: post.groupID)
        for stream in [EventStore.threadStream(post.threadID), EventStore.groupStream(post.groupID)] {
            try await EventStore.append(stream, kind: kind, payload: payload, now: now, on: db)
        }
    }

    /// A post moderation brought back, in full.
    static func postRestored(_ post: PostRecord, now: Date, on db: DatabaseConnection) async throws {
        let fresh = try await ThreadStore.findPost(post.id, on: db) ?? post
        for stream in [EventStore.threadStream(post.threadID), EventStore.groupStream(post.groupID)] {
            try await EventStore.append(stream, kind: "post.restored", payload: PostView(fresh), now: now, on: db)
        }
    }

    static func thread(_ kind: String, _ thread: ThreadRecord, now: Date, on db: DatabaseConnection) async throws {
        // Everyone on the group's stream gets the same event: nothing of one reader's own
        // (their unread count, their read marker) goes in it.
        var shared = thread
        shared.unreadCount = 0
        shared.lastReadPostID = nil
        try await EventStore.append(EventStore.groupStream(thread.groupID), kind: kind, payload: ThreadView(shared), now: now, on: db)
    }

    /// An item entering the queue, to the moderators who handle it.
    static func queueItem(
        _ item: ModerationItemID, group: GroupID, post: PostID, state: ModerationItemState, autoHidden: Bool, townOnly: Bool, now: Date,
        on db: DatabaseConnection
    ) async throws {
        let moderators = try await ModerationStore.moderators(ofGroup: group, townOnly: townOnly, on: db)
        try await EventStore.appendToEach(moderators.map(EventStore.userStream), kind: "moderation.item",
                                          payload: ModerationQueueEvent(itemId: item, groupId: group, postId: post,
                                                                        state: state, autoHidden: autoHidden),
                                          now: now, on: db)
    }
}

extension Announce {
    struct MemberEvent: Encodable {
        let groupId: GroupID
        let accountId: AccountID
        let role: GroupRole?
    }

    /// A membership change, on the group's stream (the gateway re-checks live subscriptions
    /// on the ones that end a membership).
    static func member(_ kind: String, group: GroupID, account: AccountID, role: GroupRole?, now: Date,
                       on db: DatabaseConnection) async throws {
        try await EventStore.append(EventStore.groupStream(group), kind: kind, payload: MemberEvent(groupId: group, accountId: account, role: role),
                                    now: now, on: db)
    }
}
