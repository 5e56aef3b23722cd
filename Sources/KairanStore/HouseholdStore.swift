import Foundation
import KairanCore
import Logging
import PostgresNIO

/// Households as one family: merging two that turned out to be the same family, and the
/// record of every merge.
public enum HouseholdStore {
    /// Whether any of `households` has a child enrolled at an organization other than `organization`.
    public static func hasChildren(elsewhereThan organization: OrganizationID, in households: [Int64], on db: DatabaseConnection) async throws -> Bool {
        for try await found in try await db.query("""
            SELECT EXISTS (SELECT 1 FROM children WHERE household_id = ANY(\(households)::bigint[]) AND organization_id <> \(organization))
            """).decode(Bool.self) {
            return found
        }
        return false
    }

    public enum MergeVia: String, Sendable {
        case linkCode = "link_code"
        case staff
    }

    public struct MergeRecord: Sendable, Equatable, Codable {
        public let id: Int64
        public let keptHousehold: Int64
        public let mergedHousehold: Int64
        public let byAccountId: AccountID?
        public let via: String
        public let reason: String
        public let childrenMoved: Int
        public let guardiansMoved: Int
        public let at: Date
    }

    /// Moves everything of `merged` into `kept` (children, guardians, and the household
    /// they count as on notices already sent, so a dashboard counts the family once), deletes
    /// `merged`, and records the merge. Both households are locked first, in id order, so
    /// two merges touching one household cannot cross.
    @discardableResult
    public static func merge(
        _ merged: Int64, into kept: Int64, organization: OrganizationID?, by account: AccountID?, via: MergeVia, reason: String, now: Date,
        on db: DatabaseConnection
    ) async throws -> MergeRecord {
        precondition(merged != kept, "a household is not merged into itself")
        try await db.query("SELECT id FROM households WHERE id = ANY(\([min(kept, merged), max(kept, merged)])::bigint[]) ORDER BY id FOR UPDATE")
        let children = try await count(db.query(
            "UPDATE children SET household_id = \(kept) WHERE household_id = \(merged) RETURNING id"))
        let guardians = try await count(db.query(
            "UPDATE guardians SET household_id = \(kept) WHERE household_id = \(merged) RETURNING id"))
        try await db.query("UPDATE notice_children SET household_id = \(kept) WHERE household_id = \(merged)")
        try await db.query("UPDATE notice_recipients SET household_id = \(kept) WHERE household_id = \(merged)")
        try await db.query("DELETE FROM households WHERE id = \(merged)")
        for try await id in try await db.query("""
            INSERT INTO household_merges (kept_household, merged_household, organization_id, by_account, via, reason, children_moved, guardians_moved, at)
            VALUES (\(kept), \(merged), \(organization), \(account), \(via.rawValue), \(reason), \(children), \(guardians), \(now))
            RETURNING id
            """).decode(Int64.self) {
            return MergeRecord(id: id, keptHousehold: kept, mergedHousehold: merged, byAccountId: account, via: via.rawValue, reason: reason,
                               childrenMoved: children, guardiansMoved: guardians, at: now)
        }
        preconditionFailure("INSERT … RETURNING returns a row")
    }

    /// The merges an organization vouched for, newest first.
    public static func merges(organization: OrganizationID, before: Int64?, limit: Int, on db: DatabaseConnection) async throws -> [MergeRecord] {
        var result: [MergeRecord] = []
        for try await (id, kept, merged, account, via, reason, children, guardians, at) in try await db.query("""
            SELECT id, kept_household, merged_household, by_account, via, reason, children_moved, guardians_moved, at FROM household_merges
            WHERE organization_id = \(organization) AND (\(before)::bigint IS NULL OR id < \(before))
            ORDER BY id DESC LIMIT \(limit)
            """).decode((Int64, Int64, Int64, Int64?, String, String, Int32, Int32, Date).self) {
            result.append(MergeRecord(id: id, keptHousehold: kept, mergedHousehold: merged, byAccountId: account, via: via, reason: reason,
                                      childrenMoved: Int(children), guardiansMoved: Int(guardians), at: at))
        }
        return result
    }

    private static func count(_ rows: PostgresRowSequence) async throws -> Int {
        var count = 0
        for try await _ in rows.decode(Int64.self) { count += 1 }
        return count
    }
}
