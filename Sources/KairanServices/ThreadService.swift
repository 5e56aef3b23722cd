import Foundation
import KairanCore
import KairanStore
import Logging

/// Threads and posts: start, read, reply, edit (with history), delete (soft), react, pin,
/// lock, read markers and search. Each change checks the caller's standing and appends its
/// events inside its own transaction.
public struct ThreadService: Sendable {
    let services: Services
    var database: Database { services.database }

    // MARK: - Threads

    public struct StartedThread: Sendable {
        public let thread: ThreadView
        public let post: PostView
    }

    /// Opens a thread with its first post. The title passes the post gate with the text: a
    /// held thread's title must not show either. `attachments`: the caller's uploads.
    public func startThread(_ actor: Actor, in groupID: GroupID, title rawTitle: String, body rawBody: String, attachments: [AttachmentID] = [],
                            logger: Logger) async throws -> StartedThread {
        let title = try Content.text(rawTitle, field: "title", max: Content.threadTitleMax)
        let body = try Content.text(rawBody, field: "body", max: Content.postBodyMax, multiline: true)
        let now = services.clock.now()
        return try await database.withTransaction { db in
            let (_, standing) = try await GroupAccess.group(.participate, groupID, actor: actor, now: now, on: db)
            let names = try await AttachmentStore.waitingNames(attachments, uploader: actor.accountID, on: db)
            let disposition = try await PostGate.check(actor, group: groupID, standing: standing, body: ([title, body] + names).joined(separator: "\n"),
                                                       isEdit: false, now: now, on: db).disposition
            let threadID = try await ThreadStore.insertThread(group: groupID, title: title, author: actor.accountID, now: now, on: db)
            let postID = try await ThreadStore.insertPost(thread: threadID, group: groupID, author: actor.accountID, body: body, replyTo: nil,
                                                          now: now, on: db).id
            _ = try await AttachmentService.attach(attachments, to: .post(postID), actor: actor, limit: services.attachmentLimits.perPost, now: now,
                                                   on: db)
            try await ThreadStore.markRead(thread: threadID, account: actor.accountID, upTo: postID, on: db)
            guard let written = try await ThreadStore.findPost(postID, on: db) else { throw ServiceError.notFound }
            let shown = try await PostGate.apply(disposition, post: written, isEdit: false, now: now, on: db)
            guard let thread = try await ThreadStore.findThread(threadID, reader: actor.accountID, on: db),
                  let post = try await ThreadStore.findPost(postID, on: db) else { throw ServiceError.notFound }
            if shown {
                try await Announce.thread("thread.created", thread, now: now, on: db)
                try await Announce.post("post.created", postID, now: now, on: db)
                try await Notifier.mentions(of: post, now: now, on: db)
            }
            return StartedThread(thread: ThreadView(thread), post: PostView(post))
        }
    }

    public struct ThreadList: Sendable {
        /// Pinned threads, on the first page only.
        public let pinned: [ThreadView]
        public let page: Page<ThreadView>
    }

    /// A group's threads, newest first (by when they were started); what moderation holds
    /// is left out for all but its author and the moderators.
    public func threads(_ actor: Actor, in groupID: GroupID, before: Int64?, limit: Int, logger: Logger) async throws -> ThreadList {
        let now = services.clock.now()
        return try await database.withConnection { db in
            let (_, standing) = try await GroupAccess.group(.read, groupID, actor: actor, now: now, on: db)
            // Unread counts are kept for members only.
            let reader = standing.role == nil ? nil : actor.accountID
            let moderator = GroupAccess.isModerator(actor, in: standing)
            let pinned = before == nil
                ? try await ThreadStore.threads(group: groupID, reader: reader, pinnedOnly: true, before: nil, limit: 20, viewer: actor.accountID,
                                                moderator: moderator, on: db)
                : []
            let threads = try await ThreadStore.threads(group: groupID, reader: reader, pinnedOnly: false, before: before, limit: limit,
                                                        viewer: actor.accountID, moderator: moderator, on: db)
            return ThreadList(pinned: pinned.map(ThreadView.init), page: Page(threads, limit: limit, cursor: \.id).map(ThreadView.init))
        }
    }

    public func thread(_ actor: Actor, _ id: ThreadID, logger: Logger) async throws -> ThreadView {
        let now = services.clock.now()
        return try await database.withConnection { db in
            ThreadView(try await GroupAccess.thread(.read, id, actor: actor, now: now, on: db).0)
        }
    }

    /// Pins, unpins, locks or unlocks a thread (moderators); nil leaves a flag as it is.
    public func setThreadFlags(_ actor: Actor, _ id: ThreadID, pinned: Bool?, locked: Bool?, logger: Logger) async throws -> ThreadView {
        let now = services.clock.now()
        return try await database.withTransaction { db in
            _ = try await GroupAccess.thread(.moderate, id, actor: actor, now: now, counts: false, on: db)
            try await ThreadStore.setFlags(thread: id, pinned: pinned, locked: locked, on: db)
            guard let updated = try await ThreadStore.findThread(id, reader: actor.accountID, on: db) else { throw ServiceError.notFound }
            try await Announce.thread("thread.updated", updated, now: now, on: db)
            return ThreadView(updated)
        }
    }

    /// Marks the thread read up to a post (members only).
    public func markRead(_ actor: Actor, thread id: ThreadID, upTo post: PostID, logger: Logger) async throws {
        let now = services.clock.now()
        try await database.withTransaction { db in
            let (_, standing) = try await GroupAccess.thread(.read, id, actor: actor, now: now, counts: false, on: db)
            guard standing.role != nil else { throw ServiceError.forbidden("read markers are kept for members") }
            guard try await ThreadStore.markRead(thread: id, account: actor.accountID, upTo: post, on: db) else {
                throw ValidationError(field: "lastReadPostId", code: "unknown_post", message: "lastReadPostId must be a post of this thread")
            }
        }
    }

    // MARK: - Posts

    public func posts(_ actor: Actor, in threadID: ThreadID, before: Int64?, limit: Int, logger: Logger) async throws -> Page<PostView> {
        let now = services.clock.now()
        let posts = try await database.withConnection { db in
            let (_, standing) = try await GroupAccess.thread(.read, threadID, actor: actor, now: now, counts: false, on: db)
            return try await ThreadStore.posts(thread: threadID, before: before, limit: limit, viewer: actor.accountID,
                                               moderator: GroupAccess.isModerator(actor, in: standing), on: db)
        }
        return Page(posts, limit: limit, cursor: \.id).map(PostView.init)
    }

    /// Replies in a thread, optionally to one of its posts the caller can see, with the
    /// caller's uploads attached.
    public func reply(_ actor: Actor, in threadID: ThreadID, body rawBody: String, replyTo: PostID?, attachments: [AttachmentID] = [],
                      logger: Logger) async throws -> PostView {
        let body = try Content.text(rawBody, field: "body", max: Content.postBodyMax, multiline: true)
        let now = services.clock.now()
        if attachments.isEmpty, Mentions.tokens(in: body).isEmpty,
           let post = try await plainReply(actor, in: threadID, body: body, replyTo: replyTo, now: now, logger: logger) {
            return post
        }
        return try await database.withTransaction { db in
            let (thread, standing) = try await GroupAccess.thread(.participate, threadID, actor: actor, now: now, counts: false, on: db)
            let moderator = GroupAccess.isModerator(actor, in: standing)
            let names = try await AttachmentStore.waitingNames(attachments, uploader: actor.accountID, on: db)
            let disposition = try await PostGate.check(actor, group: thread.groupID, standing: standing, body: ([body] + names).joined(separator: "\n"),
                                                       isEdit: false, now: now, on: db).disposition
            if thread.locked, !moderator { throw ServiceError.conflict("thread_locked", "this thread is locked") }
            if let replyTo { try await Self.checkReplyTarget(replyTo, in: threadID, actor: actor, moderator: moderator, on: db) }
            // The rows every reply to this thread shares (the thread's, the stream heads) are
            // locked last, in `publishReply`, one statement before the commit.
            let inserted = try await ThreadStore.insertPost(thread: threadID, group: thread.groupID, author: actor.accountID, body: body,
                                                            replyTo: replyTo, now: now, markVisible: false, on: db)
            let postID = inserted.id
            var written = inserted
            if !attachments.isEmpty {
                _ = try await AttachmentService.attach(attachments, to: .post(postID), actor: actor, limit: services.attachmentLimits.perPost,
                                                       now: now, on: db)
                guard let withFiles = try await ThreadStore.findPost(postID, on: db) else { throw ServiceError.notFound }
                written = withFiles
            }
            let shown = try await PostGate.apply(disposition, post: written, isEdit: false, now: now, on: db)
            // Read again when the gate did something to it (held, or flagged for review).
            var post = written
            if case .publish = disposition {} else { post = try await ThreadStore.findPost(postID, on: db) ?? written }
            if shown, post.moderation == .visible {
                try await Notifier.mentions(of: post, now: now, on: db)
                // A new post cannot be hidden by anyone else before this commits: it is
                // announced as written (`Announce.post`'s lock is for existing posts).
                try await ThreadStore.publishReply(postID, thread: threadID, author: actor.accountID,
                                                   streams: [EventStore.threadStream(threadID), EventStore.groupStream(thread.groupID)],
                                                   kind: "post.created", payload: PostView(post), now: now, on: db)
            } else {
                try await ThreadStore.markRead(thread: threadID, account: actor.accountID, upTo: postID, on: db)
            }
            return PostView(post)
        }
    }

    /// Most replies carry no files and name nobody, and the gate lets them through as
    /// written: those are read as the transaction above reads them (access, the gate, the
    /// post replied to; none of these reads takes a lock, so at READ COMMITTED they see what
    /// they would see inside it) and written in one statement that commits on its own
    /// (`ThreadStore.insertAndPublishReply`): four round trips to PostgreSQL with the
    /// session's, not eight, and the rows all replies to the thread share are held for that
    /// statement only.
    ///
    /// The reply's use of the hourly limit is counted in that statement, so after every other
    /// check: refusals for the text, a locked thread or the post replied to come before
    /// `rate_limited` here, and use up nothing. A request cancelled before the statement is
    /// sent writes nothing; once it is sent, closing the connection makes PostgreSQL abort it
    /// within `client_connection_check_interval`, so only one that completes within that
    /// second is kept, as a COMMIT already sent could be before.
    ///
    /// nil when the gate holds or flags the reply: the transaction in `reply` writes it.
    private func plainReply(_ actor: Actor, in threadID: ThreadID, body: String, replyTo: PostID?, now: Date,
                            logger: Logger) async throws -> PostView? {
        try await database.withConnection { db in
            // The thread with the caller's standing and the post gate's reading: one statement;
            // then the same checks, in the same order, as a reply in a transaction makes.
            guard let read = try await ThreadStore.threadWithStandingAndGate(threadID, account: actor.accountID, text: WatchedWords.Text(body),
                                                                            now: now, on: db) else {
                throw ServiceError.notFound
            }
            let (thread, standing) = (read.thread, read.standing)
            try await GroupAccess.require(.participate, thread: thread, standing: standing, actor: actor) { read.hasVisiblePost }
            let moderator = GroupAccess.isModerator(actor, in: standing)
            let verdict = try PostGate.verdict(read.gate, actor: actor, standing: standing, body: body)
            guard case .publish = verdict.disposition else { return nil }
            if thread.locked, !moderator { throw ServiceError.conflict("thread_locked", "this thread is locked") }
            if let replyTo { try await Self.checkReplyTarget(replyTo, in: threadID, actor: actor, moderator: moderator, on: db) }
            let limit = Sandbox.limit(for: .post, actor: actor, isNewAccount: verdict.isNewAccount,
                                      newAccountPostsPerHour: verdict.settings.newAccountPostsPerHour)
            let asWritten = ThreadStore.newReply(thread: threadID, group: thread.groupID, author: actor.accountID, authorName: verdict.posterName,
                                                 body: body, replyTo: replyTo, now: now)
            var attempt = 1
            while true {
                do {
                    guard let post = try await ThreadStore.insertAndPublishReply(
                        thread: threadID, group: thread.groupID, author: actor.accountID, body: body, replyTo: replyTo, limit: limit,
                        streams: [EventStore.threadStream(threadID), EventStore.groupStream(thread.groupID)], kind: "post.created",
                        payload: PostView(asWritten), now: now, on: db)
                    else {
                        let retryAfter = limit.map { ModerationStore.window(of: $0, at: now).retryAfter } ?? 1
                        throw ServiceError.rateLimited(action: RateLimitedAction.post.rawValue, retryAfter: retryAfter)
                    }
                    return PostView(post)
                } catch where attempt < 3 && Database.isDeadlock(error) {
                    // Nothing of it was kept (as `Database.withTransaction` retries).
                    logger.warning("deadlock; reply retried", metadata: ["attempt": "\(attempt)"])
                    attempt += 1
                }
            }
        }
    }

    /// A reply may answer only a post of the same thread that the caller can see: a held or
    /// hidden one is not there for them.
    private static func checkReplyTarget(_ replyTo: PostID, in threadID: ThreadID, actor: Actor, moderator: Bool,
                                         on db: DatabaseConnection) async throws {
        guard let target = try await ThreadStore.findPost(replyTo, on: db), target.threadID == threadID,
              target.moderation == .visible || target.authorID == actor.accountID || moderator else {
            throw ServiceError.invalid(code: "invalid_reply", message: "replyTo must be a post in this thread", field: "replyTo")
        }
    }

    /// One post the caller can see (a page that edits or flags it shows it first).
    public func post(_ actor: Actor, _ id: PostID, logger: Logger) async throws -> PostView {
        let now = services.clock.now()
        let post = try await database.withConnection { db in
            try await GroupAccess.post(.read, id, actor: actor, now: now, on: db).0
        }
        return PostView(post)
    }

    /// The author rewrites a post; the old text goes to its history.
    public func edit(_ actor: Actor, post id: PostID, body rawBody: String, logger: Logger) async throws -> PostView {
        let body = try Content.text(rawBody, field: "body", max: Content.postBodyMax, multiline: true)
        let now = services.clock.now()
        return try await database.withTransaction { db in
            let (post, standing) = try await GroupAccess.post(.participate, id, actor: actor, now: now, on: db)
            guard post.authorID == actor.accountID else { throw ServiceError.forbidden("only the author may edit a post") }
            guard post.deletedAt == nil else { throw ServiceError.conflict("post_deleted", "a deleted post cannot be edited") }
            guard post.moderation == .visible else { throw ServiceError.conflict("under_review", "a post moderation holds or hid cannot be edited") }
            let disposition = try await PostGate.check(actor, group: post.groupID, standing: standing, body: body, isEdit: true, now: now,
                                                       on: db).disposition
            try await ThreadStore.edit(post: id, body: body, by: actor.accountID, now: now, on: db)
            _ = try await ModerationStore.postEdited(id, body: body, now: now, on: db)
            guard let written = try await ThreadStore.findPost(id, on: db) else { throw ServiceError.notFound }
            // An edit of a post moderation holds or hid stays out of sight.
            if try await PostGate.apply(disposition, post: written, isEdit: true, now: now, on: db), written.moderation == .visible {
                try await Announce.post("post.edited", id, now: now, on: db)
            }
            guard let edited = try await ThreadStore.findPost(id, on: db) else { throw ServiceError.notFound }
            return PostView(edited)
        }
    }

    /// Deletes a post (its author, or a moderator). Deleting twice is not an error.
    public func delete(_ actor: Actor, post id: PostID, logger: Logger) async throws {
        let now = services.clock.now()
        try await database.withTransaction { db in
            let (post, standing) = try await GroupAccess.post(.read, id, actor: actor, now: now, on: db)
            if post.authorID != actor.accountID { try Policy.decide(actor, .moderate, in: standing).require() }
            guard post.deletedAt == nil else { return }
            try await ThreadStore.delete(post: id, now: now, on: db)
            try await AttachmentStore.removeFromPost(id, on: db)
            // What it said leaves the stored events and the mention notifications too: a
            // client replaying the thread from offset 0 must not get back the deleted text.
            try await ModerationEffects.scrub(post: post, reason: .deleted, on: db)
            try await Announce.post("post.deleted", id, now: now, on: db)
        }
    }

    public struct PostEdit: Sendable {
        public let body: String
        public let replacedAt: Date
    }

    /// What a post said before each edit, oldest first.
    public func edits(_ actor: Actor, post id: PostID, logger: Logger) async throws -> [PostEdit] {
        let now = services.clock.now()
        let edits = try await database.withConnection { db in
            _ = try await GroupAccess.post(.read, id, actor: actor, now: now, on: db)
            return try await ThreadStore.edits(post: id, on: db)
        }
        return edits.map { PostEdit(body: $0.body, replacedAt: $0.editedAt) }
    }

    /// Adds (`on`) or takes back a reaction. Idempotent.
    public func react(_ actor: Actor, post id: PostID, reaction: Reaction, on: Bool, logger: Logger) async throws {
        let now = services.clock.now()
        try await database.withTransaction { db in
            let (post, _) = try await GroupAccess.post(.participate, id, actor: actor, now: now, on: db)
            guard post.deletedAt == nil else { throw ServiceError.conflict("post_deleted", "a deleted post cannot take reactions") }
            // A post moderation hid or holds carries its text: it is not announced.
            if try await ThreadStore.setReaction(post: id, account: actor.accountID, reaction: reaction, on: on, now: now, on: db),
               post.moderation == .visible {
                try await Announce.post("reaction.changed", id, now: now, on: db)
            }
        }
    }

    // MARK: - Search

    /// Visible posts in a group whose text contains `text`, newest first.
    public func search(_ actor: Actor, in groupID: GroupID, text rawText: String, before: Int64?, limit: Int, logger: Logger) async throws -> Page<PostView> {
        let text = try Content.text(rawText, field: "q", min: Content.searchQueryMin, max: Content.searchQueryMax)
        let now = services.clock.now()
        let posts = try await database.withConnection { db in
            _ = try await GroupAccess.group(.read, groupID, actor: actor, now: now, on: db)
            return try await ThreadStore.search(group: groupID, text: text, before: before, limit: limit, on: db)
        }
        return Page(posts, limit: limit, cursor: \.id).map(PostView.init)
    }
}
