import Foundation
import PostgresNIO

/// Town alerts on app users' devices (Web Push): who asked for which alerts, and the pushes
/// an alert makes for them.
public enum AlertPushStore {
    /// The account's choices as category and area codes; nil when it has not asked for alerts.
    public static func preferences(account: Int64, on db: DatabaseConnection) async throws -> (categories: [String], areas: [String])? {
        for try await row in try await db.query("""
            SELECT ARRAY(SELECT c.code FROM alert_categories c WHERE c.id = ANY(p.category_ids) AND c.archived_at IS NULL ORDER BY c.position, c.id),
                   ARRAY(SELECT a.code FROM alert_areas a WHERE a.id = ANY(p.area_ids) AND a.archived_at IS NULL ORDER BY a.position, a.id)
            FROM alert_push_preferences p WHERE p.account_id = \(account)
            """).decode(([String], [String]).self) {
            return (row.0, row.1)
        }
        return nil
    }

    /// Stores the choices (codes the caller checked exist).
    public static func setPreferences(account: Int64, categories: [String], areas: [String], now: Date, on db: DatabaseConnection) async throws {
        try await db.query("""
            INSERT INTO alert_push_preferences (account_id, category_ids, area_ids, updated_at)
            VALUES (\(account),
                    ARRAY(SELECT id FROM alert_categories WHERE code = ANY(\(categories)::text[])),
                    ARRAY(SELECT id FROM alert_areas WHERE code = ANY(\(areas)::text[])), \(now))
            ON CONFLICT (account_id) DO UPDATE
            SET category_ids = excluded.category_ids, area_ids = excluded.area_ids, updated_at = excluded.updated_at
            """)
    }

    public static func removePreferences(account: Int64, on db: DatabaseConnection) async throws {
        try await db.query("DELETE FROM alert_push_preferences WHERE account_id = \(account)")
    }

    /// Withdraws the account's queued alert pushes that its choices no longer ask for (all of
    /// them once it has none): turned off tonight, tomorrow's scheduled alert stays silent.
    public static func cancelUnwanted(account: Int64, on db: DatabaseConnection) async throws {
        try await db.query("""
            UPDATE push_deliveries d SET state = 'cancelled', last_status = 'no longer chosen'
            FROM push_subscriptions s
            WHERE d.subscription_id = s.id AND s.account_id = \(account) AND d.state = 'queued' AND d.source LIKE 'alert:%'
              AND NOT EXISTS (
                SELECT 1 FROM alerts a JOIN alert_categories c ON c.id = a.category_id
                JOIN alert_push_preferences p ON p.account_id = \(account)
                WHERE d.source = 'alert:' || a.id
                  AND (c.mandatory OR c.id = ANY(p.category_ids))
                  AND (cardinality(a.area_ids) = 0 OR cardinality(p.area_ids) = 0 OR p.area_ids && a.area_ids))
            """)
    }

    /// Queues the alert's push for every device of every account whose choices match: a
    /// mandatory category or one they chose, and an area they chose (an alert for the whole
    /// town, or an account that chose no area, always matches). Due at the alert's send
    /// time; the push workers wake when it commits. Returns the number queued.
    @discardableResult
    public static func enqueue(
        alert: Int64, categoryID: Int64, mandatory: Bool, areaIDs: [Int64], payload: String, urgency: String, ttlSeconds: Int,
        dueAt: Date, now: Date, on db: DatabaseConnection
    ) async throws -> Int {
        var accounts: [Int64] = []
        for try await account in try await db.query("""
            SELECT p.account_id FROM alert_push_preferences p
            WHERE (\(mandatory) OR \(categoryID) = ANY(p.category_ids))
              AND (cardinality(\(areaIDs)::bigint[]) = 0 OR cardinality(p.area_ids) = 0 OR p.area_ids && \(areaIDs)::bigint[])
            """).decode(Int64.self) {
            accounts.append(account)
        }
        return try await PushStore.enqueue(source: source(alert), accounts: accounts, payload: payload, urgency: urgency, ttlSeconds: ttlSeconds,
                                           topic: "alert\(alert)", dueAt: dueAt, now: now, on: db)
    }

    /// Withdraws the alert's pushes not sent yet (a scheduled alert cancelled).
    public static func cancel(alert: Int64, on db: DatabaseConnection) async throws {
        try await db.query("""
            UPDATE push_deliveries SET state = 'cancelled', last_status = 'alert cancelled'
            WHERE source = \(source(alert)) AND state = 'queued'
            """)
    }

    static func source(_ alert: Int64) -> String { "alert:\(alert)" }

    /// An alert as its public page shows it.
    public struct PublicAlert: Sendable {
        public let id: Int64
        public let categoryName: String
        public let areaNames: [String]
        public let urgent: Bool
        public let subject: String
        /// As mailed (with the links to its files at the end when it has any).
        public let body: String
        public let sendAt: Date
        public let cancelledAt: Date?
        public let attachments: [AttachmentRecord]
        /// Files staff took off it after it went out.
        public let withdrawnFiles: [WithdrawnFile]
    }

    /// The alert behind a public link, once its send time has come; nil otherwise.
    public static func publicAlert(token: String, now: Date, on db: DatabaseConnection) async throws -> PublicAlert? {
        for try await row in try await db.query("""
            SELECT a.id, c.name, ARRAY(SELECT ar.name FROM alert_areas ar WHERE ar.id = ANY(a.area_ids) ORDER BY ar.position, ar.id),
                   m.urgent, m.subject, m.body, a.send_at, a.cancelled_at, \(unescaped: AttachmentStore.jsonColumn(owner: "alert_id", id: "a.id")),
                   \(unescaped: AlertStore.withdrawnFilesColumn)
            FROM alerts a JOIN outbox_messages m ON m.id = a.message_id JOIN alert_categories c ON c.id = a.category_id
            WHERE a.public_token = \(token) AND a.send_at <= \(now) AND NOT coalesce(a.cancelled_at <= a.send_at, false)
            """).decode((Int64, String, [String], Bool, String, String, Date, Date?, String, String).self) {
            return PublicAlert(id: row.0, categoryName: row.1, areaNames: row.2, urgent: row.3, subject: row.4, body: row.5, sendAt: row.6,
                               cancelledAt: row.7, attachments: AttachmentStore.decodeColumn(row.8),
                               withdrawnFiles: AlertStore.decodeWithdrawnFiles(row.9))
        }
        return nil
    }
}
