import Foundation
import KairanCore
import PostgresNIO

/// An event as stored, with its answers counted.
public struct GroupEventRecord: Sendable, Equatable {
    public let id: EventID
    public let groupID: GroupID
    public let groupName: String
    public let title: String
    public let description: String
    public let place: String
    public let startsAt: Date
    public let endsAt: Date
    public let capacity: Int?
    public let answerDeadline: Date?
    public let createdBy: AccountID?
    public let organizerName: String?
    public let createdAt: Date
    public let updatedAt: Date
    public let revision: Int
    public let cancelledAt: Date?
    public let cancelReason: String?
    public let remindAt: Date?
    public let remindedAt: Date?
    /// People in 'going' answers, and in 'maybe' ones; answers saying 'not going'.
    public let goingHeads: Int
    public let maybeHeads: Int
    public let notGoingCount: Int
}

/// One member's answer to an event.
public struct EventAnswerRecord: Sendable, Equatable {
    public let accountID: AccountID
    public let displayName: String
    public let answer: EventAnswer
    public let headCount: Int
    public let comment: String
    public let remindByMail: Bool
    public let answeredAt: Date
}

/// Someone an event's reminder or change is for: their account, and their address when
/// they asked for mail.
public struct EventAudienceMember: Sendable, Equatable {
    public let accountID: AccountID
    public let answer: EventAnswer
    public let email: String?
}

public enum GroupEventStore {
    /// Reminder workers LISTEN here: an event's reminder time was set or moved.
    public static let reminderChannel = "kairan_event_reminders"

    static let columns = """
        e.id, e.group_id, g.name, e.title, e.description, e.place, e.starts_at, e.ends_at, e.capacity, e.answer_deadline,
        e.created_by, a.display_name, e.created_at, e.updated_at, e.revision, e.cancelled_at, e.cancel_reason, e.remind_at, e.reminded_at,
        coalesce((SELECT sum(head_count) FROM group_event_answers x WHERE x.event_id = e.id AND x.answer = 'going'), 0)::int,
        coalesce((SELECT sum(head_count) FROM group_event_answers x WHERE x.event_id = e.id AND x.answer = 'maybe'), 0)::int,
        (SELECT count(*) FROM group_event_answers x WHERE x.event_id = e.id AND x.answer = 'not_going')::int
        FROM group_events e JOIN groups g ON g.id = e.group_id LEFT JOIN accounts a ON a.id = e.created_by
        """

    private static func records(_ query: PostgresQuery, on db: DatabaseConnection) async throws -> [GroupEventRecord] {
        var records: [GroupEventRecord] = []
        let rows = try await db.query(query)
        for try await row in rows.decode((Int64, Int64, String, String, String, String, Date, Date, Int?, Date?, Int64?, String?, Date, Date, Int, Date?,
                                          String?, Date?, Date?, Int, Int, Int).self) {
            records.append(GroupEventRecord(
                id: row.0, groupID: row.1, groupName: row.2, title: row.3, description: row.4, place: row.5, startsAt: row.6, endsAt: row.7,
                capacity: row.8, answerDeadline: row.9, createdBy: row.10, organizerName: row.11, createdAt: row.12, updatedAt: row.13,
                revision: row.14, cancelledAt: row.15, cancelReason: row.16, remindAt: row.17, remindedAt: row.18, goingHeads: row.19,
                maybeHeads: row.20, notGoingCount: row.21))
        }
        return records
    }

    public static func insert(group: GroupID, draft: EventDraft, author: AccountID, remindAt: Date?, now: Date, on db: DatabaseConnection) async throws -> EventID {
        let rows = try await db.query("""
            INSERT INTO group_events (group_id, title, description, place, starts_at, ends_at, capacity, answer_deadline, created_by, created_at, updated_at, remind_at)
            VALUES (\(group), \(draft.title), \(draft.description), \(draft.place), \(draft.startsAt), \(draft.endsAt), \(draft.capacity),
                    \(draft.answerDeadline), \(author), \(now), \(now), \(remindAt))
            RETURNING id
            """)
        for try await id in rows.decode(Int64.self) {
            if remindAt != nil { try await db.query("SELECT pg_notify(\(reminderChannel), '')") }
            return id
        }
        preconditionFailure("INSERT … RETURNING returned no row")
    }

    /// `lock`: FOR UPDATE of the event's row, so answers (and the capacity they use up),
    /// changes and the reminder of one event take turns.
    public static func find(_ id: EventID, lock: Bool = false, on db: DatabaseConnection) async throws -> GroupEventRecord? {
        if lock {
            // Locked first on its own: FOR UPDATE cannot sit beside the aggregates.
            var found = false
            for try await _ in try await db.query("SELECT 1 FROM group_events WHERE id = \(id) FOR UPDATE").decode(Int.self) { found = true }
            guard found else { return nil }
        }
        return try await records("SELECT \(unescaped: columns) WHERE e.id = \(id)", on: db).first
    }

    /// A group's events not yet over (soonest first), or over (latest first).
    public static func list(group: GroupID, past: Bool, before: Date?, limit: Int, now: Date, on db: DatabaseConnection) async throws -> [GroupEventRecord] {
        if past {
            return try await records("""
                SELECT \(unescaped: columns) WHERE e.group_id = \(group) AND e.ends_at < \(now) AND (\(before)::timestamptz IS NULL OR e.starts_at < \(before))
                ORDER BY e.starts_at DESC, e.id DESC LIMIT \(limit)
                """, on: db)
        }
        return try await records("""
            SELECT \(unescaped: columns) WHERE e.group_id = \(group) AND e.ends_at >= \(now)
            ORDER BY e.starts_at, e.id LIMIT \(limit)
            """, on: db)
    }

    /// Changes the event; `revision` goes up by one. Returns nothing (the caller reads it).
    public static func update(_ id: EventID, draft: EventDraft, remindAt: Date?, resetReminder: Bool, now: Date, on db: DatabaseConnection) async throws {
        try await db.query("""
            UPDATE group_events SET title = \(draft.title), description = \(draft.description), place = \(draft.place),
                starts_at = \(draft.startsAt), ends_at = \(draft.endsAt), capacity = \(draft.capacity), answer_deadline = \(draft.answerDeadline),
                updated_at = \(now), revision = revision + 1, remind_at = \(remindAt),
                reminded_at = CASE WHEN \(resetReminder) THEN NULL ELSE reminded_at END
            WHERE id = \(id)
            """)
        if remindAt != nil { try await db.query("SELECT pg_notify(\(reminderChannel), '')") }
    }

    public static func cancel(_ id: EventID, reason: String?, now: Date, on db: DatabaseConnection) async throws {
        try await db.query("""
            UPDATE group_events SET cancelled_at = \(now), cancel_reason = \(reason), updated_at = \(now), revision = revision + 1
            WHERE id = \(id)
            """)
    }

    /// Records the member's answer (replacing an earlier one).
    public static func answer(event: EventID, account: AccountID, reply: EventReply, now: Date, on db: DatabaseConnection) async throws {
        try await db.query("""
            INSERT INTO group_event_answers (event_id, account_id, answer, head_count, comment, remind_by_mail, answered_at)
            VALUES (\(event), \(account), \(reply.answer.rawValue), \(Int16(reply.headCount)), \(reply.comment), \(reply.remindByMail), \(now))
            ON CONFLICT (event_id, account_id) DO UPDATE
            SET answer = excluded.answer, head_count = excluded.head_count, comment = excluded.comment,
                remind_by_mail = excluded.remind_by_mail, answered_at = excluded.answered_at
            """)
    }

    public static func removeAnswer(event: EventID, account: AccountID, on db: DatabaseConnection) async throws -> Bool {
        var removed = false
        for try await _ in try await db.query("""
            DELETE FROM group_event_answers WHERE event_id = \(event) AND account_id = \(account) RETURNING 1
            """).decode(Int.self) { removed = true }
        return removed
    }

    /// Everyone's answers, in the order they came (the organiser's list and export).
    public static func answers(event: EventID, on db: DatabaseConnection) async throws -> [EventAnswerRecord] {
        var answers: [EventAnswerRecord] = []
        for try await row in try await db.query("""
            SELECT x.account_id, a.display_name, x.answer, x.head_count::int, x.comment, x.remind_by_mail, x.answered_at
            FROM group_event_answers x JOIN accounts a ON a.id = x.account_id
            WHERE x.event_id = \(event) ORDER BY x.answered_at, x.account_id
            """).decode((Int64, String, String, Int, String, Bool, Date).self) {
            answers.append(EventAnswerRecord(accountID: row.0, displayName: row.1, answer: EventAnswer(rawValue: row.2) ?? .maybe, headCount: row.3,
                                             comment: row.4, remindByMail: row.5, answeredAt: row.6))
        }
        return answers
    }

    public static func answer(event: EventID, account: AccountID, on db: DatabaseConnection) async throws -> EventAnswerRecord? {
        for try await row in try await db.query("""
            SELECT x.account_id, a.display_name, x.answer, x.head_count::int, x.comment, x.remind_by_mail, x.answered_at
            FROM group_event_answers x JOIN accounts a ON a.id = x.account_id
            WHERE x.event_id = \(event) AND x.account_id = \(account)
            """).decode((Int64, String, String, Int, String, Bool, Date).self) {
            return EventAnswerRecord(accountID: row.0, displayName: row.1, answer: EventAnswer(rawValue: row.2) ?? .maybe, headCount: row.3,
                                     comment: row.4, remindByMail: row.5, answeredAt: row.6)
        }
        return nil
    }

    /// People in 'going' answers other than `account`'s (what is left of the capacity).
    public static func goingHeads(event: EventID, excluding account: AccountID, on db: DatabaseConnection) async throws -> Int {
        for try await n in try await db.query("""
            SELECT coalesce(sum(head_count), 0)::int FROM group_event_answers
            WHERE event_id = \(event) AND answer = 'going' AND account_id <> \(account)
            """).decode(Int.self) { return n }
        return 0
    }

    /// Who answered with one of `answers` and is still in the group (a member who left or
    /// was removed hears nothing more of its events), with their address when they asked
    /// for mail and their account still works.
    public static func audience(event: EventID, answers: [EventAnswer], on db: DatabaseConnection) async throws -> [EventAudienceMember] {
        var members: [EventAudienceMember] = []
        for try await (account, answer, email) in try await db.query("""
            SELECT x.account_id, x.answer, CASE WHEN x.remind_by_mail AND a.disabled_at IS NULL THEN a.email END
            FROM group_event_answers x
            JOIN group_events e ON e.id = x.event_id
            JOIN group_members m ON m.group_id = e.group_id AND m.account_id = x.account_id
            JOIN accounts a ON a.id = x.account_id
            WHERE x.event_id = \(event) AND x.answer = ANY(\(answers.map(\.rawValue))::text[])
            ORDER BY x.account_id
            """).decode((Int64, String, String?).self) {
            members.append(EventAudienceMember(accountID: account, answer: EventAnswer(rawValue: answer) ?? .maybe, email: email))
        }
        return members
    }

    /// Events whose reminder is due, earliest first.
    public static func dueReminders(now: Date, limit: Int, on db: DatabaseConnection) async throws -> [EventID] {
        var ids: [EventID] = []
        for try await id in try await db.query("""
            SELECT id FROM group_events
            WHERE reminded_at IS NULL AND cancelled_at IS NULL AND remind_at <= \(now)
            ORDER BY remind_at, id LIMIT \(limit)
            """).decode(Int64.self) { ids.append(id) }
        return ids
    }

    /// The event locked for this transaction when its reminder is still due; false when
    /// another worker holds it or has sent it.
    public static func lockDueReminder(_ id: EventID, now: Date, on db: DatabaseConnection) async throws -> Bool {
        for try await _ in try await db.query("""
            SELECT 1 FROM group_events
            WHERE id = \(id) AND reminded_at IS NULL AND cancelled_at IS NULL AND remind_at <= \(now)
            FOR UPDATE SKIP LOCKED
            """).decode(Int.self) { return true }
        return false
    }

    /// A reminder that failed is tried again later, so it cannot hold up the others.
    public static func postponeReminder(_ id: EventID, until: Date, on db: DatabaseConnection) async throws {
        try await db.query("UPDATE group_events SET remind_at = \(until) WHERE id = \(id) AND reminded_at IS NULL")
    }

    public static func markReminded(_ id: EventID, now: Date, on db: DatabaseConnection) async throws {
        try await db.query("UPDATE group_events SET reminded_at = \(now) WHERE id = \(id)")
    }

    /// The earliest reminder still to send.
    public static func nextReminder(on db: DatabaseConnection) async throws -> Date? {
        for try await date in try await db.query("""
            SELECT min(remind_at) FROM group_events WHERE reminded_at IS NULL AND cancelled_at IS NULL
            """).decode(Date?.self) { return date }
        return nil
    }
}
