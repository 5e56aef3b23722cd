import Foundation
import KairanCore
import Logging
import PostgresNIO

public struct ModerationSettings: Sendable, Equatable, Codable {
    /// A queue item whose score reaches this hides its post pending review.
    public var autoHideScore: Double
    /// Accounts younger than this many days are new.
    public var newAccountDays: Int
    /// The sandbox: a new account's posts per hour, and links per post.
    public var newAccountPostsPerHour: Int
    public var newAccountMaxLinks: Int

    public init(autoHideScore: Double, newAccountDays: Int, newAccountPostsPerHour: Int = 5, newAccountMaxLinks: Int = 2) {
        self.autoHideScore = autoHideScore
        self.newAccountDays = newAccountDays
        self.newAccountPostsPerHour = newAccountPostsPerHour
        self.newAccountMaxLinks = newAccountMaxLinks
    }
}

public struct ModerationItemRecord: Sendable, Equatable {
    public let id: ModerationItemID
    public let postID: PostID
    public let threadID: ThreadID
    public let groupID: GroupID
    public let groupName: String
    public let authorID: AccountID?
    public let postBody: String
    public let postModeration: PostModeration
    public let state: ModerationItemState
    public let score: Double
    public let autoHidden: Bool
    /// Escalated, appealed or decided by the town's moderators: only they act on it now.
    public let townHandled: Bool
    /// False when its author had deleted the post before moderation removed it.
    public let restorable: Bool
    /// Flags per reason.
    public let reasons: [String: Int]
    public let createdAt: Date
    public let updatedAt: Date
    public let decidedAt: Date?
}

public struct FlagRecord: Sendable, Equatable {
    public let accountID: AccountID
    public let displayName: String
    public let reason: FlagReason
    public let note: String
    public let weight: Double
    public let createdAt: Date
}

/// Flags, the queue, suspensions and the log.
public enum ModerationStore {
    /// One flag as its reporter sees it.
    public struct ReporterFlag: Sendable {
        public let id: Int64
        public let postID: PostID
        public let threadID: ThreadID
        public let groupID: GroupID
        public let reason: String
        public let at: Date
        public let state: String
        /// The start of the post as it was flagged (the reporter saw it then).
        public let excerpt: String
    }

    /// The flags an account raised, newest first (keyset on the flag's id), with their
    /// item's state.
    public static func flags(
        by account: AccountID, before: Int64?, limit: Int, on db: DatabaseConnection
    ) async throws -> [ReporterFlag] {
        var rows: [ReporterFlag] = []
        for try await (id, post, thread, group, reason, at, state, excerpt) in try await db.query("""
            SELECT f.id, f.post_id, p.thread_id, i.group_id, f.reason, f.created_at, i.state, left(i.post_body, 50)
            FROM moderation_flags f JOIN moderation_items i ON i.id = f.item_id JOIN posts p ON p.id = f.post_id
            WHERE f.account_id = \(account) AND (\(before)::bigint IS NULL OR f.id < \(before))
            ORDER BY f.id DESC LIMIT \(limit)
            """).decode((Int64, Int64, Int64, Int64, String, Date, String, String).self) {
            rows.append(ReporterFlag(id: id, postID: post, threadID: thread, groupID: group, reason: reason, at: at, state: state, excerpt: excerpt))
        }
        return rows
    }

    public static func settings(on db: DatabaseConnection) async throws -> ModerationSettings {
        try await sandbox(account: nil, now: .distantPast, on: db).0
    }

    /// Locks the settings row until the transaction ends: two administrators changing
    /// different fields at once each keep the other's change.
    public static func lockSettings(on db: DatabaseConnection) async throws {
        try await db.query("SELECT 1 FROM moderation_settings FOR UPDATE")
    }

    public static func update(_ settings: ModerationSettings, on db: DatabaseConnection) async throws {
        try await db.query("""
            UPDATE moderation_settings SET auto_hide_score = \(settings.autoHideScore)::numeric, new_account_days = \(settings.newAccountDays)::int,
                new_account_posts_per_hour = \(settings.newAccountPostsPerHour)::int, new_account_max_links = \(settings.newAccountMaxLinks)::int
            """)
    }

    /// Whether the account is new, and how its past flags were judged.
    public static func flaggerHistory(
        account: AccountID, settings: ModerationSettings, now: Date, on db: DatabaseConnection
    ) async throws -> (isNew: Bool, upheld: Int, rejected: Int) {
        for try await (createdAt, upheld, rejected) in try await db.query("""
            SELECT a.created_at,
                   (SELECT count(*)::int FROM moderation_flags f JOIN moderation_items i ON i.id = f.item_id
                    WHERE f.account_id = a.id AND i.state = 'removed'),
                   (SELECT count(*)::int FROM moderation_flags f JOIN moderation_items i ON i.id = f.item_id
                    WHERE f.account_id = a.id AND i.state IN ('kept', 'ignored'))
            FROM accounts a WHERE a.id = \(account)
            """).decode((Date, Int, Int).self) {
            let isNew = now.timeIntervalSince(createdAt) < Double(settings.newAccountDays) * 86400
            return (isNew, upheld, rejected)
        }
        return (true, 0, 0)
    }

    /// Opens the post's queue item, or finds and locks the open one. Returns its id, state
    /// and whether this call created it.
    public static func openItem(
        post: PostRecord, body: String, source: String = "flags", now: Date, on db: DatabaseConnection
    ) async throws -> (ModerationItemID, ModerationItemState, Bool) {
        // The upsert takes the item's row lock: flags on one post are counted one after
        // another, so two at once cannot both cross the threshold.
        for try await (id, state, created) in try await db.query("""
            INSERT INTO moderation_items (post_id, group_id, author_id, post_body, source, created_at, updated_at)
            VALUES (\(post.id), \(post.groupID), \(post.authorID), \(body), \(source), \(now), \(now))
            ON CONFLICT (post_id) DO UPDATE SET updated_at = excluded.updated_at,
                post_body = CASE WHEN moderation_items.state IN ('pending', 'escalated') THEN excluded.post_body ELSE moderation_items.post_body END
            RETURNING id, state, xmax = 0
            """).decode((Int64, String, Bool).self) {
            return (id, ModerationItemState(rawValue: state) ?? .pending, created)
        }
        preconditionFailure("INSERT … ON CONFLICT DO UPDATE returns a row")
    }

    /// Records one flag and adds its weight. Nil when this account already flagged the post;
    /// else the item's new score.
    public static func addFlag(
        item: ModerationItemID, post: PostID, account: AccountID, reason: FlagReason, note: String, weight: Double, now: Date,
        on db: DatabaseConnection
    ) async throws -> Double? {
        var inserted = false
        for try await _ in try await db.query("""
            INSERT INTO moderation_flags (item_id, post_id, account_id, reason, note, weight, created_at)
            VALUES (\(item), \(post), \(account), \(reason.rawValue), \(note), \(weight)::numeric, \(now))
            ON CONFLICT (post_id, account_id) DO NOTHING RETURNING 1
            """).decode(Int.self) {
            inserted = true
        }
        guard inserted else { return nil }
        for try await score in try await db.query("""
            UPDATE moderation_items SET score = score + \(weight)::numeric WHERE id = \(item) RETURNING score::float8
            """).decode(Double.self) {
            return score
        }
        return nil
    }

    /// Marks the item auto-hidden; false when it already was (nothing more to do).
    public static func setAutoHidden(item: ModerationItemID, on db: DatabaseConnection) async throws -> Bool {
        for try await _ in try await db.query(
            "UPDATE moderation_items SET auto_hidden = true WHERE id = \(item) AND NOT auto_hidden RETURNING 1"
        ).decode(Int.self) {
            return true
        }
        return false
    }

    public static func setTownHandled(_ item: ModerationItemID, on db: DatabaseConnection) async throws {
        try await db.query("UPDATE moderation_items SET town_handled = true WHERE id = \(item)")
    }

    public static func setRestorable(_ item: ModerationItemID, _ restorable: Bool, on db: DatabaseConnection) async throws {
        try await db.query("UPDATE moderation_items SET restorable = \(restorable) WHERE id = \(item)")
    }

    /// The author edited a post with a queue item: moderators judge the new text, and an item
    /// they had kept or ignored is open again (the edit may be what is wrong now).
    public static func postEdited(_ post: PostID, body: String, now: Date, on db: DatabaseConnection) async throws -> ModerationItemID? {
        for try await id in try await db.query("""
            UPDATE moderation_items SET post_body = \(body), updated_at = \(now),
                state = CASE WHEN state IN ('kept', 'ignored') THEN 'pending' ELSE state END,
                score = CASE WHEN state IN ('kept', 'ignored') THEN 0 ELSE score END,
                auto_hidden = CASE WHEN state IN ('kept', 'ignored') THEN false ELSE auto_hidden END
            WHERE post_id = \(post) AND state <> 'removed'
            RETURNING id
            """).decode(Int64.self) {
            return id
        }
        return nil
    }

    static let itemSelect = """
        SELECT i.id, i.post_id, p.thread_id, i.group_id, g.name, i.author_id, i.post_body, p.moderation, i.state, i.score::float8, i.auto_hidden,
               i.town_handled, i.restorable,
               coalesce((SELECT jsonb_object_agg(reason, n)::text FROM (
                   SELECT reason, count(*) AS n FROM moderation_flags f WHERE f.item_id = i.id GROUP BY reason) r), '{}'),
               i.created_at, i.updated_at, i.decided_at
        FROM moderation_items i JOIN posts p ON p.id = i.post_id JOIN groups g ON g.id = i.group_id
        """
    typealias ItemRow = (Int64, Int64, Int64, Int64, String, Int64?, String, String, String, Double, Bool, Bool, Bool, String, Date, Date, Date?)

    static func item(_ r: ItemRow) -> ModerationItemRecord {
        // Built by PostgreSQL's jsonb_object_agg over the flags: always an object of counts.
        let reasons = (try? JSONDecoder().decode([String: Int].self, from: Data(r.13.utf8))) ?? [:]
        return ModerationItemRecord(
            id: r.0, postID: r.1, threadID: r.2, groupID: r.3, groupName: r.4, authorID: r.5, postBody: r.6,
            postModeration: PostModeration(rawValue: r.7) ?? .visible, state: ModerationItemState(rawValue: r.8) ?? .pending, score: r.9,
            autoHidden: r.10, townHandled: r.11, restorable: r.12, reasons: reasons, createdAt: r.14, updatedAt: r.15, decidedAt: r.16)
    }

    public static func item(_ id: ModerationItemID, lock: Bool = false, on db: DatabaseConnection) async throws -> ModerationItemRecord? {
        let query = ("\(unescaped: itemSelect) WHERE i.id = \(id)\(unescaped: (lock ? " FOR UPDATE OF i" : ""))" as PostgresQuery)
        for try await row in try await db.query(query).decode(ItemRow.self) { return item(row) }
        return nil
    }

    /// A page of the queue, newest first. `groups` limits it to the groups a moderator
    /// moderates (nil: every group, for the town's moderators).
    public static func items(
        groups: [GroupID]?, state: ModerationItemState?, reason: FlagReason?, group: GroupID?, before: ModerationItemID?, limit: Int,
        excludingAuthor: AccountID? = nil, on db: DatabaseConnection
    ) async throws -> [ModerationItemRecord] {
        let query = ("""
            \(unescaped: itemSelect)
             WHERE (\(groups)::bigint[] IS NULL OR i.group_id = ANY(\(groups)::bigint[])) AND (\(state?.rawValue)::text IS NULL OR i.state = \(state?.rawValue))
               AND (\(reason?.rawValue)::text IS NULL OR EXISTS (SELECT 1 FROM moderation_flags f WHERE f.item_id = i.id AND f.reason = \(reason?.rawValue)))
               AND (\(group)::bigint IS NULL OR i.group_id = \(group)) AND (\(before)::bigint IS NULL OR i.id < \(before))
               AND (\(excludingAuthor)::bigint IS NULL OR i.author_id IS DISTINCT FROM \(excludingAuthor))
            ORDER BY i.id DESC LIMIT \(limit)
            """ as PostgresQuery)
        var result: [ModerationItemRecord] = []
        for try await row in try await db.query(query).decode(ItemRow.self) { result.append(item(row)) }
        return result
    }

    public static func flags(item: ModerationItemID, on db: DatabaseConnection) async throws -> [FlagRecord] {
        var result: [FlagRecord] = []
        for try await (account, name, reason, note, weight, at) in try await db.query("""
            SELECT f.account_id, a.display_name, f.reason, f.note, f.weight::float8, f.created_at
            FROM moderation_flags f JOIN accounts a ON a.id = f.account_id WHERE f.item_id = \(item) ORDER BY f.id
            """).decode((Int64, String, String, String, Double, Date).self) {
            result.append(FlagRecord(accountID: account, displayName: name, reason: FlagReason(rawValue: reason) ?? .other, note: note,
                                     weight: weight, createdAt: at))
        }
        return result
    }

    /// The groups an account moderates (owner or moderator, not banned).
    public static func moderatedGroups(account: AccountID, on db: DatabaseConnection) async throws -> [GroupID] {
        var result: [GroupID] = []
        for try await id in try await db.query("""
            SELECT m.group_id FROM group_members m
            WHERE m.account_id = \(account) AND m.role IN ('owner', 'moderator')
              AND NOT EXISTS (SELECT 1 FROM group_bans b WHERE b.group_id = m.group_id AND b.account_id = m.account_id)
            """).decode(Int64.self) {
            result.append(id)
        }
        return result
    }

    /// Who is told live when an item enters a queue: the group's moderators (unless
    /// `townOnly`) and the town's moderators and admins.
    public static func moderators(ofGroup group: GroupID, townOnly: Bool, on db: DatabaseConnection) async throws -> [AccountID] {
        var result: [AccountID] = []
        for try await id in try await db.query("""
            SELECT account_id FROM group_members WHERE group_id = \(group) AND role IN ('owner', 'moderator') AND NOT \(townOnly)
            UNION
            SELECT account_id FROM account_roles WHERE role IN ('town_moderator', 'town_admin')
            """).decode(Int64.self) {
            result.append(id)
        }
        return result
    }

    public static func setState(_ item: ModerationItemID, _ state: ModerationItemState, decided: Bool, now: Date, on db: DatabaseConnection) async throws {
        try await db.query("""
            UPDATE moderation_items SET state = \(state.rawValue), updated_at = \(now),
                decided_at = CASE WHEN \(decided) THEN \(now) ELSE decided_at END
            WHERE id = \(item)
            """)
    }

    /// The accounts that flagged the item (each is told the outcome).
    public static func reporters(item: ModerationItemID, on db: DatabaseConnection) async throws -> [AccountID] {
        var result: [AccountID] = []
        for try await id in try await db.query("SELECT account_id FROM moderation_flags WHERE item_id = \(item)").decode(Int64.self) {
            result.append(id)
        }
        return result
    }

    static func sandboxQuery(account: AccountID?) -> PostgresQuery {
        """
        SELECT s.auto_hide_score::float8, s.new_account_days, s.new_account_posts_per_hour, s.new_account_max_links, a.created_at
        FROM moderation_settings s LEFT JOIN accounts a ON a.id = \(account)::bigint
        """
    }

    /// Every post's gate reads it: planned once per connection.
    enum SandboxStatement: PreparedSQL {
        static let name = "moderation_sandbox"
        static let sql = sandboxQuery(account: nil).sql
    }

    /// The settings, and whether the account is still new (the sandbox applies), in one query.
    public static func sandbox(account: AccountID?, now: Date, on db: DatabaseConnection) async throws -> (ModerationSettings, isNew: Bool) {
        for row in try await db.query(sandboxQuery(account: account), preparedAs: SandboxStatement.self) {
            let (score, days, posts, links, createdAt) = try row.decode((Double, Int32, Int32, Int32, Date?).self)
            let settings = ModerationSettings(autoHideScore: score, newAccountDays: Int(days), newAccountPostsPerHour: Int(posts), newAccountMaxLinks: Int(links))
            let isNew = createdAt.map { now.timeIntervalSince($0) < Double(days) * 86400 } ?? true
            return (settings, isNew)
        }
        preconditionFailure("migration 0009 inserts the settings row")
    }

    /// Counts one use of a rate-limited action in a fixed window shared by every instance.
    /// Returns the seconds until the window ends when the limit is already used up (the use
    /// is then not counted: the caller refuses it and its transaction rolls back).
    public static func hit(
        _ action: RateLimitedAction, account: AccountID, limit: RateLimit, now: Date, on db: DatabaseConnection
    ) async throws -> Int? {
        let window = window(of: limit, at: now)
        for try await count in try await db.query("""
            INSERT INTO rate_counters (account_id, action, window_start, count) VALUES (\(account), \(action.rawValue), \(window.start), 1)
            ON CONFLICT (account_id, action, window_start) DO UPDATE SET count = rate_counters.count + 1
            RETURNING count
            """).decode(Int32.self) where Int(count) > limit.count {
            return window.retryAfter
        }
        return nil
    }

    /// The window a use of `limit` at `now` is counted in (its row in `rate_counters`), and
    /// the seconds until it ends (at least 1): the Retry-After of a use refused in it.
    public static func window(of limit: RateLimit, at now: Date) -> (start: Date, retryAfter: Int) {
        let start = Date(timeIntervalSince1970: (now.timeIntervalSince1970 / limit.window).rounded(.down) * limit.window)
        return (start, max(1, Int(start.addingTimeInterval(limit.window).timeIntervalSince(now).rounded(.up))))
    }

    public static func deleteRateCounters(before cutoff: Date, on db: DatabaseConnection) async throws {
        try await db.query("DELETE FROM rate_counters WHERE window_start < \(cutoff)")
    }

    // MARK: - Watched words

    public static let maxWatchedWords = 10000

    public static func watchedWordCount(on db: DatabaseConnection) async throws -> Int {
        for try await count in try await db.query("SELECT count(*)::int FROM watched_words").decode(Int.self) {
            return count
        }
        return 0
    }

    public static func watchedWords(on db: DatabaseConnection) async throws -> [WatchedWord] {
        var result: [WatchedWord] = []
        for try await (id, pattern, normalized, action, foldsKana) in try await db.query(
            "SELECT id, pattern, normalized, action, fold_kana FROM watched_words ORDER BY id LIMIT \(maxWatchedWords)"
        ).decode((Int64, String, String, String, Bool).self) {
            result.append(WatchedWord(id: id, pattern: pattern, normalized: normalized, action: WatchedWordAction(rawValue: action) ?? .flag, foldsKana: foldsKana))
        }
        return result
    }

    /// Adds a word or changes its action and folding (the same normalized form is one word).
    @discardableResult
    public static func upsertWatchedWord(
        pattern: String, action: WatchedWordAction, foldingKana: Bool, by account: AccountID, now: Date,
        on db: DatabaseConnection
    ) async throws -> WatchedWord {
        let normalized = WatchedWords.normalize(pattern, foldingKana: foldingKana)
        for try await id in try await db.query("""
            INSERT INTO watched_words (pattern, normalized, action, fold_kana, created_by, created_at)
            VALUES (\(pattern), \(normalized), \(action.rawValue), \(foldingKana), \(account), \(now))
            ON CONFLICT (normalized) DO UPDATE SET pattern = excluded.pattern, action = excluded.action, fold_kana = excluded.fold_kana
            RETURNING id
            """).decode(Int64.self) {
            return WatchedWord(id: id, pattern: pattern, normalized: normalized, action: action, foldsKana: foldingKana)
        }
        preconditionFailure("upsert returns a row")
    }

    public static func deleteWatchedWord(_ id: Int64, on db: DatabaseConnection) async throws -> WatchedWord? {
        for try await (id, pattern, normalized, action, foldsKana) in try await db.query(
            "DELETE FROM watched_words WHERE id = \(id) RETURNING id, pattern, normalized, action, fold_kana"
        ).decode((Int64, String, String, String, Bool).self) {
            return WatchedWord(id: id, pattern: pattern, normalized: normalized, action: WatchedWordAction(rawValue: action) ?? .flag, foldsKana: foldsKana)
        }
        return nil
    }

    // MARK: - Suspensions

    public static func suspend(
        account: AccountID, group: GroupID?, until: Date, reason: String, by moderator: AccountID, now: Date,
        on db: DatabaseConnection
    ) async throws {
        try await db.query("""
            INSERT INTO suspensions (account_id, group_id, until, reason, created_by, created_at)
            VALUES (\(account), \(group), \(until), \(reason), \(moderator), \(now))
            """)
    }

    // MARK: - The post gate's reading

    /// What the post gate reads before a post or an edit is written, in one statement
    /// planned once per connection (it was four round trips of a reply's eleven).
    public struct GateReading: Sendable {
        /// The end of the longest suspension in force for posting in the group (the group's
        /// own or the town's), if any.
        public let suspendedUntil: Date?
        public let settings: ModerationSettings
        /// The account is still new: the sandbox applies.
        public let isNew: Bool
        /// The strongest watched word in the text (block, then hold, then flag).
        public let watchedWord: WatchedWord?
        /// The group holds new accounts' posts for approval.
        public let groupApprovesNewAccounts: Bool
        /// The poster's display name, for the event of a reply written in one statement
        /// (`ThreadStore.insertAndPublishReply`).
        public let posterName: String?
    }

    /// `text` is already normalized. `*` in a watched word stands for any run of characters:
    /// the word becomes a LIKE pattern with LIKE's own wildcards and escape character escaped
    /// first.
    public static func gateReading(account: AccountID, group: GroupID, text: WatchedWords.Text, now: Date,
                                   on db: DatabaseConnection) async throws -> GateReading {
        for row in try await db.query(gateQuery(account: account, group: group, plain: text.plain, kanaFolded: text.kanaFolded, now: now),
                                      preparedAs: GateStatement.self) {
            return gateReading(try row.decode(GateRow.self), now: now)
        }
        preconditionFailure("migration 0009 inserts the settings row")
    }

    typealias GateRow = (Date?, Double, Int32, Int32, Int32, Date?, Int64?, String?, String?, String?, Bool?, Bool?, String?)

    static func gateReading(_ row: GateRow, now: Date) -> GateReading {
        let (until, score, days, posts, links, createdAt, wordID, pattern, normalized, action, foldsKana, approves, name) = row
        let settings = ModerationSettings(autoHideScore: score, newAccountDays: Int(days), newAccountPostsPerHour: Int(posts),
                                          newAccountMaxLinks: Int(links))
        var word: WatchedWord?
        if let wordID, let pattern, let normalized, let action, let foldsKana {
            word = WatchedWord(id: wordID, pattern: pattern, normalized: normalized, action: WatchedWordAction(rawValue: action) ?? .flag,
                               foldsKana: foldsKana)
        }
        return GateReading(suspendedUntil: until, settings: settings,
                           isNew: createdAt.map { now.timeIntervalSince($0) < Double(days) * 86400 } ?? true,
                           watchedWord: word, groupApprovesNewAccounts: approves ?? false, posterName: name)
    }

    /// The gate's SQL, its arguments SQL expressions (placeholders, or a column of the
    /// statement around it: `ThreadStore.threadWithStandingAndGate` reads it with the thread's
    /// access check). Only these literals and placeholders go in; every value is bound.
    static func gateSQL(account: String, group: String, plain: String, kanaFolded: String, now: String) -> String {
        """
        SELECT (SELECT max(until) FROM suspensions
                WHERE account_id = \(account) AND until > \(now) AND (group_id IS NULL OR group_id = \(group))),
               s.auto_hide_score::float8, s.new_account_days, s.new_account_posts_per_hour, s.new_account_max_links, a.created_at,
               w.id, w.pattern, w.normalized, w.action, w.fold_kana,
               (SELECT approve_new_accounts FROM groups WHERE id = \(group)), a.display_name
        FROM moderation_settings s LEFT JOIN accounts a ON a.id = \(account)
        LEFT JOIN LATERAL (
            SELECT id, pattern, normalized, action, fold_kana FROM watched_words
            WHERE (CASE WHEN fold_kana THEN \(kanaFolded) ELSE \(plain) END)
                  LIKE '%' || replace(replace(replace(replace(normalized, '\\', '\\\\'), '%', '\\%'), '_', '\\_'), '*', '%') || '%'
            ORDER BY CASE action WHEN 'block' THEN 3 WHEN 'hold' THEN 2 ELSE 1 END DESC, id
            LIMIT 1
        ) w ON true
        """
    }

    static func gateQuery(account: AccountID, group: GroupID, plain: String, kanaFolded: String, now: Date) -> PostgresQuery {
        var binds = PostgresBindings(capacity: 5)
        binds.append(account)
        binds.append(now)
        binds.append(group)
        binds.append(kanaFolded)
        binds.append(plain)
        return PostgresQuery(unsafeSQL: gateSQL(account: "$1", group: "$3", plain: "$5", kanaFolded: "$4", now: "$2"), binds: binds)
    }

    /// Every post and edit asks it: planned once per connection.
    enum GateStatement: PreparedSQL {
        static let name = "post_gate"
        static let sql = gateQuery(account: 0, group: 0, plain: "", kanaFolded: "", now: Date(timeIntervalSince1970: 0)).sql
    }

    // MARK: - The log

    public struct LogEntry: Sendable, Equatable, Codable {
        public let id: Int64
        public let itemId: ModerationItemID?
        public let postId: PostID?
        public let groupId: GroupID?
        /// Nil: the system (an automatic hide).
        public let actorId: AccountID?
        public let action: String
        public let reason: String
        public let subjectId: AccountID?
        public let detail: String
        public let at: Date
    }

    public static func log(
        _ action: String, item: ModerationItemID?, post: PostID?, group: GroupID?, actor: AccountID?, reason: String,
        subject: AccountID? = nil, detail: String = "", now: Date, on db: DatabaseConnection
    ) async throws {
        try await db.query("""
            INSERT INTO moderation_log (item_id, post_id, group_id, actor_id, action, reason, subject_id, detail, at)
            VALUES (\(item), \(post), \(group), \(actor), \(action), \(reason), \(subject), \(detail), \(now))
            """)
    }

    public static func logEntries(item: ModerationItemID? = nil, before: Int64?, limit: Int, on db: DatabaseConnection) async throws -> [LogEntry] {
        var result: [LogEntry] = []
        for try await r in try await db.query("""
            SELECT id, item_id, post_id, group_id, actor_id, action, reason, subject_id, detail, at FROM moderation_log
            WHERE (\(item)::bigint IS NULL OR item_id = \(item)) AND (\(before)::bigint IS NULL OR id < \(before))
            ORDER BY id DESC LIMIT \(limit)
            """).decode((Int64, Int64?, Int64?, Int64?, Int64?, String, String, Int64?, String, Date).self) {
            result.append(LogEntry(id: r.0, itemId: r.1, postId: r.2, groupId: r.3, actorId: r.4, action: r.5, reason: r.6, subjectId: r.7,
                                   detail: r.8, at: r.9))
        }
        return result
    }
}
