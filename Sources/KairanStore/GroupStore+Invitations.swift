import Foundation
import KairanCore
import Logging
import PostgresNIO

/// Pending invitations, bans and join requests, as their moderators and the people they
/// concern list them.
extension GroupStore {
    public struct InvitationRecord: Sendable, Equatable {
        public let groupID: GroupID
        public let groupName: String
        public let accountID: AccountID
        public let displayName: String
        public let createdAt: Date
    }

    /// A group's pending invitations (the newest 500), oldest first.
    public static func invitations(group: GroupID, on db: DatabaseConnection) async throws -> [InvitationRecord] {
        try await invitationRecords(db.query("""
            SELECT i.group_id, g.name, i.account_id, a.display_name, i.created_at
            FROM group_invitations i JOIN groups g ON g.id = i.group_id JOIN accounts a ON a.id = i.account_id
            WHERE i.group_id = \(group) ORDER BY i.created_at, i.account_id LIMIT 500
            """))
    }

    /// The invitations someone holds, newest first.
    public static func invitations(for account: AccountID, on db: DatabaseConnection) async throws -> [InvitationRecord] {
        try await invitationRecords(db.query("""
            SELECT i.group_id, g.name, i.account_id, a.display_name, i.created_at
            FROM group_invitations i JOIN groups g ON g.id = i.group_id JOIN accounts a ON a.id = i.account_id
            WHERE i.account_id = \(account) ORDER BY i.created_at DESC, i.group_id DESC LIMIT 500
            """))
    }

    private static func invitationRecords(_ rows: PostgresRowSequence) async throws -> [InvitationRecord] {
        var result: [InvitationRecord] = []
        for try await (group, name, account, displayName, createdAt) in rows.decode((GroupID, String, AccountID, String, Date).self) {
            result.append(InvitationRecord(groupID: group, groupName: name, accountID: account, displayName: displayName, createdAt: createdAt))
        }
        return result
    }

    /// Withdrawn by a moderator or declined by the invitee. False when there was none.
    public static func deleteInvitation(group: GroupID, account: AccountID, on db: DatabaseConnection) async throws -> Bool {
        for try await _ in try await db.query(
            "DELETE FROM group_invitations WHERE group_id = \(group) AND account_id = \(account) RETURNING group_id"
        ).decode(GroupID.self) {
            return true
        }
        return false
    }

    public struct BanRecord: Sendable, Equatable {
        public let accountID: AccountID
        public let displayName: String
        public let reason: String
        public let createdAt: Date
        /// Nil: for good.
        public let expiresAt: Date?
    }

    /// The bans in force in a group (the newest 500), newest first.
    public static func bans(group: GroupID, now: Date, on db: DatabaseConnection) async throws -> [BanRecord] {
        var result: [BanRecord] = []
        for try await (account, name, reason, createdAt, expiresAt) in try await db.query("""
            SELECT b.account_id, a.display_name, b.reason, b.created_at, b.expires_at
            FROM group_bans b JOIN accounts a ON a.id = b.account_id
            WHERE b.group_id = \(group) AND (b.expires_at IS NULL OR b.expires_at > \(now))
            ORDER BY b.created_at DESC, b.account_id LIMIT 500
            """).decode((AccountID, String, String, Date, Date?).self) {
            result.append(BanRecord(accountID: account, displayName: name, reason: reason, createdAt: createdAt, expiresAt: expiresAt))
        }
        return result
    }

    public struct OwnJoinRequest: Sendable, Equatable {
        public let groupID: GroupID
        public let groupName: String
        /// "pending" or "denied".
        public let state: String
        public let message: String
        public let createdAt: Date
    }

    /// Someone's own join requests, newest first.
    public static func joinRequests(of account: AccountID, on db: DatabaseConnection) async throws -> [OwnJoinRequest] {
        var result: [OwnJoinRequest] = []
        for try await (group, name, state, message, createdAt) in try await db.query("""
            SELECT r.group_id, g.name, r.state, r.message, r.created_at
            FROM group_join_requests r JOIN groups g ON g.id = r.group_id
            WHERE r.account_id = \(account) ORDER BY r.created_at DESC, r.group_id DESC LIMIT 500
            """).decode((GroupID, String, String, String, Date).self) {
            result.append(OwnJoinRequest(groupID: group, groupName: name, state: state, message: message, createdAt: createdAt))
        }
        return result
    }
}

extension GroupStore {
    /// The requester takes back a pending request. False when there was none pending.
    public static func withdrawJoinRequest(group: GroupID, account: AccountID, on db: DatabaseConnection) async throws -> Bool {
        for try await _ in try await db.query("""
            DELETE FROM group_join_requests WHERE group_id = \(group) AND account_id = \(account) AND state = 'pending' RETURNING group_id
            """).decode(GroupID.self) {
            return true
        }
        return false
    }
}
