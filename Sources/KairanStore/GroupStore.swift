import Foundation
import KairanCore
import Logging
import PostgresNIO

public struct GroupRecord: Sendable, Equatable {
    public let id: GroupID
    public var kind: GroupKind
    public var name: String
    public var description: String
    public var area: String?
    public var visibility: GroupVisibility
    public var joinPolicy: JoinPolicy
    public let createdAt: Date
    /// New accounts' posts wait for a moderator's approval (the sandbox).
    public var approveNewAccounts: Bool = false
}

/// A group as one account sees it in a list.
public struct GroupListing: Sendable {
    public let group: GroupRecord
    public let role: GroupRole?
    public let memberCount: Int
    /// Posts not yet read, when a member; 0 otherwise.
    public let unreadCount: Int
}

public struct MemberRecord: Sendable, Equatable {
    public let accountID: AccountID
    public let displayName: String
    public let role: GroupRole
    public let joinedAt: Date
}

public struct JoinRequestRecord: Sendable, Equatable {
    public let accountID: AccountID
    public let displayName: String
    public let state: String
    public let message: String
    public let createdAt: Date
}

/// SQL for groups and their membership.
public enum GroupStore {
    static let groupColumns = "g.id, g.kind, g.name, g.description, g.area, g.visibility, g.join_policy, g.created_at, g.approve_new_accounts"
    typealias GroupRow = (GroupID, String, String, String, String?, String, String, Date, Bool)

    static func record(_ row: GroupRow) -> GroupRecord {
        GroupRecord(id: row.0, kind: GroupKind(rawValue: row.1) ?? .community, name: row.2, description: row.3, area: row.4,
                    visibility: GroupVisibility(rawValue: row.5) ?? .private, joinPolicy: JoinPolicy(rawValue: row.6) ?? .invite,
                    createdAt: row.7, approveNewAccounts: row.8)
    }

    /// Creates the group with its creator as owner.
    public static func insert(
        kind: GroupKind, name: String, description: String, area: String?, visibility: GroupVisibility, joinPolicy: JoinPolicy,
        creator: AccountID, now: Date, on db: DatabaseConnection
    ) async throws -> GroupRecord {
        var id: GroupID = 0
        for try await value in try await db.query("""
            INSERT INTO groups (kind, name, description, area, visibility, join_policy, created_by, created_at)
            VALUES (\(kind.rawValue), \(name), \(description), \(area), \(visibility.rawValue), \(joinPolicy.rawValue), \(creator), \(now))
            RETURNING id
            """).decode(GroupID.self) {
            id = value
        }
        try await addMember(group: id, account: creator, role: .owner, now: now, on: db)
        return GroupRecord(id: id, kind: kind, name: name, description: description, area: area, visibility: visibility,
                           joinPolicy: joinPolicy, createdAt: now)
    }

    /// The group and where `account` stands in it, in one query. `lock` takes the group
    /// row's lock, for membership changes that must not race (the last owner leaving).
    public static func standing(
        group id: GroupID, account: AccountID, now: Date, lock: Bool = false, on db: DatabaseConnection
    ) async throws -> (GroupRecord, GroupStanding)? {
        let query = standingQuery(group: id, account: account, now: now, lock: lock)
        // Without the lock (every read of a group, a member's standing, a moderation decision):
        // planned once per connection.
        let rows = lock ? try await Array(db.query(query).collect()) : try await db.query(query, preparedAs: StandingStatement.self)
        for row in rows {
            return standing(try row.decode((GroupID, String, String, String, String?, String, String, Date, Bool, String?, Bool, Bool).self))
        }
        return nil
    }

    static func standingQuery(group id: GroupID, account: AccountID, now: Date, lock: Bool) -> PostgresQuery {
        standingQuery(of: .group(id), account: account, now: now, lock: lock)
    }

    /// What the caller's standing is read with: a group, or a thread with its group.
    enum StandingTarget {
        case group(GroupID)
        /// The thread's columns without counts first, and last whether it has a visible post.
        case thread(ThreadID)
    }

    static func standingQuery(of target: StandingTarget, account: AccountID, now: Date, lock: Bool) -> PostgresQuery {
        let (id, threadColumns, visiblePost, from): (Int64, String, String, String)
        switch target {
        case .group(let group):
            (id, threadColumns, visiblePost, from) = (group, "", "", "groups g WHERE g.id")
        case .thread(let thread):
            (id, threadColumns, visiblePost, from) = (
                thread, ThreadStore.threadColumnsWithoutCounts + ",",
                ", EXISTS (SELECT 1 FROM posts p WHERE p.thread_id = t.id AND p.moderation = 'visible')",
                "threads t JOIN groups g ON g.id = t.group_id WHERE t.id")
        }
        return """
            SELECT \(unescaped: threadColumns) \(unescaped: groupColumns),
                   (SELECT role FROM group_members m WHERE m.group_id = g.id AND m.account_id = \(account)),
                   EXISTS (SELECT 1 FROM group_bans b WHERE b.group_id = g.id AND b.account_id = \(account)
                           AND (b.expires_at IS NULL OR b.expires_at > \(now))),
                   EXISTS (SELECT 1 FROM group_invitations i WHERE i.group_id = g.id AND i.account_id = \(account))
                   \(unescaped: visiblePost)
            FROM \(unescaped: from) = \(id) \(unescaped: lock ? "FOR UPDATE" : "")
            """
    }

    static func standing(_ row: (GroupID, String, String, String, String?, String, String, Date, Bool, String?, Bool, Bool))
        -> (GroupRecord, GroupStanding) {
        let group = record((row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8))
        return (group, GroupStanding(visibility: group.visibility, joinPolicy: group.joinPolicy,
                                     role: row.9.flatMap(GroupRole.init(rawValue:)), banned: row.10, invited: row.11))
    }

    enum StandingStatement: PreparedSQL {
        static let name = "group_standing"
        static let sql = standingQuery(group: 0, account: 0, now: Date(timeIntervalSince1970: 0), lock: false).sql
    }

    public static func update(_ group: GroupRecord, on db: DatabaseConnection) async throws {
        try await db.query("""
            UPDATE groups SET kind = \(group.kind.rawValue), name = \(group.name), description = \(group.description),
                area = \(group.area), visibility = \(group.visibility.rawValue), join_policy = \(group.joinPolicy.rawValue),
                approve_new_accounts = \(group.approveNewAccounts)
            WHERE id = \(group.id)
            """)
    }

    /// Groups `account` may see, newest first: public ones, the ones it belongs to, and all
    /// of them for town moderators. Keyset-paged by id.
    public static func list(
        for account: AccountID, seesAll: Bool, kind: GroupKind?, area: String?, memberOnly: Bool, before: GroupID?, limit: Int,
        on db: DatabaseConnection
    ) async throws -> [GroupListing] {
        let query = ("""
            SELECT \(unescaped: groupColumns), m.role,
                   (SELECT count(*) FROM group_members c WHERE c.group_id = g.id)::int,
                   CASE WHEN m.role IS NULL THEN 0 ELSE (
                       SELECT count(*) FROM posts p
                       LEFT JOIN thread_reads r ON r.thread_id = p.thread_id AND r.account_id = \(account)
                       WHERE p.group_id = g.id AND p.deleted_at IS NULL AND p.moderation = 'visible' AND p.id > coalesce(r.last_read_post_id, 0)
                         AND p.author_id IS DISTINCT FROM \(account)
                   )::int END
            FROM groups g
            LEFT JOIN group_members m ON m.group_id = g.id AND m.account_id = \(account)
            WHERE (\(seesAll) OR g.visibility = 'public' OR m.role IS NOT NULL)
              AND (\(kind?.rawValue)::text IS NULL OR g.kind = \(kind?.rawValue))
              AND (\(area)::text IS NULL OR g.area = \(area))
              AND (NOT \(memberOnly) OR m.role IS NOT NULL)
              AND (\(before)::bigint IS NULL OR g.id < \(before))
            ORDER BY g.id DESC LIMIT \(limit)
            """ as PostgresQuery)
        var listings: [GroupListing] = []
        for try await row in try await db.query(query)
            .decode((GroupID, String, String, String, String?, String, String, Date, Bool, String?, Int, Int).self) {
            listings.append(GroupListing(group: record((row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8)),
                                         role: row.9.flatMap(GroupRole.init(rawValue:)), memberCount: row.10, unreadCount: row.11))
        }
        return listings
    }

    // MARK: - Membership

    public static func addMember(group: GroupID, account: AccountID, role: GroupRole, now: Date, on db: DatabaseConnection) async throws {
        try await db.query("""
            INSERT INTO group_members (group_id, account_id, role, joined_at) VALUES (\(group), \(account), \(role.rawValue), \(now))
            ON CONFLICT (group_id, account_id) DO NOTHING
            """)
        try await db.query("DELETE FROM group_join_requests WHERE group_id = \(group) AND account_id = \(account)")
        try await db.query("DELETE FROM group_invitations WHERE group_id = \(group) AND account_id = \(account)")
    }

    /// Returns the removed member's role, or nil if they were not a member.
    @discardableResult
    public static func removeMember(group: GroupID, account: AccountID, on db: DatabaseConnection) async throws -> GroupRole? {
        for try await role in try await db.query(
            "DELETE FROM group_members WHERE group_id = \(group) AND account_id = \(account) RETURNING role"
        ).decode(String.self) {
            return GroupRole(rawValue: role)
        }
        return nil
    }

    public static func setRole(group: GroupID, account: AccountID, role: GroupRole, on db: DatabaseConnection) async throws -> Bool {
        for try await _ in try await db.query(
            "UPDATE group_members SET role = \(role.rawValue) WHERE group_id = \(group) AND account_id = \(account) RETURNING account_id"
        ).decode(AccountID.self) {
            return true
        }
        return false
    }

    public static func ownerCount(group: GroupID, on db: DatabaseConnection) async throws -> Int {
        for try await count in try await db.query(
            "SELECT count(*)::int FROM group_members WHERE group_id = \(group) AND role = 'owner'"
        ).decode(Int.self) {
            return count
        }
        return 0
    }

    public static func members(
        group: GroupID, after: AccountID?, limit: Int, on db: DatabaseConnection
    ) async throws -> [MemberRecord] {
        var members: [MemberRecord] = []
        for try await (id, name, role, joinedAt) in try await db.query("""
            SELECT m.account_id, a.display_name, m.role, m.joined_at
            FROM group_members m JOIN accounts a ON a.id = m.account_id
            WHERE m.group_id = \(group) AND (\(after)::bigint IS NULL OR m.account_id > \(after))
            ORDER BY m.account_id LIMIT \(limit)
            """).decode((AccountID, String, String, Date).self) {
            members.append(MemberRecord(accountID: id, displayName: name, role: GroupRole(rawValue: role) ?? .member, joinedAt: joinedAt))
        }
        return members
    }

    // MARK: - Requests, invitations, bans

    /// Files (or re-files) a pending request. A denied request becomes pending again.
    public static func requestToJoin(group: GroupID, account: AccountID, message: String, now: Date, on db: DatabaseConnection) async throws {
        try await db.query("""
            INSERT INTO group_join_requests (group_id, account_id, state, message, created_at)
            VALUES (\(group), \(account), 'pending', \(message), \(now))
            ON CONFLICT (group_id, account_id) DO UPDATE SET state = 'pending', message = excluded.message,
                created_at = excluded.created_at, decided_at = NULL, decided_by = NULL
            """)
    }

    public static func joinRequests(
        group: GroupID, state: String, on db: DatabaseConnection
    ) async throws -> [JoinRequestRecord] {
        var requests: [JoinRequestRecord] = []
        for try await (id, name, state, message, createdAt) in try await db.query("""
            SELECT r.account_id, a.display_name, r.state, r.message, r.created_at
            FROM group_join_requests r JOIN accounts a ON a.id = r.account_id
            WHERE r.group_id = \(group) AND r.state = \(state) ORDER BY r.created_at, r.account_id LIMIT 500
            """).decode((AccountID, String, String, String, Date).self) {
            requests.append(JoinRequestRecord(accountID: id, displayName: name, state: state, message: message, createdAt: createdAt))
        }
        return requests
    }

    /// The request's state ("pending" or "denied"), or nil when there is none.
    public static func joinRequestState(group: GroupID, account: AccountID, on db: DatabaseConnection) async throws -> String? {
        for try await state in try await db.query(
            "SELECT state FROM group_join_requests WHERE group_id = \(group) AND account_id = \(account)"
        ).decode(String.self) {
            return state
        }
        return nil
    }

    public static func denyJoinRequest(group: GroupID, account: AccountID, by moderator: AccountID, now: Date, on db: DatabaseConnection) async throws {
        try await db.query("""
            UPDATE group_join_requests SET state = 'denied', decided_at = \(now), decided_by = \(moderator)
            WHERE group_id = \(group) AND account_id = \(account)
            """)
    }

    public static func invite(group: GroupID, account: AccountID, by inviter: AccountID, now: Date, on db: DatabaseConnection) async throws {
        try await db.query("""
            INSERT INTO group_invitations (group_id, account_id, invited_by, created_at) VALUES (\(group), \(account), \(inviter), \(now))
            ON CONFLICT (group_id, account_id) DO NOTHING
            """)
    }

    public static func ban(
        group: GroupID, account: AccountID, by moderator: AccountID, reason: String, expiresAt: Date?, now: Date,
        on db: DatabaseConnection
    ) async throws {
        try await db.query("""
            INSERT INTO group_bans (group_id, account_id, banned_by, reason, created_at, expires_at)
            VALUES (\(group), \(account), \(moderator), \(reason), \(now), \(expiresAt))
            ON CONFLICT (group_id, account_id) DO UPDATE SET banned_by = excluded.banned_by, reason = excluded.reason,
                created_at = excluded.created_at, expires_at = excluded.expires_at
            """)
        try await removeMember(group: group, account: account, on: db)
        try await db.query("DELETE FROM group_join_requests WHERE group_id = \(group) AND account_id = \(account)")
        try await db.query("DELETE FROM group_invitations WHERE group_id = \(group) AND account_id = \(account)")
    }

    public static func unban(group: GroupID, account: AccountID, on db: DatabaseConnection) async throws {
        try await db.query("DELETE FROM group_bans WHERE group_id = \(group) AND account_id = \(account)")
    }
}
