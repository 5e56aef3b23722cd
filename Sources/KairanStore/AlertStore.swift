import Foundation
import KairanCore
import Logging
import PostgresNIO

public struct AlertCategoryRecord: Sendable, Equatable {
    public let id: Int64
    public let code: String
    public let name: String
    public let mandatory: Bool
    public let position: Int
    public let archived: Bool
}

public struct AlertAreaRecord: Sendable, Equatable {
    public let id: Int64
    public let code: String
    public let name: String
    public let position: Int
    public let archived: Bool
}

public struct SubscriberRecord: Sendable, Equatable {
    public let id: Int64
    public let email: String
    public let charset: String
    public let windowStart: Int?
    public let windowEnd: Int?
    public let allAreas: Bool
    public let manageToken: String
    public let status: String
    public let createdAt: Date
    /// Codes of the optional categories chosen (mandatory ones are always received).
    public let categoryCodes: [String]
    public let areaCodes: [String]
}

public struct AlertRecord: Sendable {
    public let id: Int64
    public let messageID: Int64
    public let categoryCode: String
    public let areaCodes: [String]
    public let urgent: Bool
    public let subject: String
    public let body: String
    public let sendAt: Date
    public let createdAt: Date
    public let cancelledAt: Date?
    public let deadlineAt: Date?
    /// Urgent and still not fully delivered when its deadline passed (reported by a worker).
    public let deadlineMissed: Bool
    public let recipientCount: Int
    /// Photos and PDFs, linked from the mail (`/a/<publicToken>/files/<id>`).
    public let attachments: [AttachmentRecord]
    public let publicToken: String?
    /// Devices of app users who asked for it (Web Push), and how many the push service took.
    public let pushDevices: Int
    public let pushSent: Int
    /// Files taken off it after it went out (their links say so).
    public let withdrawnFiles: [WithdrawnFile]
}

/// A file taken off a town alert after it went out.
public struct WithdrawnFile: Sendable, Equatable, Codable {
    /// The attachment id its link named.
    public let id: AttachmentID
    public let filename: String
    public let withdrawnAt: Date
}

/// What the town's alert mail service stores: categories, areas, subscribers, alerts.
public enum AlertStore {
    // MARK: Categories and areas

    public static func categories(on db: DatabaseConnection) async throws -> [AlertCategoryRecord] {
        var result: [AlertCategoryRecord] = []
        for try await (id, code, name, mandatory, position, archived) in try await db.query("""
            SELECT id, code, name, mandatory, position, archived_at IS NOT NULL FROM alert_categories ORDER BY position, id
            """).decode((Int64, String, String, Bool, Int32, Bool).self) {
            result.append(AlertCategoryRecord(id: id, code: code, name: name, mandatory: mandatory, position: Int(position), archived: archived))
        }
        return result
    }

    /// Creates or updates by code. Returns nil when the code is new and `name` is missing.
    public static func upsertCategory(
        code: String, name: String?, mandatory: Bool?, position: Int?, archived: Bool?, now: Date,
        on db: DatabaseConnection
    ) async throws -> AlertCategoryRecord? {
        for try await (id, code, name, mandatory, position, archived) in try await db.query("""
            INSERT INTO alert_categories AS c (code, name, mandatory, position, archived_at)
            -- The row offered for insertion carries the existing name when none is given:
            -- PostgreSQL checks NOT NULL before it resolves the conflict into an update.
            SELECT \(code)::text, coalesce(\(name)::text, (SELECT name FROM alert_categories WHERE code = \(code)::text)),
                   coalesce(\(mandatory)::boolean, false), coalesce(\(position.map(Int32.init))::int, 100), CASE WHEN \(archived)::boolean THEN \(now) END
            WHERE \(name)::text IS NOT NULL OR EXISTS (SELECT 1 FROM alert_categories WHERE code = \(code)::text)
            ON CONFLICT (code) DO UPDATE SET
                name = coalesce(\(name)::text, c.name), mandatory = coalesce(\(mandatory)::boolean, c.mandatory),
                position = coalesce(\(position.map(Int32.init))::int, c.position),
                archived_at = CASE WHEN \(archived)::boolean IS NULL THEN c.archived_at WHEN \(archived)::boolean THEN coalesce(c.archived_at, \(now)) END
            RETURNING id, code, name, mandatory, position, archived_at IS NOT NULL
            """).decode((Int64, String, String, Bool, Int32, Bool).self) {
            return AlertCategoryRecord(id: id, code: code, name: name, mandatory: mandatory, position: Int(position), archived: archived)
        }
        return nil
    }

    public static func areas(on db: DatabaseConnection) async throws -> [AlertAreaRecord] {
        var result: [AlertAreaRecord] = []
        for try await (id, code, name, position, archived) in try await db.query("""
            SELECT id, code, name, position, archived_at IS NOT NULL FROM alert_areas ORDER BY position, id
            """).decode((Int64, String, String, Int32, Bool).self) {
            result.append(AlertAreaRecord(id: id, code: code, name: name, position: Int(position), archived: archived))
        }
        return result
    }

    public static func upsertArea(
        code: String, name: String?, position: Int?, archived: Bool?, now: Date, on db: DatabaseConnection
    ) async throws -> AlertAreaRecord? {
        for try await (id, code, name, position, archived) in try await db.query("""
            INSERT INTO alert_areas AS a (code, name, position, archived_at)
            -- The existing name when none is given (see upsertCategory).
            SELECT \(code)::text, coalesce(\(name)::text, (SELECT name FROM alert_areas WHERE code = \(code)::text)),
                   coalesce(\(position.map(Int32.init))::int, 100), CASE WHEN \(archived)::boolean THEN \(now) END
            WHERE \(name)::text IS NOT NULL OR EXISTS (SELECT 1 FROM alert_areas WHERE code = \(code)::text)
            ON CONFLICT (code) DO UPDATE SET
                name = coalesce(\(name)::text, a.name), position = coalesce(\(position.map(Int32.init))::int, a.position),
                archived_at = CASE WHEN \(archived)::boolean IS NULL THEN a.archived_at WHEN \(archived)::boolean THEN coalesce(a.archived_at, \(now)) END
            RETURNING id, code, name, position, archived_at IS NOT NULL
            """).decode((Int64, String, String, Int32, Bool).self) {
            return AlertAreaRecord(id: id, code: code, name: name, position: Int(position), archived: archived)
        }
        return nil
    }

    // MARK: Subscribers

    static let subscriberColumns = """
        s.id, s.email, s.charset, s.window_start, s.window_end, s.all_areas, s.manage_token, s.status, s.created_at,
        ARRAY(SELECT c.code FROM alert_subscriber_categories sc JOIN alert_categories c ON c.id = sc.category_id
              WHERE sc.subscriber_id = s.id ORDER BY c.position, c.id),
        ARRAY(SELECT a.code FROM alert_subscriber_areas sa JOIN alert_areas a ON a.id = sa.area_id
              WHERE sa.subscriber_id = s.id ORDER BY a.position, a.id)
        """
    typealias SubscriberRow = (Int64, String, String, Int16?, Int16?, Bool, String, String, Date, [String], [String])

    static func subscriber(_ row: SubscriberRow) -> SubscriberRecord {
        SubscriberRecord(id: row.0, email: row.1, charset: row.2, windowStart: row.3.map(Int.init), windowEnd: row.4.map(Int.init),
                         allAreas: row.5, manageToken: row.6, status: row.7, createdAt: row.8, categoryCodes: row.9, areaCodes: row.10)
    }

    /// The settings a subscriber chooses.
    public struct Preferences: Sendable {
        public var charset: String
        public var windowStart: Int?
        public var windowEnd: Int?
        /// Optional categories to receive; nil = all of them.
        public var categoryCodes: [String]?
        /// Areas; empty = the whole town.
        public var areaCodes: [String]
        public init(charset: String = "utf-8", windowStart: Int? = nil, windowEnd: Int? = nil, categoryCodes: [String]? = nil, areaCodes: [String] = []) {
            self.charset = charset
            self.windowStart = windowStart
            self.windowEnd = windowEnd
            self.categoryCodes = categoryCodes
            self.areaCodes = areaCodes
        }
    }

    /// Subscribes `address` (creating the subscriber, or reactivating and resetting an
    /// unsubscribed or suppressed one: a new opt-in is a new consent). With
    /// `keepActivePreferences`, an already active subscriber keeps their settings (a second
    /// empty mail must not undo them).
    public static func subscribe(
        _ address: EmailAddress, preferences: Preferences, token: String, keepActivePreferences: Bool = false, now: Date,
        on db: DatabaseConnection
    ) async throws -> SubscriberRecord {
        var wasActive = false
        for try await status in try await db.query(
            "SELECT status FROM alert_subscribers WHERE email_key = \(address.comparisonKey) FOR UPDATE"
        ).decode(String.self) {
            wasActive = status == "active"
        }
        var id: Int64 = 0
        for try await value in try await db.query("""
            INSERT INTO alert_subscribers AS s (email, email_key, domain, charset, manage_token, created_at, confirmed_at)
            VALUES (\(address.raw), \(address.comparisonKey), \(address.domain.lowercased()), \(preferences.charset), \(token), \(now), \(now))
            ON CONFLICT (email_key) DO UPDATE SET
                email = excluded.email, status = 'active', confirmed_at = \(now), unsubscribed_at = NULL, suppressed_at = NULL
            RETURNING id
            """).decode(Int64.self) {
            id = value
        }
        // A fresh consent clears the bounce record that suppressed the address.
        try await db.query("DELETE FROM mail_address_status WHERE email_key = \(address.comparisonKey)")
        if !(wasActive && keepActivePreferences) {
            try await setPreferences(subscriber: id, preferences, on: db)
        }
        guard let record = try await subscriber(id: id, on: db) else { preconditionFailure("subscriber vanished") }
        return record
    }

    public static func setPreferences(subscriber id: Int64, _ preferences: Preferences, on db: DatabaseConnection) async throws {
        try await db.query("""
            UPDATE alert_subscribers SET charset = \(preferences.charset), window_start = \(preferences.windowStart.map(Int16.init)),
                window_end = \(preferences.windowEnd.map(Int16.init)), all_areas = \(preferences.areaCodes.isEmpty)
            WHERE id = \(id)
            """)
        try await db.query("DELETE FROM alert_subscriber_categories WHERE subscriber_id = \(id)")
        try await db.query("""
            INSERT INTO alert_subscriber_categories (subscriber_id, category_id)
            SELECT \(id), c.id FROM alert_categories c
            WHERE NOT c.mandatory AND c.archived_at IS NULL AND (\(preferences.categoryCodes)::text[] IS NULL OR c.code = ANY(\(preferences.categoryCodes)::text[]))
            """)
        try await db.query("DELETE FROM alert_subscriber_areas WHERE subscriber_id = \(id)")
        try await db.query("""
            INSERT INTO alert_subscriber_areas (subscriber_id, area_id)
            SELECT \(id), a.id FROM alert_areas a WHERE a.archived_at IS NULL AND a.code = ANY(\(preferences.areaCodes)::text[])
            """)
    }

    public static func subscriber(id: Int64, on db: DatabaseConnection) async throws -> SubscriberRecord? {
        try await subscriber("SELECT \(unescaped: subscriberColumns) FROM alert_subscribers s WHERE s.id = \(id)", on: db)
    }

    /// By the secret in the subscriber's mail links.
    public static func subscriber(token: String, on db: DatabaseConnection) async throws -> SubscriberRecord? {
        try await subscriber("SELECT \(unescaped: subscriberColumns) FROM alert_subscribers s WHERE s.manage_token = \(token)",
                             on: db)
    }

    private static func subscriber(_ query: PostgresQuery, on db: DatabaseConnection) async throws -> SubscriberRecord? {
        for try await row in try await db.query(query).decode(SubscriberRow.self) {
            return subscriber(row)
        }
        return nil
    }

    /// Lists subscribers, newest first; `email` finds one address (exact, domain case-insensitive).
    public static func subscribers(
        status: String?, emailKey: String?, before: Int64?, limit: Int, on db: DatabaseConnection
    ) async throws -> [SubscriberRecord] {
        var result: [SubscriberRecord] = []
        for try await row in try await db.query(("""
            SELECT \(unescaped: subscriberColumns) FROM alert_subscribers s
            WHERE (\(status)::text IS NULL OR s.status = \(status)) AND (\(emailKey)::text IS NULL OR s.email_key = \(emailKey)) AND (\(before)::bigint IS NULL OR s.id < \(before))
            ORDER BY s.id DESC LIMIT \(limit)
            """ as PostgresQuery)).decode(SubscriberRow.self) {
            result.append(subscriber(row))
        }
        return result
    }

    /// Unsubscribes and withdraws every alert mail still queued for the subscriber.
    /// Returns false when there is no such subscriber.
    public static func unsubscribe(subscriber id: Int64, now: Date, on db: DatabaseConnection) async throws -> Bool {
        var found = false
        for try await _ in try await db.query("""
            UPDATE alert_subscribers SET status = 'unsubscribed', unsubscribed_at = coalesce(unsubscribed_at, \(now))
            WHERE id = \(id) RETURNING id
            """).decode(Int64.self) {
            found = true
        }
        guard found else { return false }
        try await db.query("""
            UPDATE deliveries SET state = 'cancelled', last_reply = 'recipient unsubscribed'
            WHERE recipient = \("subscriber:\(id)") AND state = 'queued'
            """)
        return true
    }

    // MARK: Alerts

    /// Everything about one alert send that the enqueue statement needs.
    public struct AlertDraft: Sendable {
        public let category: AlertCategoryRecord
        public let areaIDs: [Int64]
        public let urgent: Bool
        public let sendAt: Date
        /// Sent at a chosen time (spread away from the top of the hour), rather than now.
        public let scheduled: Bool
        public let deadline: Date?
        public init(category: AlertCategoryRecord, areaIDs: [Int64], urgent: Bool, sendAt: Date, scheduled: Bool, deadline: Date?) {
            self.category = category
            self.areaIDs = areaIDs
            self.urgent = urgent
            self.sendAt = sendAt
            self.scheduled = scheduled
            self.deadline = deadline
        }
    }

    /// Timing rules the enqueue statement applies per recipient.
    public struct Timing: Sendable {
        public var zone: String
        public var avoidTopOfHourSeconds: Int
        public var spreadSeconds: Int
        public init(zone: String = "Asia/Tokyo", avoidTopOfHourSeconds: Int = 300, spreadSeconds: Int = 900) {
            self.zone = zone
            self.avoidTopOfHourSeconds = avoidTopOfHourSeconds
            self.spreadSeconds = spreadSeconds
        }
    }

    /// Writes the alert and one mail job per matching subscriber in one INSERT … SELECT:
    /// the whole fan-out is one statement, whatever the number of subscribers. Returns the
    /// number of jobs.
    public static func enqueueAlert(
        message: Int64, draft: AlertDraft, timing: Timing, on db: DatabaseConnection
    ) async throws -> Int {
        let priority: Int16 = draft.urgent ? 1 : 0
        var count = 0
        for try await n in try await db.query("""
            WITH inserted AS (
                INSERT INTO deliveries (message_id, recipient, channel, address, domain, charset, unsubscribe_token, priority, due_at)
                SELECT \(message), 'subscriber:' || s.id, 'mail', s.email, s.domain, s.charset, s.manage_token, \(priority),
                       kairan_delivery_due(\(draft.sendAt), \(draft.urgent), s.window_start, s.window_end, \(draft.scheduled),
                                           \(timing.avoidTopOfHourSeconds)::int, \(timing.spreadSeconds)::int, \(timing.zone)::text, s.id)
                FROM alert_subscribers s
                WHERE s.status = 'active'
                  AND (\(draft.category.mandatory) OR EXISTS (
                        SELECT 1 FROM alert_subscriber_categories c WHERE c.subscriber_id = s.id AND c.category_id = \(draft.category.id)))
                  AND (cardinality(\(draft.areaIDs)::bigint[]) = 0 OR s.all_areas OR EXISTS (
                        SELECT 1 FROM alert_subscriber_areas a WHERE a.subscriber_id = s.id AND a.area_id = ANY(\(draft.areaIDs)::bigint[])))
                  AND NOT EXISTS (SELECT 1 FROM mail_address_status m WHERE m.email_key = s.email_key AND m.suppressed_at IS NOT NULL)
                ON CONFLICT (message_id, recipient, channel) DO NOTHING
                RETURNING 1
            )
            SELECT count(*)::int FROM inserted
            """).decode(Int.self) {
            count = n
        }
        try await DeliveryStore.notifyWorkers(on: db)
        return count
    }

    public static func insertAlert(
        message: Int64, draft: AlertDraft, recipients: Int, createdBy: AccountID?, publicToken: String? = nil, now: Date, on db: DatabaseConnection
    ) async throws -> Int64 {
        for try await id in try await db.query("""
            INSERT INTO alerts (message_id, category_id, area_ids, send_at, created_by, created_at, recipient_count, public_token)
            VALUES (\(message), \(draft.category.id), \(draft.areaIDs), \(draft.sendAt), \(createdBy), \(now), \(recipients), \(publicToken))
            RETURNING id
            """).decode(Int64.self) {
            return id
        }
        preconditionFailure("INSERT … RETURNING returned no row")
    }

    static let alertColumns = """
        a.id, a.message_id, c.code, ARRAY(SELECT ar.code FROM alert_areas ar WHERE ar.id = ANY(a.area_ids) ORDER BY ar.position, ar.id),
        m.urgent, m.subject, m.body, a.send_at, a.created_at, a.cancelled_at, m.deadline_at, a.recipient_count,
        m.deadline_missed, a.public_token, \(AttachmentStore.jsonColumn(owner: "alert_id", id: "a.id")),
        (SELECT count(*) FROM push_deliveries p WHERE p.source = 'alert:' || a.id)::int,
        (SELECT count(*) FROM push_deliveries p WHERE p.source = 'alert:' || a.id AND p.state = 'sent')::int,
        \(withdrawnFilesColumn)
        """
    typealias AlertRow = (Int64, Int64, String, [String], Bool, String, String, Date, Date, Date?, Date?, Int32, Bool, String?, String, Int, Int, String)

    static func alert(_ row: AlertRow) -> AlertRecord {
        AlertRecord(id: row.0, messageID: row.1, categoryCode: row.2, areaCodes: row.3, urgent: row.4, subject: row.5, body: row.6,
                    sendAt: row.7, createdAt: row.8, cancelledAt: row.9, deadlineAt: row.10, deadlineMissed: row.12, recipientCount: Int(row.11),
                    attachments: AttachmentStore.decodeColumn(row.14), publicToken: row.13, pushDevices: row.15, pushSent: row.16,
                    withdrawnFiles: decodeWithdrawnFiles(row.17))
    }

    /// The files taken off the alert `a` since it went out, as JSON ('' when none, as most).
    static let withdrawnFilesColumn = """
        coalesce((SELECT json_agg(json_build_object('id', w.attachment_id, 'filename', w.filename, \
        'withdrawnAt', extract(epoch FROM w.withdrawn_at)) ORDER BY w.withdrawn_at, w.attachment_id)::text \
        FROM alert_file_withdrawals w WHERE w.alert_id = a.id), '')
        """

    static func decodeWithdrawnFiles(_ text: String) -> [WithdrawnFile] {
        guard !text.isEmpty else { return [] }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return (try? decoder.decode([WithdrawnFile].self, from: Data(text.utf8))) ?? []
    }

    /// Takes a file off an alert: the attachment goes, a withdrawal row records it. Returns
    /// the file's stored bytes' key, or nil when the alert has no such file (any more).
    public static func withdrawFile(alert: Int64, attachment: AttachmentID, by account: AccountID, now: Date,
                                    on db: DatabaseConnection) async throws -> String? {
        for try await key in try await db.query("""
            WITH gone AS (
                DELETE FROM attachments WHERE id = \(attachment) AND alert_id = \(alert)
                RETURNING id, alert_id, filename, content_type, byte_size, sha256
            ), kept AS (
                INSERT INTO alert_file_withdrawals (alert_id, attachment_id, filename, content_type, byte_size, withdrawn_by, withdrawn_at)
                SELECT alert_id, id, filename, content_type, byte_size, \(account), \(now) FROM gone
            ), marked AS (
                -- The collector takes the bytes at its next pass, not a day later.
                UPDATE stored_files SET purge_soon = true WHERE sha256 IN (SELECT sha256 FROM gone)
            )
            SELECT sha256 FROM gone
            """).decode(String.self) {
            return key
        }
        return nil
    }

    /// Locks an alert's row while its files change; returns its send time, nil when there is
    /// no such alert.
    public static func lockForFiles(alert id: Int64, on db: DatabaseConnection) async throws -> Date? {
        for try await sendAt in try await db.query("SELECT send_at FROM alerts WHERE id = \(id) FOR UPDATE").decode(Date.self) {
            return sendAt
        }
        return nil
    }

    /// The withdrawal of one of an alert's files, if it was withdrawn.
    public static func withdrawnFile(alert: Int64, attachment: AttachmentID, on db: DatabaseConnection) async throws -> WithdrawnFile? {
        for try await row in try await db.query("""
            SELECT attachment_id, filename, withdrawn_at FROM alert_file_withdrawals WHERE alert_id = \(alert) AND attachment_id = \(attachment)
            """).decode((Int64, String, Date).self) {
            return WithdrawnFile(id: row.0, filename: row.1, withdrawnAt: row.2)
        }
        return nil
    }

    /// The alerts among these outbox messages (others are notices and the like).
    public static func alertIDs(messages: [Int64], on db: DatabaseConnection) async throws -> [Int64] {
        var result: [Int64] = []
        for try await id in try await db.query("SELECT id FROM alerts WHERE message_id = ANY(\(messages)::bigint[]) ORDER BY id").decode(Int64.self) {
            result.append(id)
        }
        return result
    }

    /// Whether an alert exists (the live stream's check).
    public static func exists(_ id: Int64, on db: DatabaseConnection) async throws -> Bool {
        for try await _ in try await db.query("SELECT 1 FROM alerts WHERE id = \(id)").decode(Int.self) { return true }
        return false
    }

    public static func alert(id: Int64?, message: Int64? = nil, on db: DatabaseConnection) async throws -> AlertRecord? {
        for try await row in try await db.query(("""
            SELECT \(unescaped: alertColumns) FROM alerts a JOIN outbox_messages m ON m.id = a.message_id JOIN alert_categories c ON c.id = a.category_id
            WHERE (\(id)::bigint IS NULL OR a.id = \(id)) AND (\(message)::bigint IS NULL OR a.message_id = \(message))
            """ as PostgresQuery)).decode(AlertRow.self) {
            return alert(row)
        }
        return nil
    }

    public static func alerts(before: Int64?, limit: Int, on db: DatabaseConnection) async throws -> [AlertRecord] {
        var result: [AlertRecord] = []
        for try await row in try await db.query(("""
            SELECT \(unescaped: alertColumns) FROM alerts a JOIN outbox_messages m ON m.id = a.message_id JOIN alert_categories c ON c.id = a.category_id
            WHERE (\(before)::bigint IS NULL OR a.id < \(before)) ORDER BY a.id DESC LIMIT \(limit)
            """ as PostgresQuery)).decode(AlertRow.self) {
            result.append(alert(row))
        }
        return result
    }

    /// Withdraws what has not gone out yet. Returns the number of jobs cancelled, or nil
    /// when there is no such alert.
    public static func cancel(alert id: Int64, now: Date, on db: DatabaseConnection) async throws -> Int? {
        var message: Int64?
        for try await value in try await db.query("""
            UPDATE alerts SET cancelled_at = coalesce(cancelled_at, \(now)) WHERE id = \(id) RETURNING message_id
            """).decode(Int64.self) {
            message = value
        }
        guard let message else { return nil }
        try await AlertPushStore.cancel(alert: id, on: db)
        var count = 0
        for try await n in try await db.query("""
            WITH c AS (UPDATE deliveries SET state = 'cancelled', last_reply = 'alert cancelled'
                       WHERE message_id = \(message) AND state = 'queued' RETURNING 1)
            SELECT count(*)::int FROM c
            """).decode(Int.self) {
            count = n
        }
        return count
    }

    /// One row of the per-recipient delivery record.
    public struct DeliveryRow: Sendable {
        public let id: Int64
        public let address: String
        public let state: String
        public let attempts: Int
        public let lastAttemptAt: Date?
        public let sentAt: Date?
        public let lastReply: String?
    }

    /// The delivery record of a message in id order, a page at a time.
    public static func deliveries(message: Int64, after: Int64, limit: Int, on db: DatabaseConnection) async throws -> [DeliveryRow] {
        var rows: [DeliveryRow] = []
        for try await (id, address, state, attempts, lastAttempt, sent, reply) in try await db.query("""
            SELECT id, address, state, attempts, last_attempt_at, sent_at, last_reply FROM deliveries
            WHERE message_id = \(message) AND id > \(after) ORDER BY id LIMIT \(limit)
            """).decode((Int64, String, String, Int32, Date?, Date?, String?).self) {
            rows.append(DeliveryRow(id: id, address: address, state: state, attempts: Int(attempts), lastAttemptAt: lastAttempt, sentAt: sent, lastReply: reply))
        }
        return rows
    }
}
