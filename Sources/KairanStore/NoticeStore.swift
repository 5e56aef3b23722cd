import Foundation
import KairanCore
import Logging
import PostgresNIO

/// A notice's optional reply form: one question.
public struct ReplyForm: Codable, Sendable, Equatable {
    public let kind: ReplyFormKind
    public let question: String
    /// Choices for `single` and `multiple`; empty for `text`.
    public let options: [String]
    /// Guardians may change their answer until then; nil: until the notice is withdrawn.
    public let deadline: Date?

    public init(kind: ReplyFormKind, question: String, options: [String], deadline: Date?) {
        self.kind = kind
        self.question = question
        self.options = options
        self.deadline = deadline
    }

    /// `options` may be left out (a text answer has none).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        kind = try container.decode(ReplyFormKind.self, forKey: .kind)
        question = try container.decode(String.self, forKey: .question)
        options = try container.decodeIfPresent([String].self, forKey: .options) ?? []
        deadline = try container.decodeIfPresent(Date.self, forKey: .deadline)
    }

    enum CodingKeys: String, CodingKey { case kind, question, options, deadline }
}

/// The channels a notice goes to: the whole organization, grades, classes, custom lists.
public struct NoticeTargets: Codable, Sendable, Equatable {
    public var all: Bool
    public var grades: [Int]
    public var classes: [ClassID]
    public var lists: [NoticeListID]

    public init(all: Bool, grades: [Int], classes: [ClassID], lists: [NoticeListID]) {
        self.all = all
        self.grades = grades
        self.classes = classes
        self.lists = lists
    }

    /// Every part is optional on the wire: `{"classes": [3]}` is enough.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        all = try container.decodeIfPresent(Bool.self, forKey: .all) ?? false
        grades = try container.decodeIfPresent([Int].self, forKey: .grades) ?? []
        classes = try container.decodeIfPresent([ClassID].self, forKey: .classes) ?? []
        lists = try container.decodeIfPresent([NoticeListID].self, forKey: .lists) ?? []
    }

    enum CodingKeys: String, CodingKey { case all, grades, classes, lists }

    public var isEmpty: Bool { !all && grades.isEmpty && classes.isEmpty && lists.isEmpty }
}

public struct NoticeRecord: Sendable, Equatable {
    public let id: NoticeID
    public let organizationID: OrganizationID
    public let authorID: AccountID
    public let urgent: Bool
    public let title: String
    public let body: String
    public let targets: NoticeTargets
    public let form: ReplyForm?
    public let state: NoticeState
    public let sendAt: Date
    public let releaseAt: Date
    public let skipReason: String?
    public let messageID: Int64?
    public let escalateAt: Date?
    public let escalatedAt: Date?
    public let createdAt: Date
    public let sentAt: Date?
    /// Raised by every edit.
    public let revision: Int
}

/// Notices: drafts, the approval queue, publishing through the fan-out core, and the
/// confirmations, answers and escalations that follow.
public enum NoticeStore {
    static let columns = """
        n.id, n.organization_id, n.author_id, n.urgent, n.title, n.body, n.target_all, n.target_grades, n.target_classes, n.target_lists, \
        n.form_kind, n.form_question, n.form_options, n.reply_deadline, n.state, n.send_at, n.release_at, n.skip_reason, n.message_id, \
        n.escalate_at, n.escalated_at, n.created_at, n.sent_at, n.revision
        """
    typealias Row = (Int64, Int64, Int64, Bool, String, String, Bool, [Int16], [Int64], [Int64],
                     String?, String?, [String], Date?, String, Date, Date, String?, Int64?, Date?, Date?, Date, Date?, Int32)

    static func record(_ r: Row) -> NoticeRecord {
        let form = r.10.flatMap(ReplyFormKind.init(rawValue:)).map { kind in
            ReplyForm(kind: kind, question: r.11 ?? "", options: r.12, deadline: r.13)
        }
        return NoticeRecord(
            id: r.0, organizationID: r.1, authorID: r.2, urgent: r.3, title: r.4, body: r.5,
            targets: NoticeTargets(all: r.6, grades: r.7.map(Int.init), classes: r.8, lists: r.9), form: form,
            state: NoticeState(rawValue: r.14) ?? .cancelled, sendAt: r.15, releaseAt: r.16, skipReason: r.17, messageID: r.18,
            escalateAt: r.19, escalatedAt: r.20, createdAt: r.21, sentAt: r.22, revision: Int(r.23))
    }

    static func records(_ query: PostgresQuery, on db: DatabaseConnection) async throws -> [NoticeRecord] {
        var result: [NoticeRecord] = []
        for try await row in try await db.query(query).decode(Row.self) { result.append(record(row)) }
        return result
    }

    public static func organization(ofNotice id: NoticeID, on db: DatabaseConnection) async throws -> OrganizationID? {
        for try await value in try await db.query("SELECT organization_id FROM notices WHERE id = \(id)").decode(Int64.self) {
            return value
        }
        return nil
    }

    /// True when every class and list named belongs to the organization.
    public static func targetsBelong(_ targets: NoticeTargets, to organization: OrganizationID, on db: DatabaseConnection) async throws -> Bool {
        for try await ok in try await db.query("""
            SELECT (SELECT count(*) FROM classes WHERE organization_id = \(organization) AND id = ANY(\(targets.classes)::bigint[]))
                       = cardinality(ARRAY(SELECT DISTINCT unnest(\(targets.classes)::bigint[])))
               AND (SELECT count(*) FROM notice_lists WHERE organization_id = \(organization) AND id = ANY(\(targets.lists)::bigint[]))
                       = cardinality(ARRAY(SELECT DISTINCT unnest(\(targets.lists)::bigint[])))
            """).decode(Bool.self) {
            return ok
        }
        return false
    }

    /// One channel of a notice's targets and how many guardians it reaches now.
    public struct ChannelReach: Sendable, Equatable, Codable {
        /// "all", "grade", "class" or "list".
        public let kind: String
        /// The grade, class or list (0 for "all").
        public let id: Int64
        public let guardians: Int
    }

    /// How many guardians each channel of `targets` reaches today (children enrolled there
    /// whose household has a guardian).
    public static func reach(_ targets: NoticeTargets, in organization: OrganizationID, on db: DatabaseConnection) async throws -> [ChannelReach] {
        let grades = targets.grades.map(Int16.init)
        var result: [ChannelReach] = []
        for try await (kind, id, guardians) in try await db.query("""
            WITH t(kind, id) AS (
                SELECT 'all', 0::bigint WHERE \(targets.all)
                UNION ALL SELECT 'grade', unnest(\(grades)::smallint[])::bigint
                UNION ALL SELECT 'class', unnest(\(targets.classes)::bigint[])
                UNION ALL SELECT 'list', unnest(\(targets.lists)::bigint[]))
            SELECT t.kind, t.id, (
                SELECT count(*) FROM guardians g WHERE g.household_id IN (
                    SELECT c.household_id FROM children c LEFT JOIN classes cl ON cl.id = c.class_id
                    WHERE c.organization_id = \(organization) AND c.household_id IS NOT NULL AND CASE t.kind
                        WHEN 'all' THEN true
                        WHEN 'grade' THEN cl.grade = t.id
                        WHEN 'class' THEN c.class_id = t.id
                        ELSE EXISTS (SELECT 1 FROM notice_list_children lc WHERE lc.child_id = c.id AND lc.list_id = t.id) END))::int
            FROM t
            """).decode((String, Int64, Int).self) {
            result.append(ChannelReach(kind: kind, id: id, guardians: guardians))
        }
        return result
    }

    public static func insert(
        organization: OrganizationID, author: AccountID, urgent: Bool, title: String, body: String, targets: NoticeTargets, form: ReplyForm?,
        state: NoticeState, sendAt: Date, releaseAt: Date, skipReason: String?, idempotencyKey: String? = nil, now: Date, on db: DatabaseConnection
    ) async throws -> NoticeRecord {
        let grades = targets.grades.map(Int16.init)
        let query: PostgresQuery = """
            INSERT INTO notices (organization_id, author_id, urgent, title, body, target_all, target_grades, target_classes, target_lists,
                                 form_kind, form_question, form_options, reply_deadline, state, send_at, release_at, skip_reason, idempotency_key,
                                 created_at, updated_at)
            VALUES (\(organization), \(author), \(urgent), \(title), \(body), \(targets.all), \(grades)::smallint[], \(targets.classes)::bigint[],
                    \(targets.lists)::bigint[], \(form?.kind.rawValue), \(form?.question), \(form?.options ?? [])::text[], \(form?.deadline),
                    \(state.rawValue), \(sendAt), \(releaseAt), \(skipReason), \(idempotencyKey), \(now), \(now))
            RETURNING id
            """
        var id: NoticeID = 0
        for try await value in try await db.query(query).decode(Int64.self) { id = value }
        guard let record = try await find(id, organization: organization, on: db) else {
            preconditionFailure("inserted in this transaction")
        }
        return record
    }

    /// The notice an author already made with this idempotency key.
    public static func find(author: AccountID, idempotencyKey: String, organization: OrganizationID, on db: DatabaseConnection) async throws -> NoticeRecord? {
        for try await id in try await db.query("""
            SELECT id FROM notices WHERE author_id = \(author) AND idempotency_key = \(idempotencyKey) AND organization_id = \(organization)
            """).decode(Int64.self) {
            return try await find(id, organization: organization, on: db)
        }
        return nil
    }

    /// The notice if it is this organization's; `lock` takes its row lock for a state change.
    public static func find(
        _ id: NoticeID, organization: OrganizationID, lock: Bool = false, on db: DatabaseConnection
    ) async throws -> NoticeRecord? {
        let suffix = lock ? " FOR UPDATE" : ""
        let query = ("SELECT \(unescaped: columns) FROM notices n WHERE n.id = \(id) AND n.organization_id = \(organization)\(unescaped: suffix)" as PostgresQuery)
        return try await records(query, on: db).first
    }

    /// A page of an organization's notices, newest first, optionally in one state.
    public static func list(
        organization: OrganizationID, state: NoticeState?, before: NoticeID?, limit: Int, on db: DatabaseConnection
    ) async throws -> [NoticeRecord] {
        let query = ("""
            SELECT \(unescaped: columns) FROM notices n
            WHERE n.organization_id = \(organization) AND (\(state?.rawValue)::text IS NULL OR n.state = \(state?.rawValue)) AND (\(before)::bigint IS NULL OR n.id < \(before))
            ORDER BY n.id DESC LIMIT \(limit)
            """ as PostgresQuery)
        return try await records(query, on: db)
    }

    /// Changes state (and the release time, and the text when an approver edits it).
    public static func update(
        _ id: NoticeID, state: NoticeState, releaseAt: Date? = nil, title: String? = nil, body: String? = nil, now: Date,
        on db: DatabaseConnection
    ) async throws {
        try await db.query("""
            UPDATE notices SET state = \(state.rawValue), release_at = coalesce(\(releaseAt)::timestamptz, release_at),
                title = coalesce(\(title)::text, title), body = coalesce(\(body)::text, body), updated_at = \(now),
                revision = revision + CASE WHEN \(title)::text IS NULL AND \(body)::text IS NULL THEN 0 ELSE 1 END
            WHERE id = \(id)
            """)
    }

    // MARK: - Approval audit trail

    public struct ApprovalEntry: Sendable {
        public let id: Int64
        public let actorID: AccountID
        public let actorName: String
        public let action: ApprovalAction
        public let comment: String?
        public let at: Date
    }

    public static func log(
        _ action: ApprovalAction, notice: NoticeID, organization: OrganizationID, actor: AccountID, comment: String?, now: Date,
        on db: DatabaseConnection
    ) async throws {
        try await db.query("""
            INSERT INTO notice_approval_log (notice_id, organization_id, actor_id, action, comment, at)
            VALUES (\(notice), \(organization), \(actor), \(action.rawValue), \(comment), \(now))
            """)
    }

    public static func approvalLog(notice: NoticeID, on db: DatabaseConnection) async throws -> [ApprovalEntry] {
        var result: [ApprovalEntry] = []
        for try await (id, actor, name, action, comment, at) in try await db.query("""
            SELECT l.id, l.actor_id, a.display_name, l.action, l.comment, l.at
            FROM notice_approval_log l JOIN accounts a ON a.id = l.actor_id WHERE l.notice_id = \(notice) ORDER BY l.id
            """).decode((Int64, Int64, String, String, String?, Date).self) {
            result.append(ApprovalEntry(id: id, actorID: actor, actorName: name, action: ApprovalAction(rawValue: action) ?? .submitted,
                                        comment: comment, at: at))
        }
        return result
    }

    /// Due scheduled notices (ids only; each is then locked and published on its own).
    public static func dueIDs(now: Date, limit: Int, on db: DatabaseConnection) async throws -> [NoticeID] {
        var ids: [NoticeID] = []
        for try await id in try await db.query("""
            SELECT id FROM notices WHERE state = 'scheduled' AND release_at <= \(now) ORDER BY release_at LIMIT \(limit)
            """).decode(Int64.self) {
            ids.append(id)
        }
        return ids
    }

    /// Wakes the notice scheduler: a trigger on `notices` notifies when a notice is
    /// scheduled, released or given an escalation time (migration 0010).
    public static let schedulerChannel = "kairan_notices"

    /// The earliest release or escalation time of any notice, for the scheduler's sleep.
    public static func nextDue(on db: DatabaseConnection) async throws -> Date? {
        for try await next in try await db.query("""
            SELECT least(
                (SELECT release_at FROM notices WHERE state = 'scheduled' ORDER BY release_at LIMIT 1),
                (SELECT escalate_at FROM notices WHERE escalated_at IS NULL AND escalate_at IS NOT NULL AND state = 'sent'
                 ORDER BY escalate_at LIMIT 1)
            )
            """).decode(Date?.self) {
            return next
        }
        return nil
    }

    /// Urgent notices due for escalation (ids only).
    public static func escalationIDs(now: Date, limit: Int, on db: DatabaseConnection) async throws -> [NoticeID] {
        var ids: [NoticeID] = []
        for try await id in try await db.query("""
            SELECT id FROM notices
            WHERE escalated_at IS NULL AND escalate_at IS NOT NULL AND escalate_at <= \(now) AND state = 'sent'
            ORDER BY escalate_at LIMIT \(limit)
            """).decode(Int64.self) {
            ids.append(id)
        }
        return ids
    }

    /// Locks one notice for the scheduler if it is still in the expected state and due;
    /// nil when another worker has it or it changed.
    public static func lockDue(_ id: NoticeID, escalation: Bool, now: Date, on db: DatabaseConnection) async throws -> NoticeRecord? {
        let query: PostgresQuery = escalation
            ? """
              SELECT \(unescaped: columns) FROM notices n
              WHERE n.id = \(id) AND n.escalated_at IS NULL AND n.escalate_at <= \(now) AND n.state = 'sent' FOR UPDATE SKIP LOCKED
              """
            : """
              SELECT \(unescaped: columns) FROM notices n
              WHERE n.id = \(id) AND n.state = 'scheduled' AND n.release_at <= \(now) FOR UPDATE SKIP LOCKED
              """
        return try await records(query, on: db).first
    }

    /// A scheduler failure: the notice is tried again after a growing pause (1, 2, 4 … 60
    /// minutes), and the others go ahead meanwhile.
    public static func postponeAfterFailure(_ id: NoticeID, escalation: Bool, now: Date, on db: DatabaseConnection) async throws {
        try await db.query("""
            UPDATE notices SET scheduler_failures = scheduler_failures + 1,
                release_at = CASE WHEN \(!escalation) THEN \(now) + least(interval '1 minute' * power(2, scheduler_failures), interval '60 minutes') ELSE release_at END,
                escalate_at = CASE WHEN \(escalation) THEN \(now) + least(interval '1 minute' * power(2, scheduler_failures), interval '60 minutes') ELSE escalate_at END
            WHERE id = \(id)
            """)
    }

    /// Locks the notice row: confirmations of one notice are counted one after another, so
    /// the live dashboard's figures only ever grow.
    public static func lockForCounting(_ id: NoticeID, on db: DatabaseConnection) async throws {
        try await db.query("SELECT 1 FROM notices WHERE id = \(id) FOR NO KEY UPDATE")
    }

    /// Whether `account` is staff the organization allows to skip approval for urgent notices.
    public static func maySkipApproval(account: AccountID, organization: OrganizationID, on db: DatabaseConnection) async throws -> Bool {
        for try await value in try await db.query("""
            SELECT may_skip_approval FROM organization_staff WHERE organization_id = \(organization) AND account_id = \(account)
            """).decode(Bool.self) {
            return value
        }
        return false
    }
}
