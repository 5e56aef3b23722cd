import Foundation
import KairanCore
import Logging
import PostgresNIO

public struct ThreadRecord: Sendable, Equatable {
    public let id: ThreadID
    public let groupID: GroupID
    public let title: String
    public let createdBy: AccountID?
    public let createdAt: Date
    public let pinned: Bool
    public let locked: Bool
    public let lastPostAt: Date
    public let postCount: Int
    /// For the reader asking; 0 when not a member.
    public var unreadCount: Int
    /// The reader's read marker: the last post they read; nil before they read any.
    public var lastReadPostID: PostID?
}

public struct PostRecord: Sendable, Equatable {
    public let id: PostID
    public let threadID: ThreadID
    public let groupID: GroupID
    public let authorID: AccountID?
    public let authorName: String?
    /// nil once deleted.
    public let body: String?
    public let replyToID: PostID?
    public let createdAt: Date
    public let editedAt: Date?
    public let deletedAt: Date?
    public let reactions: [String: Int]
    /// Hidden (its author and moderators see it) or removed by moderation.
    public let moderation: PostModeration
    /// For a held post, why: "watched_word" or "approval" (the group approves new accounts'
    /// posts), from its queue item.
    public let heldBecause: String?
    /// Photos and PDFs, in the author's order.
    public var attachments: [AttachmentRecord] = []
}

/// SQL for threads, posts, edits, reactions, read state and search.
public enum ThreadStore {
    public static func insertThread(
        group: GroupID, title: String, author: AccountID, now: Date, on db: DatabaseConnection
    ) async throws -> ThreadID {
        for try await id in try await db.query("""
            WITH thread AS (
                -- threads.last_post_at only for instances of the release before migration
                -- 0027, during a rolling upgrade; never moved here.
                INSERT INTO threads (group_id, title, created_by, created_at, last_post_at)
                VALUES (\(group), \(title), \(author), \(now), \(now)) RETURNING id
            )
            INSERT INTO thread_activity (thread_id, last_post_at) SELECT id, \(now) FROM thread RETURNING thread_id
            """).decode(ThreadID.self) {
            return id
        }
        preconditionFailure("INSERT … RETURNING returned no row")
    }

    /// A thread's columns, with the unread count for `rd.reader`: every query selecting them
    /// joins `(SELECT <reader>::bigint AS reader) rd`, so the reader is a bound value like
    /// any other (a fixed fragment holds no parameter).
    static let threadColumns = """
        t.id, t.group_id, t.title, t.created_by, t.created_at, t.pinned, t.locked, \(lastPostAt),
        (SELECT count(*) FROM posts p WHERE p.thread_id = t.id AND p.moderation = 'visible')::int,
        CASE WHEN rd.reader IS NULL THEN 0 ELSE (
            SELECT count(*) FROM posts p
            WHERE p.thread_id = t.id AND p.deleted_at IS NULL AND p.moderation = 'visible' AND p.author_id IS DISTINCT FROM rd.reader
              AND p.id > coalesce((SELECT r.last_read_post_id FROM thread_reads r WHERE r.thread_id = t.id AND r.account_id = rd.reader), 0)
        )::int END,
        (SELECT r.last_read_post_id FROM thread_reads r WHERE r.thread_id = t.id AND r.account_id = rd.reader)
        """
    /// The same row without the counts (zero) and the read marker (null): a thread's posts
    /// are counted by reading them, so an access check that needs none of them (every reply,
    /// every page of posts) does not pay for a thread's whole length.
    static let threadColumnsWithoutCounts = """
        t.id, t.group_id, t.title, t.created_by, t.created_at, t.pinned, t.locked, \(lastPostAt), 0, 0, NULL::bigint
        """
    /// Kept in `thread_activity`, not on the thread's row, which every reply key-share locks
    /// through its post's foreign key (migration 0027 says why). A thread created by an
    /// instance older than 0027 during a rolling upgrade has no row until its first reply
    /// here; its start stands in until then.
    static let lastPostAt = "coalesce((SELECT ta.last_post_at FROM thread_activity ta WHERE ta.thread_id = t.id), t.created_at)"
    typealias ThreadRow = (ThreadID, GroupID, String, AccountID?, Date, Bool, Bool, Date, Int, Int, PostID?)

    static func thread(_ row: ThreadRow) -> ThreadRecord {
        ThreadRecord(id: row.0, groupID: row.1, title: row.2, createdBy: row.3, createdAt: row.4, pinned: row.5, locked: row.6,
                     lastPostAt: row.7, postCount: row.8, unreadCount: row.9, lastReadPostID: row.10)
    }

    /// `reader`: the member whose unread counts to compute (nil: none).
    /// `counts: false` leaves `postCount`, `unreadCount` and `lastReadPostID` empty.
    public static func findThread(_ id: ThreadID, reader: AccountID?, counts: Bool = true, on db: DatabaseConnection) async throws -> ThreadRecord? {
        let query = threadQuery(id, reader: reader, counts: counts)
        // Without counts (the stream's check of every subscription to a thread): planned once
        // per connection. Pages and replies read the thread with the caller's standing in one
        // statement instead (`threadWithStanding`).
        let rows = counts ? try await Array(db.query(query).collect()) : try await db.query(query, preparedAs: ThreadStatement.self)
        for row in rows {
            return thread(try row.decode(ThreadRow.self))
        }
        return nil
    }

    static func threadQuery(_ id: ThreadID, reader: AccountID?, counts: Bool) -> PostgresQuery {
        """
        SELECT \(unescaped: counts ? threadColumns : threadColumnsWithoutCounts)
        FROM threads t CROSS JOIN (SELECT \(reader)::bigint AS reader) rd WHERE t.id = \(id)
        """
    }

    enum ThreadStatement: PreparedSQL {
        static let name = "thread_without_counts"
        static let sql = threadQuery(0, reader: nil, counts: false).sql
    }

    /// A thread (without counts), its group, where `account` stands in it and whether the
    /// thread has a visible post, in one statement planned once per connection: every page
    /// of posts and every reply checks access with it (three round trips before).
    public static func threadWithStanding(_ id: ThreadID, account: AccountID, now: Date, on db: DatabaseConnection) async throws
        -> (thread: ThreadRecord, group: GroupRecord, standing: GroupStanding, hasVisiblePost: Bool)? {
        for row in try await db.query(GroupStore.standingQuery(of: .thread(id), account: account, now: now, lock: false),
                                      preparedAs: ThreadStandingStatement.self) {
            return threadWithStanding(try row.decode(ThreadStandingRow.self))
        }
        return nil
    }

    /// The standing statement's columns for a thread: the thread's (without counts), the
    /// group's, the caller's role, ban and invitation, whether the thread has a visible post.
    typealias ThreadStandingRow = (ThreadID, GroupID, String, AccountID?, Date, Bool, Bool, Date, Int, Int, PostID?,
                                   GroupID, String, String, String, String?, String, String, Date, Bool, String?, Bool, Bool, Bool)

    static func threadWithStanding(_ r: ThreadStandingRow)
        -> (thread: ThreadRecord, group: GroupRecord, standing: GroupStanding, hasVisiblePost: Bool) {
        let (group, standing) = GroupStore.standing((r.11, r.12, r.13, r.14, r.15, r.16, r.17, r.18, r.19, r.20, r.21, r.22))
        return (thread((r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10)), group, standing, r.23)
    }

    enum ThreadStandingStatement: PreparedSQL {
        static let name = "thread_standing"
        static let sql = GroupStore.standingQuery(of: .thread(0), account: 0, now: Date(timeIntervalSince1970: 0), lock: false).sql
    }

    /// What a plain reply reads before it writes: the thread with the caller's standing (as
    /// `threadWithStanding`) and the post gate's reading for the text (as
    /// `ModerationStore.gateReading`, for the thread's group), in one statement: one round
    /// trip, not two. Nil when the thread does not exist.
    public static func threadWithStandingAndGate(
        _ id: ThreadID, account: AccountID, text: WatchedWords.Text, now: Date, on db: DatabaseConnection
    ) async throws -> (thread: ThreadRecord, group: GroupRecord, standing: GroupStanding, hasVisiblePost: Bool,
                       gate: ModerationStore.GateReading)? {
        let query = threadWithStandingAndGateQuery(id, account: account, plain: text.plain, kanaFolded: text.kanaFolded, now: now)
        for row in try await db.query(query, preparedAs: ThreadStandingAndGateStatement.self) {
            // A `ThreadStandingRow`'s 24 columns, then a `ModerationStore.GateRow`'s 13.
            let r = try row.decode((ThreadID, GroupID, String, AccountID?, Date, Bool, Bool, Date, Int, Int, PostID?,
                                    GroupID, String, String, String, String?, String, String, Date, Bool, String?, Bool, Bool, Bool,
                                    Date?, Double, Int32, Int32, Int32, Date?, Int64?, String?, String?, String?, Bool?, Bool?, String?).self)
            let read = threadWithStanding((r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10, r.11, r.12, r.13, r.14, r.15, r.16, r.17,
                                           r.18, r.19, r.20, r.21, r.22, r.23))
            let gate = ModerationStore.gateReading((r.24, r.25, r.26, r.27, r.28, r.29, r.30, r.31, r.32, r.33, r.34, r.35, r.36), now: now)
            return (read.thread, read.group, read.standing, read.hasVisiblePost, gate)
        }
        return nil
    }

    static func threadWithStandingAndGateQuery(_ id: ThreadID, account: AccountID, plain: String, kanaFolded: String, now: Date)
        -> PostgresQuery {
        // The standing statement's SQL and values first, unchanged; the gate's values are
        // bound after them, numbered on. Its group is the thread's (the standing's only
        // column named group_id). `standing`, not `s`: the gate names its settings `s`.
        // MATERIALIZED: read once, so the planner costs the standing's subqueries once.
        // Inlined, they were costed once for every row it guessed the settings table had
        // (1,480 without statistics, on a new database): over `jit_above_cost`, and each
        // reply spent 280 ms compiling the statement (measured with auto_explain).
        var query = GroupStore.standingQuery(of: .thread(id), account: account, now: now, lock: false)
        let n = query.binds.count
        query.binds.append(account)
        query.binds.append(now)
        query.binds.append(kanaFolded)
        query.binds.append(plain)
        let gate = ModerationStore.gateSQL(account: "$\(n + 1)", group: "standing.group_id", plain: "$\(n + 4)", kanaFolded: "$\(n + 3)",
                                           now: "$\(n + 2)")
        query.sql = """
            WITH standing AS MATERIALIZED (\(query.sql))
            SELECT standing.*, gate.* FROM standing CROSS JOIN LATERAL (\(gate)) gate
            """
        return query
    }

    /// Every plain reply reads it: planned once per connection.
    enum ThreadStandingAndGateStatement: PreparedSQL {
        static let name = "thread_standing_and_gate"
        static let sql = threadWithStandingAndGateQuery(0, account: 0, plain: "", kanaFolded: "", now: Date(timeIntervalSince1970: 0)).sql
    }

    /// Threads of a group, newest first, keyset-paged by id. `pinnedOnly` lists the pinned ones.
    public static func threads(
        group: GroupID, reader: AccountID?, pinnedOnly: Bool, before: ThreadID?, limit: Int, viewer: AccountID? = nil, moderator: Bool = false,
        on db: DatabaseConnection
    ) async throws -> [ThreadRecord] {
        let query: PostgresQuery = """
            SELECT \(unescaped: threadColumns) FROM threads t CROSS JOIN (SELECT \(reader)::bigint AS reader) rd
            WHERE t.group_id = \(group) AND (NOT \(pinnedOnly) OR t.pinned) AND (\(before)::bigint IS NULL OR t.id < \(before))
              -- A thread whose only posts moderation holds, hid or removed is not listed
              -- (its title may be what was held), except to whoever started it.
              AND (\(moderator) OR t.created_by = \(viewer) OR EXISTS (SELECT 1 FROM posts p WHERE p.thread_id = t.id AND p.moderation = 'visible'))
            ORDER BY t.id DESC LIMIT \(limit)
            """
        var threads: [ThreadRecord] = []
        for try await row in try await db.query(query).decode(ThreadRow.self) {
            threads.append(thread(row))
        }
        return threads
    }

    public static func hasVisiblePost(thread: ThreadID, on db: DatabaseConnection) async throws -> Bool {
        for try await value in try await db.query(
            "SELECT EXISTS (SELECT 1 FROM posts WHERE thread_id = \(thread) AND moderation = 'visible')"
        ).decode(Bool.self) {
            return value
        }
        return false
    }

    /// Takes a share lock on the post and says whether it is visible (see the announcers).
    public static func lockVisible(post: PostID, on db: DatabaseConnection) async throws -> Bool {
        for try await moderation in try await db.query(
            "SELECT moderation FROM posts WHERE id = \(post) FOR SHARE"
        ).decode(String.self) {
            return moderation == PostModeration.visible.rawValue
        }
        return false
    }

    /// Whether the post opened its thread.
    public static func isOpeningPost(_ post: PostID, thread: ThreadID, on db: DatabaseConnection) async throws -> Bool {
        for try await first in try await db.query("SELECT min(id) FROM posts WHERE thread_id = \(thread)").decode(Int64?.self) {
            return first == post
        }
        return false
    }

    public static func setFlags(thread: ThreadID, pinned: Bool?, locked: Bool?, on db: DatabaseConnection) async throws {
        try await db.query("""
            UPDATE threads SET pinned = coalesce(\(pinned), pinned), locked = coalesce(\(locked), locked) WHERE id = \(thread)
            """)
    }

    // MARK: - Posts

    /// Writes a post and returns it as `findPost` would read it, in the same statement
    /// (a reply without files needs no second read).
    ///
    /// `markVisible: false` leaves the thread's place in the list to the caller (a reply
    /// moves it in `publishReply`, with the locks taken last).
    public static func insertPost(
        thread: ThreadID, group: GroupID, author: AccountID, body: String, replyTo: PostID?, now: Date, markVisible: Bool = true,
        on db: DatabaseConnection
    ) async throws -> PostRecord {
        var written: PostRecord?
        for row in try await db.query(insertPostQuery(thread: thread, group: group, author: author, body: body, replyTo: replyTo, now: now),
                                      preparedAs: InsertPostStatement.self) {
            written = post(try row.decode(PostRow.self))
        }
        guard let written else { preconditionFailure("INSERT … RETURNING returns the row") }
        // A post held by moderation moves it back (`recomputeLastPostAt`) in the same transaction.
        if markVisible { try await markVisiblePost(in: thread, at: now, on: db) }
        return written
    }

    static func insertPostQuery(thread: ThreadID, group: GroupID, author: AccountID, body: String, replyTo: PostID?, now: Date) -> PostgresQuery {
        """
        WITH p AS (
            INSERT INTO posts (thread_id, group_id, author_id, body, reply_to_id, created_at)
            VALUES (\(thread), \(group), \(author), \(body), \(replyTo)::bigint, \(now)) RETURNING *
        )
        SELECT \(unescaped: postColumns) FROM p LEFT JOIN accounts a ON a.id = p.author_id
        """
    }

    enum InsertPostStatement: PreparedSQL {
        static let name = "insert_post"
        static let sql = insertPostQuery(thread: 0, group: 0, author: 0, body: "", replyTo: nil, now: Date(timeIntervalSince1970: 0)).sql
    }

    /// The end of a visible reply's transaction, in one statement: the thread moves up the
    /// list, the author's read marker moves to the reply, the event goes to each of
    /// `streams` (in this order) and the listeners are woken.
    ///
    /// Why one statement, last: the thread's row, the author's read marker and each stream's
    /// head are locked from their update until the commit, and every reply to the thread
    /// (and every event of the group) waits for them. Taken one statement before COMMIT, they
    /// are held for two round trips, not for the whole transaction: 64 clients posting to one
    /// thread went from about 75 replies a second to what the commits allow
    /// (`scripts/bench rest`).
    public static func publishReply(
        _ post: PostID, thread: ThreadID, author: AccountID, streams: [String], kind: String, payload: some Encodable, now: Date,
        on db: DatabaseConnection
    ) async throws {
        let json = try EventStore.json(payload)
        _ = try await db.query(publishReplyQuery(post, thread: thread, author: author, streams: streams, kind: kind, json: json, now: now),
                               preparedAs: PublishReplyStatement.self)
    }

    static func publishReplyQuery(_ post: PostID, thread: ThreadID, author: AccountID, streams: [String], kind: String, json: String,
                                  now: Date) -> PostgresQuery {
        """
        WITH moved AS (
            -- An upsert, as in `markVisiblePost`.
            INSERT INTO thread_activity AS ta (thread_id, last_post_at) VALUES (\(thread), \(now))
            ON CONFLICT (thread_id) DO UPDATE SET last_post_at = greatest(ta.last_post_at, excluded.last_post_at)
        ), marked AS (
            INSERT INTO thread_reads (thread_id, account_id, last_read_post_id) VALUES (\(thread), \(author), \(post))
            ON CONFLICT (account_id, thread_id) DO UPDATE
            SET last_read_post_id = greatest(thread_reads.last_read_post_id, excluded.last_read_post_id)
        ), heads AS (
            INSERT INTO stream_heads (stream, last_offset)
            SELECT s, 1 FROM unnest(\(streams)::text[]) WITH ORDINALITY AS u(s, n) ORDER BY n
            ON CONFLICT (stream) DO UPDATE SET last_offset = stream_heads.last_offset + 1
            RETURNING stream, last_offset
        ), appended AS (
            INSERT INTO events (stream, seq, kind, payload, created_at)
            SELECT stream, last_offset, \(kind), \(json)::jsonb, \(now) FROM heads
            RETURNING stream
        )
        SELECT pg_notify(\(EventStore.channel), stream) FROM appended
        """
    }

    /// Every visible reply's last statement: planned once per connection.
    enum PublishReplyStatement: PreparedSQL {
        static let name = "publish_reply"
        static let sql = publishReplyQuery(0, thread: 0, author: 0, streams: [], kind: "", json: "", now: Date(timeIntervalSince1970: 0)).sql
    }

    /// A reply as `insertAndPublishReply` will write it, before it has an id (0): what its
    /// event is encoded from.
    public static func newReply(thread: ThreadID, group: GroupID, author: AccountID, authorName: String?, body: String, replyTo: PostID?,
                                now: Date) -> PostRecord {
        PostRecord(id: 0, threadID: thread, groupID: group, authorID: author, authorName: authorName, body: body, replyToID: replyTo,
                   createdAt: now, editedAt: nil, deletedAt: nil, reactions: [:], moderation: .visible, heldBecause: nil)
    }

    /// A visible reply with nothing else to write (no files, no mentions, nothing for
    /// moderation), written and published in one statement that commits on its own: the
    /// post, the thread moving up the list, the author's read marker, the event on each of
    /// `streams` and the listeners' wake-up. `payload` is the event's, made from `newReply`
    /// (id 0); the post's id goes in here. Returns the post as `findPost` reads it.
    ///
    /// `limit`: the author's hourly limit on posts, counted in the same statement (nil: none,
    /// a town moderator). nil when it is used up: nothing else is written (the count of that
    /// refused use stays, as the window is used up anyway).
    ///
    /// Why one statement without BEGIN and COMMIT: two round trips fewer for every such
    /// reply, and the rows every reply to the thread shares (its place in the list, the
    /// stream heads) are locked only while this statement runs and commits, not also while
    /// a COMMIT travels from kairan (`scripts/bench rest`: replies to one thread).
    public static func insertAndPublishReply(
        thread: ThreadID, group: GroupID, author: AccountID, body: String, replyTo: PostID?, limit: RateLimit?, streams: [String],
        kind: String, payload: some Encodable, now: Date, on db: DatabaseConnection
    ) async throws -> PostRecord? {
        let json = try EventStore.json(payload)
        let query = insertAndPublishReplyQuery(thread: thread, group: group, author: author, body: body, replyTo: replyTo, limit: limit,
                                               streams: streams, kind: kind, json: json, now: now)
        for row in try await db.query(query, preparedAs: InsertAndPublishReplyStatement.self) {
            return post(try row.decode(PostRow.self))
        }
        return nil
    }

    static func insertAndPublishReplyQuery(
        thread: ThreadID, group: GroupID, author: AccountID, body: String, replyTo: PostID?, limit: RateLimit?, streams: [String],
        kind: String, json: String, now: Date
    ) -> PostgresQuery {
        let window = limit.map { ModerationStore.window(of: $0, at: now).start } ?? now
        // The rows replies share are upserted as in `publishReplyQuery`, in the same order.
        // `locked`: the key-share locks the post's foreign keys take, taken before the stream
        // heads as the transaction's INSERT took them before its events. Left to the foreign
        // keys they would come at the statement's end, after the heads: a membership change
        // holds its group's row, then waits for the group stream's head, and a reply holding
        // that head would then wait for the group's row. `counted`, `allowed`: the hourly
        // limit's count (as `ModerationStore.hit`), which every write below waits for.
        return """
        WITH counted AS (
            INSERT INTO rate_counters (account_id, action, window_start, count)
            SELECT \(author), \(RateLimitedAction.post.rawValue), \(window), 1 WHERE \(limit != nil)
            ON CONFLICT (account_id, action, window_start) DO UPDATE SET count = rate_counters.count + 1
            RETURNING count
        ), allowed AS (
            SELECT NOT EXISTS (SELECT 1 FROM counted WHERE count > \(limit?.count ?? 0)) AS ok
        ), locked AS (
            SELECT 1 FROM threads t, groups g, accounts a WHERE t.id = \(thread) AND g.id = \(group) AND a.id = \(author) FOR KEY SHARE
        ), replied AS (
            SELECT 1 FROM posts r WHERE r.id = \(replyTo)::bigint FOR KEY SHARE
        ), p AS (
            INSERT INTO posts (thread_id, group_id, author_id, body, reply_to_id, created_at)
            SELECT \(thread), \(group), \(author), \(body), \(replyTo)::bigint, \(now) WHERE (SELECT ok FROM allowed) RETURNING *
        ), moved AS (
            INSERT INTO thread_activity AS ta (thread_id, last_post_at) SELECT \(thread), \(now) WHERE (SELECT ok FROM allowed)
            ON CONFLICT (thread_id) DO UPDATE SET last_post_at = greatest(ta.last_post_at, excluded.last_post_at)
        ), marked AS (
            INSERT INTO thread_reads (thread_id, account_id, last_read_post_id) SELECT p.thread_id, p.author_id, p.id FROM p
            ON CONFLICT (account_id, thread_id) DO UPDATE
            SET last_read_post_id = greatest(thread_reads.last_read_post_id, excluded.last_read_post_id)
        ), heads AS (
            INSERT INTO stream_heads (stream, last_offset)
            SELECT s, 1 FROM unnest(\(streams)::text[]) WITH ORDINALITY AS u(s, n)
            -- Uncorrelated: evaluated once, before the first head is locked.
            WHERE (SELECT ok FROM allowed) AND EXISTS (SELECT 1 FROM locked) AND (\(replyTo)::bigint IS NULL OR EXISTS (SELECT 1 FROM replied))
            ORDER BY n
            ON CONFLICT (stream) DO UPDATE SET last_offset = stream_heads.last_offset + 1
            RETURNING stream, last_offset
        ), appended AS (
            INSERT INTO events (stream, seq, kind, payload, created_at)
            SELECT h.stream, h.last_offset, \(kind), jsonb_set(\(json)::jsonb, '{id}', to_jsonb(p.id)), \(now) FROM heads h CROSS JOIN p
            RETURNING stream
        )
        SELECT \(unescaped: postColumns)
        FROM p LEFT JOIN accounts a ON a.id = p.author_id
        CROSS JOIN (SELECT count(pg_notify(\(EventStore.channel), stream)) FROM appended) woken
        """
    }

    enum InsertAndPublishReplyStatement: PreparedSQL {
        static let name = "insert_and_publish_reply"
        static let sql = insertAndPublishReplyQuery(thread: 0, group: 0, author: 0, body: "", replyTo: nil, limit: nil, streams: [], kind: "",
                                                    json: "", now: Date(timeIntervalSince1970: 0)).sql
    }

    /// A post became visible at `now` (written, or approved by a moderator): its thread
    /// moves up the list. With a reply's statements (`publishReplyQuery`,
    /// `insertAndPublishReplyQuery`), the only places `last_post_at` moves forward.
    public static func markVisiblePost(in thread: ThreadID, at now: Date, on db: DatabaseConnection) async throws {
        // An upsert: a thread created by an instance older than migration 0027 (during a
        // rolling upgrade) may have no `thread_activity` row yet.
        try await db.query("""
            INSERT INTO thread_activity AS ta (thread_id, last_post_at) VALUES (\(thread), \(now))
            ON CONFLICT (thread_id) DO UPDATE SET last_post_at = greatest(ta.last_post_at, excluded.last_post_at)
            """)
    }

    /// The thread's place in the list from its visible posts only (after a post was held or
    /// hidden: others must not learn of it from the thread moving up).
    public static func recomputeLastPostAt(_ thread: ThreadID, on db: DatabaseConnection) async throws {
        // An upsert, as in `markVisiblePost`.
        try await db.query("""
            INSERT INTO thread_activity AS ta (thread_id, last_post_at)
            SELECT t.id, coalesce((SELECT max(p.created_at) FROM posts p WHERE p.thread_id = t.id AND p.moderation = 'visible'), t.created_at)
            FROM threads t WHERE t.id = \(thread)
            ON CONFLICT (thread_id) DO UPDATE SET last_post_at = excluded.last_post_at
            """)
    }

    static let postColumns = """
        p.id, p.thread_id, p.group_id, p.author_id, a.display_name, p.body, p.reply_to_id, p.created_at, p.edited_at, p.deleted_at,
        coalesce((SELECT jsonb_object_agg(reaction, n)::text FROM (
            SELECT reaction, count(*) AS n FROM post_reactions x WHERE x.post_id = p.id GROUP BY reaction) counts), '{}'),
        p.moderation,
        CASE WHEN p.moderation = 'held' THEN (SELECT i.source FROM moderation_items i WHERE i.post_id = p.id) END,
        CASE WHEN p.has_attachments THEN \(AttachmentStore.jsonColumn(owner: "post_id", id: "p.id")) ELSE '' END
        """
    typealias PostRow = (PostID, ThreadID, GroupID, AccountID?, String?, String?, PostID?, Date, Date?, Date?, String, String, String?, String)

    static func post(_ row: PostRow) -> PostRecord {
        // Built by PostgreSQL's jsonb_object_agg from the reactions table: always an object
        // of counts.
        // Most posts have none: no decoder for "{}" (a page of 50 spent 7 % of its CPU there).
        let reactions = row.10 == "{}" ? [:] : (try? JSONDecoder().decode([String: Int].self, from: Data(row.10.utf8))) ?? [:]
        return PostRecord(id: row.0, threadID: row.1, groupID: row.2, authorID: row.3, authorName: row.4, body: row.5, replyToID: row.6,
                          createdAt: row.7, editedAt: row.8, deletedAt: row.9, reactions: reactions,
                          moderation: PostModeration(rawValue: row.11) ?? .visible, heldBecause: row.12,
                          attachments: AttachmentStore.decodeColumn(row.13))
    }

    public static func findPost(_ id: PostID, on db: DatabaseConnection) async throws -> PostRecord? {
        for row in try await db.query(postQuery(id), preparedAs: PostStatement.self) {
            return post(try row.decode(PostRow.self))
        }
        return nil
    }

    static func postQuery(_ id: PostID) -> PostgresQuery {
        "SELECT \(unescaped: postColumns) FROM posts p LEFT JOIN accounts a ON a.id = p.author_id WHERE p.id = \(id)"
    }

    /// One post (every edit, moderation decision and reply target reads one): planned once per
    /// connection.
    enum PostStatement: PreparedSQL {
        static let name = "post"
        static let sql = postQuery(0).sql
    }

    /// Posts of a thread, newest first, keyset-paged by id: ids only grow, so a page never
    /// shifts when others post meanwhile.
    ///
    /// Posts moderation hid or holds for approval are shown only to their author and to
    /// moderators; posts it removed only to moderators (as empty placeholders).
    public static func posts(
        thread: ThreadID, before: PostID?, limit: Int, viewer: AccountID?, moderator: Bool, on db: DatabaseConnection
    ) async throws -> [PostRecord] {
        var posts: [PostRecord] = []
        for row in try await db.query(postsQuery(thread: thread, before: before, limit: limit, viewer: viewer, moderator: moderator),
                                      preparedAs: PostsPageStatement.self) {
            posts.append(post(try row.decode(PostRow.self)))
        }
        return posts
    }

    static func postsQuery(thread: ThreadID, before: PostID?, limit: Int, viewer: AccountID?, moderator: Bool) -> PostgresQuery {
        """
        SELECT \(unescaped: postColumns) FROM posts p LEFT JOIN accounts a ON a.id = p.author_id
        -- One range, the cursor or the top: a plan PostgreSQL caches for the prepared statement
        -- (made once, for any cursor) still reads the thread's index from the cursor down.
        WHERE p.thread_id = \(thread) AND p.id < coalesce(\(before)::bigint, 9223372036854775807)
          AND (p.moderation = 'visible' OR \(moderator)::boolean OR (p.moderation IN ('hidden', 'held') AND p.author_id = \(viewer)::bigint))
        ORDER BY p.id DESC LIMIT \(limit)::bigint
        """
    }

    /// A page of a thread's posts, the most read statement: planned once per connection.
    enum PostsPageStatement: PreparedSQL {
        static let name = "thread_posts_page"
        static let sql = postsQuery(thread: 0, before: nil, limit: 0, viewer: nil, moderator: false).sql
    }

    /// Replaces a post's text, keeping the old one in the edit history.
    public static func edit(post: PostID, body: String, by editor: AccountID, now: Date, on db: DatabaseConnection) async throws {
        try await db.query("""
            INSERT INTO post_edits (post_id, body, edited_at, edited_by)
            SELECT id, body, \(now), \(editor) FROM posts WHERE id = \(post) AND body IS NOT NULL
            """)
        try await db.query("UPDATE posts SET body = \(body), edited_at = \(now) WHERE id = \(post)")
    }

    public static func edits(post: PostID, on db: DatabaseConnection) async throws -> [(body: String, editedAt: Date)] {
        var edits: [(String, Date)] = []
        for try await row in try await db.query(
            "SELECT body, edited_at FROM post_edits WHERE post_id = \(post) ORDER BY id"
        ).decode((String, Date).self) {
            edits.append(row)
        }
        return edits.map { (body: $0.0, editedAt: $0.1) }
    }

    /// Soft delete: the row stays (replies and pages keep their shape), the text and its
    /// history go.
    public static func delete(post: PostID, now: Date, on db: DatabaseConnection) async throws {
        try await db.query("UPDATE posts SET body = NULL, deleted_at = \(now) WHERE id = \(post) AND deleted_at IS NULL")
        try await db.query("DELETE FROM post_edits WHERE post_id = \(post)")
        try await db.query("DELETE FROM post_reactions WHERE post_id = \(post)")
    }

    // MARK: - Reactions and read state

    /// Returns whether anything changed.
    public static func setReaction(
        post: PostID, account: AccountID, reaction: Reaction, on: Bool, now: Date, on db: DatabaseConnection
    ) async throws -> Bool {
        let rows: PostgresRowSequence
        if on {
            rows = try await db.query("""
                INSERT INTO post_reactions (post_id, account_id, reaction, created_at) VALUES (\(post), \(account), \(reaction.rawValue), \(now))
                ON CONFLICT DO NOTHING RETURNING post_id
                """)
        } else {
            rows = try await db.query("""
                DELETE FROM post_reactions WHERE post_id = \(post) AND account_id = \(account) AND reaction = \(reaction.rawValue)
                RETURNING post_id
                """)
        }
        for try await _ in rows.decode(PostID.self) { return true }
        return false
    }

    /// Moves the read marker forward (never back) to `post`, which must be a post of this
    /// thread (a far-off id, 0 or another thread's post would mark every later post read).
    /// False when it is not.
    @discardableResult
    public static func markRead(thread: ThreadID, account: AccountID, upTo post: PostID, on db: DatabaseConnection) async throws -> Bool {
        for try await _ in try await db.query("""
            INSERT INTO thread_reads (thread_id, account_id, last_read_post_id)
            SELECT \(thread), \(account), p.id FROM posts p WHERE p.id = \(post) AND p.thread_id = \(thread)
            ON CONFLICT (account_id, thread_id) DO UPDATE
            SET last_read_post_id = greatest(thread_reads.last_read_post_id, excluded.last_read_post_id)
            RETURNING thread_id
            """).decode(ThreadID.self) {
            return true
        }
        return false
    }

    // MARK: - Search

    /// Posts of a group containing `text` (case-insensitive substring; works for Japanese),
    /// newest first, keyset-paged by id.
    public static func search(
        group: GroupID, text: String, before: PostID?, limit: Int, on db: DatabaseConnection
    ) async throws -> [PostRecord] {
        var posts: [PostRecord] = []
        for try await row in try await db.query(searchQuery(group: group, text: text, before: before, limit: limit)).decode(PostRow.self) {
            posts.append(post(row))
        }
        return posts
    }

    /// The search's statement (a test reads its plan). The text is folded (NFKC, lower case)
    /// by PostgreSQL, as the index's expression folds the posts, and only then escaped: NFKC
    /// turns a full-width ％ into a % that must not act as a wildcard. The planner folds the
    /// pattern from the bound text and reads its trigrams, so the trigram index serves it.
    public static func searchQuery(group: GroupID, text: String, before: PostID?, limit: Int) -> PostgresQuery {
        """
            SELECT \(unescaped: postColumns) FROM posts p LEFT JOIN accounts a ON a.id = p.author_id
            WHERE p.group_id = \(group) AND p.deleted_at IS NULL AND p.moderation = 'visible'
              AND lower(normalize(p.body, NFKC)) LIKE '%' || replace(replace(replace(lower(normalize(\(text)::text, NFKC)),
                    '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'
              AND (\(before)::bigint IS NULL OR p.id < \(before))
            ORDER BY p.id DESC LIMIT \(limit)
            """
    }
}
