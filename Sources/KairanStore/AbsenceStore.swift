import Foundation
import KairanCore
import Logging
import PostgresNIO

public struct AbsenceRecord: Sendable, Equatable, Codable {
    public let id: AbsenceReportID
    public let organizationId: OrganizationID
    public let classId: ClassID?
    public let className: String?
    public let childId: ChildID
    public let childName: String
    public let guardianName: String
    public let kind: AbsenceKind
    /// The school day, "YYYY-MM-DD".
    public let day: String
    public let reason: String
    public let note: String
    public let createdAt: Date
    public let acknowledgedBy: String?
    public let acknowledgedAt: Date?
}

/// 欠席・遅刻連絡: reports from guardians, read and acknowledged by the class teachers.
public enum AbsenceStore {
    static let select = """
        SELECT r.id, r.organization_id, r.class_id, cl.name, r.child_id, c.name, g.name, r.kind, to_char(r.day, 'YYYY-MM-DD'), r.reason, r.note,
               r.created_at, a.display_name, r.acknowledged_at
        FROM absence_reports r JOIN children c ON c.id = r.child_id LEFT JOIN classes cl ON cl.id = r.class_id
             JOIN guardians g ON g.id = r.guardian_id LEFT JOIN accounts a ON a.id = r.acknowledged_by
        """
    typealias Row = (Int64, Int64, Int64?, String?, Int64, String, String, String, String, String, String, Date, String?, Date?)

    static func records(_ query: PostgresQuery, on db: DatabaseConnection) async throws -> [AbsenceRecord] {
        var result: [AbsenceRecord] = []
        for try await r in try await db.query(query).decode(Row.self) {
            result.append(AbsenceRecord(id: r.0, organizationId: r.1, classId: r.2, className: r.3, childId: r.4, childName: r.5, guardianName: r.6,
                                        kind: AbsenceKind(rawValue: r.7) ?? .absent, day: r.8, reason: r.9, note: r.10, createdAt: r.11,
                                        acknowledgedBy: r.12, acknowledgedAt: r.13))
        }
        return result
    }

    public static func insert(
        child: ChildRecord, guardian: GuardianID, kind: AbsenceKind, day: String, reason: String, note: String, now: Date,
        on db: DatabaseConnection
    ) async throws -> AbsenceRecord {
        var id: Int64 = 0
        for try await value in try await db.query("""
            INSERT INTO absence_reports (organization_id, class_id, child_id, guardian_id, kind, day, reason, note, created_at)
            VALUES (\(child.organizationID), \(child.classID), \(child.id), \(guardian), \(kind.rawValue), \(day)::date, \(reason), \(note), \(now))
            RETURNING id
            """).decode(Int64.self) {
            id = value
        }
        return try await find(id, organization: child.organizationID, on: db)!
    }

    public static func find(_ id: AbsenceReportID, organization: OrganizationID, on db: DatabaseConnection) async throws -> AbsenceRecord? {
        try await records(("\(unescaped: select) WHERE r.id = \(id) AND r.organization_id = \(organization)" as PostgresQuery),
                          on: db).first
    }

    /// Reports of an organization, newest day first; `classes` narrows to those classes
    /// (a teacher's inbox), `day` to one day.
    public static func list(
        organization: OrganizationID, classes: [ClassID]?, day: String?, before: AbsenceReportID?, limit: Int,
        on db: DatabaseConnection
    ) async throws -> [AbsenceRecord] {
        let query = ("""
            \(unescaped: select)
             WHERE r.organization_id = \(organization) AND (\(classes)::bigint[] IS NULL OR r.class_id = ANY(\(classes)::bigint[]))
               AND (\(day)::date IS NULL OR r.day = \(day)::date) AND (\(before)::bigint IS NULL OR r.id < \(before))
            ORDER BY r.id DESC LIMIT \(limit)
            """ as PostgresQuery)
        return try await records(query, on: db)
    }

    /// A guardian's reports for the children of their household.
    public static func list(household: Int64, limit: Int, on db: DatabaseConnection) async throws -> [AbsenceRecord] {
        try await records(("\(unescaped: select) WHERE c.household_id = \(household) ORDER BY r.id DESC LIMIT \(limit)" as PostgresQuery), on: db)
    }

    /// The app account of the guardian who reported it, if they have one.
    public static func reporterAccount(_ id: AbsenceReportID, on db: DatabaseConnection) async throws -> AccountID? {
        for try await account in try await db.query("""
            SELECT g.account_id FROM absence_reports r JOIN guardians g ON g.id = r.guardian_id WHERE r.id = \(id)
            """).decode(Int64?.self) {
            return account
        }
        return nil
    }

    /// True the first time.
    public static func acknowledge(
        _ id: AbsenceReportID, by account: AccountID, now: Date, on db: DatabaseConnection
    ) async throws -> Bool {
        for try await _ in try await db.query("""
            UPDATE absence_reports SET acknowledged_by = \(account), acknowledged_at = \(now)
            WHERE id = \(id) AND acknowledged_at IS NULL RETURNING 1
            """).decode(Int.self) {
            return true
        }
        return false
    }
}
