import Foundation
import KairanCore
import Logging
import PostgresNIO

public struct NotificationRecord: Sendable {
    public let id: Int64
    public let kind: String
    /// JSON object, as text.
    public let payload: String
    public let createdAt: Date
    public let readAt: Date?
}

public enum NotificationStore {
    /// Members of `group` (other than `author`) whose display name, spaces removed, begins
    /// one of `tokens`, with that name: the candidates `Mentions.resolve` chooses among.
    public static func membersNamedAtTheStart(
        of tokens: [String], group: GroupID, excluding author: AccountID, on db: DatabaseConnection
    ) async throws -> [(account: AccountID, name: String)] {
        guard !tokens.isEmpty else { return [] }
        var members: [(AccountID, String)] = []
        for try await (id, name) in try await db.query("""
            SELECT m.account_id, n.name FROM group_members m JOIN accounts a ON a.id = m.account_id
            CROSS JOIN LATERAL (SELECT regexp_replace(a.display_name, '[[:space:]\u{3000}]', '', 'g') AS name) n
            WHERE m.group_id = \(group) AND m.account_id <> \(author) AND n.name <> ''
              AND EXISTS (SELECT 1 FROM unnest(\(tokens)::text[]) t WHERE starts_with(t, n.name))
            ORDER BY m.account_id
            """).decode((AccountID, String).self) {
            members.append((id, name))
        }
        return members
    }

    /// Removes the `group.invited` notification of a withdrawn invitation.
    public static func deleteInvitation(to account: AccountID, group: GroupID, on db: DatabaseConnection) async throws {
        try await db.query("""
            DELETE FROM notifications WHERE account_id = \(account) AND kind = 'group.invited' AND (payload->>'groupId')::bigint = \(group)
            """)
    }

    public static func insert(
        account: AccountID, kind: String, payloadJSON: String, now: Date, on db: DatabaseConnection
    ) async throws -> Int64 {
        for try await id in try await db.query("""
            INSERT INTO notifications (account_id, kind, payload, created_at) VALUES (\(account), \(kind), \(payloadJSON)::jsonb, \(now))
            RETURNING id
            """).decode(Int64.self) {
            return id
        }
        preconditionFailure("INSERT … RETURNING returned no row")
    }

    public static func list(
        account: AccountID, before: Int64?, limit: Int, on db: DatabaseConnection
    ) async throws -> [NotificationRecord] {
        var records: [NotificationRecord] = []
        for try await (id, kind, payload, createdAt, readAt) in try await db.query("""
            SELECT id, kind, payload::text, created_at, read_at FROM notifications
            WHERE account_id = \(account) AND (\(before)::bigint IS NULL OR id < \(before))
            ORDER BY id DESC LIMIT \(limit)
            """).decode((Int64, String, String, Date, Date?).self) {
            records.append(NotificationRecord(id: id, kind: kind, payload: payload, createdAt: createdAt, readAt: readAt))
        }
        return records
    }

    /// Returns false when the notification is not the account's.
    public static func markRead(id: Int64, account: AccountID, now: Date, on db: DatabaseConnection) async throws -> Bool {
        for try await _ in try await db.query("""
            UPDATE notifications SET read_at = coalesce(read_at, \(now)) WHERE id = \(id) AND account_id = \(account) RETURNING id
            """).decode(Int64.self) {
            return true
        }
        return false
    }
}
