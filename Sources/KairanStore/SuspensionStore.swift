import Foundation
import KairanCore
import Logging
import PostgresNIO

/// Suspensions as the moderators list and correct them.
public enum SuspensionStore {
    public struct Record: Sendable, Equatable {
        public let id: Int64
        public let accountID: AccountID
        public let accountName: String
        /// Nil: the whole town.
        public let groupID: GroupID?
        public let until: Date
        public let reason: String
        public let createdAt: Date
    }

    private static let columns = "s.id, s.account_id, a.display_name, s.group_id, s.until, s.reason, s.created_at"

    /// Newest first. `group`: only that group's own; `account`: only that person's;
    /// `activeAt`: only those in force then.
    public static func list(
        group: GroupID?, account: AccountID?, activeAt now: Date?, before: Int64?, limit: Int,
        on db: DatabaseConnection
    ) async throws -> [Record] {
        try await records(db.query("""
            SELECT \(unescaped: columns) FROM suspensions s JOIN accounts a ON a.id = s.account_id
            WHERE (\(group)::bigint IS NULL OR s.group_id = \(group))
              AND (\(account)::bigint IS NULL OR s.account_id = \(account))
              AND (\(now)::timestamptz IS NULL OR s.until > \(now))
              AND (\(before)::bigint IS NULL OR s.id < \(before))
            ORDER BY s.id DESC LIMIT \(limit)
            """))
    }

    public static func find(_ id: Int64, lock: Bool, on db: DatabaseConnection) async throws -> Record? {
        try await records(db.query("""
            SELECT \(unescaped: columns) FROM suspensions s JOIN accounts a ON a.id = s.account_id
            WHERE s.id = \(id) \(unescaped: lock ? "FOR UPDATE OF s" : "")
            """)).first
    }

    /// Moves the end (to `now` when lifting).
    public static func setEnd(_ id: Int64, until: Date, on db: DatabaseConnection) async throws {
        try await db.query("UPDATE suspensions SET until = \(until) WHERE id = \(id)")
    }

    private static func records(_ rows: PostgresRowSequence) async throws -> [Record] {
        var result: [Record] = []
        for try await (id, account, name, group, until, reason, createdAt) in rows.decode((Int64, Int64, String, Int64?, Date, String, Date).self) {
            result.append(Record(id: id, accountID: account, accountName: name, groupID: group,
                                 until: until, reason: reason, createdAt: createdAt))
        }
        return result
    }
}
