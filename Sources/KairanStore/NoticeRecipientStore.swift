import Foundation
import KairanCore
import Logging
import PostgresNIO

/// A guardian a published notice reached.
public struct NoticeRecipientRecord: Sendable, Equatable {
    public let noticeID: NoticeID
    public let organizationID: OrganizationID
    public let guardianID: GuardianID
    public let guardianName: String
    public let householdID: Int64
    public let openedAt: Date?
    public let confirmedAt: Date?
    /// Any guardian of the household confirmed.
    public let householdConfirmed: Bool
}

/// The staff dashboard's figures.
public struct NoticeStatusCounts: Sendable, Equatable, Codable {
    public let guardians: Int
    public let households: Int
    /// Written to the guardian's live stream, or accepted by the mail relay.
    public let delivered: Int
    public let opened: Int
    public let confirmedGuardians: Int
    public let confirmedHouseholds: Int
}

/// A household that has not confirmed: whom to call.
public struct UnconfirmedHousehold: Sendable, Equatable {
    public struct Contact: Sendable, Equatable {
        public let guardianID: GuardianID
        public let name: String
        public let phone: String?
    }
    public let householdID: Int64
    public let children: [String]
    /// Each child's class, in the order of `children`; empty for a child in no class.
    public let classes: [String]
    public let guardians: [Contact]
}

public struct NoticeAnswerRecord: Sendable, Equatable {
    public let childID: ChildID
    public let childName: String
    public let className: String?
    public let choices: [Int]
    public let text: String?
    public let answeredBy: String?
    public let answeredAt: Date?
}

/// Confirmations, opens and answers of published notices.
public enum NoticeRecipientStore {
    static let recipientSelect = """
        SELECT r.notice_id, n.organization_id, r.guardian_id, g.name, r.household_id, r.opened_at, r.confirmed_at,
               EXISTS (SELECT 1 FROM notice_recipients o WHERE o.notice_id = r.notice_id AND o.household_id = r.household_id
                       AND o.confirmed_at IS NOT NULL)
        FROM notice_recipients r JOIN notices n ON n.id = r.notice_id JOIN guardians g ON g.id = r.guardian_id
        """
    typealias Row = (Int64, Int64, Int64, String, Int64, Date?, Date?, Bool)

    static func one(_ query: PostgresQuery, on db: DatabaseConnection) async throws -> NoticeRecipientRecord? {
        for try await r in try await db.query(query).decode(Row.self) {
            return NoticeRecipientRecord(noticeID: r.0, organizationID: r.1, guardianID: r.2, guardianName: r.3, householdID: r.4,
                                         openedAt: r.5, confirmedAt: r.6, householdConfirmed: r.7)
        }
        return nil
    }

    /// The caller's recipient row for a notice; nil when the notice never reached them.
    public static func recipient(notice: NoticeID, account: AccountID, on db: DatabaseConnection) async throws -> NoticeRecipientRecord? {
        try await one(("\(unescaped: recipientSelect) WHERE r.notice_id = \(notice) AND r.account_id = \(account)" as PostgresQuery), on: db)
    }

    public static func recipient(notice: NoticeID, guardian: GuardianID, on db: DatabaseConnection) async throws -> NoticeRecipientRecord? {
        try await one(("\(unescaped: recipientSelect) WHERE r.notice_id = \(notice) AND r.guardian_id = \(guardian)" as PostgresQuery), on: db)
    }

    /// The recipient a mail link belongs to.
    public static func recipient(token: String, on db: DatabaseConnection) async throws -> NoticeRecipientRecord? {
        try await one(("\(unescaped: recipientSelect) WHERE r.link_token = \(token)" as PostgresQuery),
                      on: db)
    }

    /// Marks the notice opened by this guardian. True the first time.
    public static func markOpened(notice: NoticeID, guardian: GuardianID, now: Date, on db: DatabaseConnection) async throws -> Bool {
        for try await _ in try await db.query("""
            UPDATE notice_recipients SET opened_at = \(now)
            WHERE notice_id = \(notice) AND guardian_id = \(guardian) AND opened_at IS NULL RETURNING 1
            """).decode(Int.self) {
            return true
        }
        return false
    }

    /// Confirms (既読確認) for this guardian, opening it too. True the first time.
    public static func confirm(notice: NoticeID, guardian: GuardianID, now: Date, on db: DatabaseConnection) async throws -> Bool {
        for try await _ in try await db.query("""
            UPDATE notice_recipients SET confirmed_at = \(now), opened_at = coalesce(opened_at, \(now))
            WHERE notice_id = \(notice) AND guardian_id = \(guardian) AND confirmed_at IS NULL RETURNING 1
            """).decode(Int.self) {
            return true
        }
        return false
    }

    /// `inClass`: only the households with a child the notice reached in that class.
    public static func counts(notice: NoticeID, messageID: Int64?, inClass classID: ClassID? = nil,
                              on db: DatabaseConnection) async throws -> NoticeStatusCounts {
        for try await r in try await db.query("""
            SELECT count(*)::int, count(DISTINCT household_id)::int,
                   count(*) FILTER (WHERE via_app OR EXISTS (
                       SELECT 1 FROM deliveries d WHERE d.message_id = \(messageID) AND d.recipient = 'guardian:' || r.guardian_id
                       AND d.channel = 'mail' AND d.state = 'sent'))::int,
                   count(*) FILTER (WHERE opened_at IS NOT NULL)::int,
                   count(*) FILTER (WHERE confirmed_at IS NOT NULL)::int,
                   count(DISTINCT household_id) FILTER (WHERE confirmed_at IS NOT NULL)::int
            FROM notice_recipients r WHERE notice_id = \(notice) AND (\(classID)::bigint IS NULL OR household_id IN (
                    SELECT nc.household_id FROM notice_children nc JOIN children c ON c.id = nc.child_id
                    WHERE nc.notice_id = \(notice) AND c.class_id = \(classID)))
            """).decode((Int, Int, Int, Int, Int, Int).self) {
            return NoticeStatusCounts(guardians: r.0, households: r.1, delivered: r.2, opened: r.3, confirmedGuardians: r.4, confirmedHouseholds: r.5)
        }
        return NoticeStatusCounts(guardians: 0, households: 0, delivered: 0, opened: 0, confirmedGuardians: 0, confirmedHouseholds: 0)
    }

    /// Households none of whose guardians confirmed, with the children the notice was for
    /// and every guardian's name and phone (the call list).
    public static func unconfirmed(notice: NoticeID, inClass classID: ClassID? = nil, limit: Int,
                                   on db: DatabaseConnection) async throws -> [UnconfirmedHousehold] {
        var result: [UnconfirmedHousehold] = []
        for try await (household, children, classes, ids, names, phones) in try await db.query("""
            WITH open AS (
                SELECT household_id FROM notice_recipients WHERE notice_id = \(notice) AND (\(classID)::bigint IS NULL OR household_id IN (
                    SELECT nc.household_id FROM notice_children nc JOIN children c ON c.id = nc.child_id
                    WHERE nc.notice_id = \(notice) AND c.class_id = \(classID)))
                GROUP BY household_id HAVING bool_and(confirmed_at IS NULL) ORDER BY household_id LIMIT \(limit)
            )
            SELECT o.household_id,
                   ARRAY(SELECT c.name FROM notice_children nc JOIN children c ON c.id = nc.child_id
                         WHERE nc.notice_id = \(notice) AND nc.household_id = o.household_id ORDER BY c.id),
                   ARRAY(SELECT coalesce(cl.name, '') FROM notice_children nc JOIN children c ON c.id = nc.child_id
                         LEFT JOIN classes cl ON cl.id = c.class_id
                         WHERE nc.notice_id = \(notice) AND nc.household_id = o.household_id ORDER BY c.id),
                   ARRAY(SELECT g.id FROM guardians g WHERE g.household_id = o.household_id ORDER BY g.id),
                   ARRAY(SELECT g.name FROM guardians g WHERE g.household_id = o.household_id ORDER BY g.id),
                   ARRAY(SELECT coalesce(g.phone, '') FROM guardians g WHERE g.household_id = o.household_id ORDER BY g.id)
            FROM open o ORDER BY o.household_id
            """).decode((Int64, [String], [String], [Int64], [String], [String]).self) {
            let contacts = zip(ids, zip(names, phones)).map { id, pair in
                UnconfirmedHousehold.Contact(guardianID: id, name: pair.0, phone: pair.1.isEmpty ? nil : pair.1)
            }
            result.append(UnconfirmedHousehold(householdID: household, children: children, classes: classes, guardians: contacts))
        }
        return result
    }
    /// A guardian's notices, newest first, with their own open/confirm state.
    public static func notices(
        ofAccount account: AccountID, before: NoticeID?, limit: Int, on db: DatabaseConnection
    ) async throws -> [(NoticeRecord, String, NoticeRecipientRecord)] {
        var recipients: [NoticeRecipientRecord] = []
        var organizationNames: [OrganizationID: String] = [:]
        for try await r in try await db.query("""
            SELECT r.notice_id, n.organization_id, r.guardian_id, g.name, r.household_id, r.opened_at, r.confirmed_at,
                   EXISTS (SELECT 1 FROM notice_recipients x WHERE x.notice_id = r.notice_id AND x.household_id = r.household_id
                           AND x.confirmed_at IS NOT NULL),
                   o.name
            FROM notice_recipients r JOIN notices n ON n.id = r.notice_id JOIN organizations o ON o.id = n.organization_id
                 JOIN guardians g ON g.id = r.guardian_id
            WHERE r.account_id = \(account) AND (\(before)::bigint IS NULL OR r.notice_id < \(before))
            ORDER BY r.notice_id DESC LIMIT \(limit)
            """).decode((Int64, Int64, Int64, String, Int64, Date?, Date?, Bool, String).self) {
            recipients.append(NoticeRecipientRecord(noticeID: r.0, organizationID: r.1, guardianID: r.2, guardianName: r.3, householdID: r.4,
                                                    openedAt: r.5, confirmedAt: r.6, householdConfirmed: r.7))
            organizationNames[r.1] = r.8
        }
        guard !recipients.isEmpty else { return [] }
        let query = ("SELECT \(unescaped: NoticeStore.columns) FROM notices n WHERE n.id = ANY(\(recipients.map(\.noticeID))::bigint[])" as PostgresQuery)
        let notices = Dictionary(uniqueKeysWithValues: try await NoticeStore.records(query, on: db).map { ($0.id, $0) })
        return recipients.compactMap { recipient in
            notices[recipient.noticeID].map { ($0, organizationNames[recipient.organizationID] ?? "", recipient) }
        }
    }

    // MARK: - Answers

    /// The children of this household the notice was for (each gets one answer).
    public static func children(notice: NoticeID, household: Int64, on db: DatabaseConnection) async throws -> [(ChildID, String)] {
        var result: [(ChildID, String)] = []
        for try await row in try await db.query("""
            SELECT c.id, c.name FROM notice_children nc JOIN children c ON c.id = nc.child_id
            WHERE nc.notice_id = \(notice) AND nc.household_id = \(household) ORDER BY c.id
            """).decode((Int64, String).self) {
            result.append(row)
        }
        return result
    }

    public static func saveAnswer(
        notice: NoticeID, child: ChildID, guardian: GuardianID, choices: [Int], text: String?, now: Date, on db: DatabaseConnection
    ) async throws {
        let values = choices.map(Int16.init)
        try await db.query("""
            INSERT INTO notice_answers (notice_id, child_id, guardian_id, choices, text, answered_at)
            VALUES (\(notice), \(child), \(guardian), \(values)::smallint[], \(text), \(now))
            ON CONFLICT (notice_id, child_id) DO UPDATE
            SET guardian_id = excluded.guardian_id, choices = excluded.choices, text = excluded.text, answered_at = excluded.answered_at
            """)
    }

    /// Every child the notice was for, with their answer if any (`household` narrows it to one family).
    public static func answers(notice: NoticeID, household: Int64? = nil, on db: DatabaseConnection) async throws -> [NoticeAnswerRecord] {
        var result: [NoticeAnswerRecord] = []
        for try await r in try await db.query("""
            SELECT c.id, c.name, cl.name, coalesce(a.choices, '{}'), a.text, g.name, a.answered_at
            FROM notice_children nc JOIN children c ON c.id = nc.child_id LEFT JOIN classes cl ON cl.id = c.class_id
                 LEFT JOIN notice_answers a ON a.notice_id = nc.notice_id AND a.child_id = nc.child_id
                 LEFT JOIN guardians g ON g.id = a.guardian_id
            WHERE nc.notice_id = \(notice) AND (\(household)::bigint IS NULL OR nc.household_id = \(household))
            ORDER BY cl.grade NULLS LAST, cl.name NULLS LAST, c.id
            """).decode((Int64, String, String?, [Int16], String?, String?, Date?).self) {
            result.append(NoticeAnswerRecord(childID: r.0, childName: r.1, className: r.2, choices: r.3.map(Int.init), text: r.4,
                                             answeredBy: r.5, answeredAt: r.6))
        }
        return result
    }
}
