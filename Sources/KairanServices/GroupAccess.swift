import Foundation
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// Loading a group, thread or post together with the caller's standing, and asking the
/// policy — inside the caller's transaction, so what was checked is what is written.
enum GroupAccess {
    /// A group the caller may not see is `notFound`, exactly like one that does not exist.
    /// `lock` locks the group's row (FOR UPDATE), so membership changes of the same group
    /// (a second owner leaving, a role change) wait for this transaction.
    static func group(
        _ action: GroupAction, _ id: GroupID, actor: Actor, now: Date, lock: Bool = false,
        on db: DatabaseConnection
    ) async throws -> (GroupRecord, GroupStanding) {
        guard let (group, standing) = try await GroupStore.standing(group: id, account: actor.accountID, now: now, lock: lock,
                                                                    on: db) else {
            throw ServiceError.notFound
        }
        try Policy.decide(actor, action, in: standing).require()
        return (group, standing)
    }

    static func isModerator(_ actor: Actor, in standing: GroupStanding) -> Bool {
        Policy.decide(actor, .moderate, in: standing) == .allow
    }

    /// The thread and the caller's standing in its group, authorised for `action`.
    /// `counts: false` for a caller that shows none of the thread's counts (they read the
    /// whole thread).
    static func thread(
        _ action: GroupAction, _ id: ThreadID, actor: Actor, now: Date, counts: Bool = true, on db: DatabaseConnection
    ) async throws -> (ThreadRecord, GroupStanding) {
        let thread: ThreadRecord, standing: GroupStanding, hasVisiblePost: () async throws -> Bool
        if counts {
            guard let found = try await ThreadStore.findThread(id, reader: actor.accountID, on: db) else { throw ServiceError.notFound }
            guard let (_, groupStanding) = try await GroupStore.standing(group: found.groupID, account: actor.accountID, now: now, on: db) else {
                throw ServiceError.notFound
            }
            (thread, standing, hasVisiblePost) = (found, groupStanding, { try await ThreadStore.hasVisiblePost(thread: id, on: db) })
        } else {
            // Every page of posts and every reply: one statement.
            guard let found = try await ThreadStore.threadWithStanding(id, account: actor.accountID, now: now, on: db) else {
                throw ServiceError.notFound
            }
            (thread, standing, hasVisiblePost) = (found.thread, found.standing, { found.hasVisiblePost })
        }
        try await require(action, thread: thread, standing: standing, actor: actor, hasVisiblePost: hasVisiblePost)
        return (thread, standing)
    }

    /// The policy's answer for `action` on a thread read with the caller's standing in its
    /// group; `hasVisiblePost` is asked only when the answer depends on it.
    static func require(
        _ action: GroupAction, thread: ThreadRecord, standing: GroupStanding, actor: Actor, hasVisiblePost: () async throws -> Bool
    ) async throws {
        try Policy.decide(actor, action, in: standing).require()
        // A thread whose posts moderation holds, hid or removed (its title may be what was
        // held) is there only for whoever started it and the moderators.
        if thread.createdBy != actor.accountID, !isModerator(actor, in: standing), try await !hasVisiblePost() {
            throw ServiceError.notFound
        }
    }

    /// The post and the caller's standing in its group, authorised for `action`.
    static func post(
        _ action: GroupAction, _ id: PostID, actor: Actor, now: Date, on db: DatabaseConnection
    ) async throws -> (PostRecord, GroupStanding) {
        guard let post = try await ThreadStore.findPost(id, on: db) else { throw ServiceError.notFound }
        let (_, standing) = try await group(action, post.groupID, actor: actor, now: now, on: db)
        // A post moderation hid or removed is not there for anyone but its author (hidden
        // only) and the moderators.
        if post.moderation != .visible, !isModerator(actor, in: standing),
           !(post.moderation.authorOnly && post.authorID == actor.accountID) {
            throw ServiceError.notFound
        }
        return (post, standing)
    }
}
