import Foundation
import KairanCore
import Logging
import PostgresNIO

public struct NoticeListRecord: Sendable, Equatable {
    public let id: NoticeListID
    public let name: String
    public let children: [ChildID]
}

/// Custom channels: lists of children staff choose (a club, a bus route, a trip group).
public enum NoticeListStore {
    /// Nil when the name is taken in this organization.
    public static func insert(
        organization: OrganizationID, name: String, now: Date, on db: DatabaseConnection
    ) async throws -> NoticeListID? {
        for try await id in try await db.query("""
            INSERT INTO notice_lists (organization_id, name, created_at) VALUES (\(organization), \(name), \(now))
            ON CONFLICT (organization_id, name) DO NOTHING RETURNING id
            """).decode(Int64.self) {
            return id
        }
        return nil
    }

    /// Replaces the list's children. False when a child is not this organization's.
    public static func setChildren(
        list: NoticeListID, organization: OrganizationID, children: [ChildID], on db: DatabaseConnection
    ) async throws -> Bool {
        let unique = Array(Set(children))
        for try await count in try await db.query("""
            SELECT count(*)::int FROM children WHERE organization_id = \(organization) AND id = ANY(\(unique)::bigint[])
            """).decode(Int.self) where count != unique.count {
            return false
        }
        try await db.query("DELETE FROM notice_list_children WHERE list_id = \(list)")
        try await db.query("""
            INSERT INTO notice_list_children (list_id, child_id) SELECT \(list), unnest(\(unique)::bigint[])
            """)
        return true
    }

    public static func lists(organization: OrganizationID, id: NoticeListID? = nil, on db: DatabaseConnection) async throws -> [NoticeListRecord] {
        var result: [NoticeListRecord] = []
        for try await (listID, name, children) in try await db.query("""
            SELECT l.id, l.name, coalesce(array_agg(lc.child_id ORDER BY lc.child_id) FILTER (WHERE lc.child_id IS NOT NULL), '{}')
            FROM notice_lists l LEFT JOIN notice_list_children lc ON lc.list_id = l.id
            WHERE l.organization_id = \(organization) AND (\(id)::bigint IS NULL OR l.id = \(id))
            GROUP BY l.id ORDER BY l.name LIMIT 500
            """).decode((Int64, String, [Int64]).self) {
            result.append(NoticeListRecord(id: listID, name: name, children: children))
        }
        return result
    }

    /// Locks the list if it is this organization's.
    public static func lock(list: NoticeListID, organization: OrganizationID, on db: DatabaseConnection) async throws -> Bool {
        for try await _ in try await db.query("""
            SELECT 1 FROM notice_lists WHERE id = \(list) AND organization_id = \(organization) FOR UPDATE
            """).decode(Int.self) {
            return true
        }
        return false
    }

    /// Throws a unique violation when another list of the organization has the name.
    public static func rename(list: NoticeListID, to name: String, on db: DatabaseConnection) async throws {
        try await db.query("UPDATE notice_lists SET name = \(name) WHERE id = \(list)")
    }

    public static func delete(list: NoticeListID, organization: OrganizationID, on db: DatabaseConnection) async throws -> Bool {
        for try await _ in try await db.query("""
            DELETE FROM notice_lists WHERE id = \(list) AND organization_id = \(organization) RETURNING 1
            """).decode(Int.self) {
            return true
        }
        return false
    }
}
