import Foundation
import KairanCore
import PostgresNIO

/// A feed's conditional-GET validators from its last 200.
public struct JMAFeedValidators: Sendable, Equatable {
    public let lastModified: String?
    public let etag: String?
}

/// An alert from a weather warning waiting for alert staff.
public struct PendingWarningRecord: Sendable, Equatable {
    public let id: Int64
    public let areaCode: String
    public let category: String
    public let areas: [String]
    public let urgent: Bool
    public let subject: String
    public let body: String
    public let reportTime: Date
    public let createdAt: Date
    public let decidedAt: Date?
    public let decision: String?
    public let alertID: Int64?
}

/// What Kairan remembers of JMA's feeds and warnings (migration 0021).
public enum WeatherWarningStore {
    /// Takes the turn to poll when it is due, as `owner`, until `until`. Returns how many
    /// polls before failed in a row; nil when another instance holds it or it is not due.
    public static func takeTurn(owner: String, now: Date, until: Date, on db: DatabaseConnection) async throws -> Int? {
        let rows = try await db.query("""
            UPDATE jma_poll SET owner = \(owner), lease_until = \(until) WHERE lease_until <= \(now) RETURNING failures
            """)
        for try await failures in rows.decode(Int.self) { return failures }
        return nil
    }

    /// Extends the holder's lease (before each document); false when it was lost (it ran
    /// out and another instance took the turn), and the holder must stop.
    public static func extendTurn(owner: String, now: Date, until: Date, on db: DatabaseConnection) async throws -> Bool {
        for try await _ in try await db.query("""
            UPDATE jma_poll SET lease_until = greatest(lease_until, \(until)) WHERE owner = \(owner) AND lease_until > \(now) RETURNING 1
            """).decode(Int.self) {
            return true
        }
        return false
    }

    /// Ends the holder's turn: the next poll is due at `nextAt`; `failed` counts a failure,
    /// otherwise the count starts again. Nothing when the turn was lost meanwhile.
    public static func endTurn(owner: String, nextAt: Date, failed: Bool, on db: DatabaseConnection) async throws {
        try await db.query("""
            UPDATE jma_poll SET lease_until = \(nextAt), failures = CASE WHEN \(failed) THEN failures + 1 ELSE 0 END, owner = NULL
            WHERE owner = \(owner)
            """)
    }

    public static func validators(_ url: String, on db: DatabaseConnection) async throws -> JMAFeedValidators {
        for try await row in try await db.query("SELECT last_modified, etag FROM jma_feeds WHERE url = \(url)").decode((String?, String?).self) {
            return JMAFeedValidators(lastModified: row.0, etag: row.1)
        }
        return JMAFeedValidators(lastModified: nil, etag: nil)
    }

    /// The feed was read (200 or 304): its validators for the next conditional GET.
    public static func feedRead(_ url: String, lastModified: String?, etag: String?, now: Date, on db: DatabaseConnection) async throws {
        try await db.query("""
            INSERT INTO jma_feeds (url, last_modified, etag, last_success_at) VALUES (\(url), \(lastModified), \(etag), \(now))
            ON CONFLICT (url) DO UPDATE SET last_modified = coalesce(excluded.last_modified, jma_feeds.last_modified),
                etag = coalesce(excluded.etag, jma_feeds.etag), last_success_at = excluded.last_success_at
            """)
    }

    /// The feed or one of its documents could not be read: the next poll reads it in full,
    /// so documents given back are listed again.
    public static func forgetValidators(_ url: String, on db: DatabaseConnection) async throws {
        try await db.query("UPDATE jma_feeds SET last_modified = NULL, etag = NULL WHERE url = \(url)")
    }

    /// The latest successful read of any feed (the short feed is enough only when one was
    /// read in the last few minutes).
    public static func lastSuccess(on db: DatabaseConnection) async throws -> Date? {
        for try await date in try await db.query("SELECT max(last_success_at) FROM jma_feeds").decode(Date?.self) {
            return date
        }
        return nil
    }

    /// Of these document URLs, the ones never fetched (or claimed by a process that died
    /// over five minutes ago), now claimed by the caller.
    public static func claimDocuments(_ urls: [String], now: Date, on db: DatabaseConnection) async throws -> [String] {
        guard !urls.isEmpty else { return [] }
        var claimed: [String] = []
        let stale = now.addingTimeInterval(-300)
        let rows = try await db.query("""
            INSERT INTO jma_documents (url, state, claimed_at) SELECT u, 'claimed', \(now) FROM unnest(\(urls)::text[]) AS u
            ON CONFLICT (url) DO UPDATE SET claimed_at = excluded.claimed_at
                WHERE jma_documents.state = 'claimed' AND jma_documents.claimed_at < \(stale)
            RETURNING url
            """)
        for try await url in rows.decode(String.self) { claimed.append(url) }
        let order = Dictionary(urls.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        return claimed.sorted { order[$0, default: 0] < order[$1, default: 0] }
    }

    /// The claim given back (the fetch failed; the next poll tries again).
    public static func releaseDocument(_ url: String, on db: DatabaseConnection) async throws {
        try await db.query("DELETE FROM jma_documents WHERE url = \(url) AND state = 'claimed'")
    }

    public enum DocumentOutcome: String, Sendable {
        case applied, skipped, unreadable
    }

    public static func finishDocument(_ url: String, _ outcome: DocumentOutcome, note: String?, reportTime: Date?, now: Date,
                                      on db: DatabaseConnection) async throws {
        try await db.query("""
            UPDATE jma_documents SET state = \(outcome.rawValue), done_at = \(now), note = \(note.map { String($0.prefix(200)) }),
                report_time = \(reportTime)
            WHERE url = \(url)
            """)
    }

    /// What was in force for the area in this family of documents, locked until the
    /// transaction ends, with the time of the document that said so. Nil: nothing known.
    public static func lockState(family: String, area: String, on db: DatabaseConnection) async throws
        -> (reportTime: Date, kinds: [(code: String, name: String)])? {
        let rows = try await db.query("""
            SELECT report_time, kind_codes, kind_names FROM jma_warning_state WHERE family = \(family) AND area_code = \(area) FOR UPDATE
            """)
        for try await row in rows.decode((Date, [String], [String]).self) {
            return (row.0, Array(zip(row.1, row.2)).map { (code: $0.0, name: $0.1) })
        }
        return nil
    }

    public static func saveState(family: String, area: String, reportTime: Date, kinds: [WarningKind], on db: DatabaseConnection) async throws {
        try await db.query("""
            INSERT INTO jma_warning_state (family, area_code, report_time, kind_codes, kind_names)
            VALUES (\(family), \(area), \(reportTime), \(kinds.map(\.code)), \(kinds.map(\.name)))
            ON CONFLICT (family, area_code) DO UPDATE SET report_time = excluded.report_time, kind_codes = excluded.kind_codes,
                kind_names = excluded.kind_names
            """)
    }

    /// Records these kinds' issuance or lifting at this time, and returns the codes that are
    /// news: those whose latest record (from any document, of either system) is not already
    /// the same. The same issuance carried by several documents, or caught up from a 継続
    /// after another family announced it, is announced once; a new issuance after a lifting
    /// is news again. One poller at a time applies documents (the turn), so reading and
    /// recording do not race.
    public static func recordAnnouncements(area: String, codes: [String], reportTime: Date, action: String, on db: DatabaseConnection) async throws -> Set<String> {
        guard !codes.isEmpty else { return [] }
        var fresh = Set<String>()
        let rows = try await db.query("""
            WITH latest AS (
                SELECT DISTINCT ON (kind_code) kind_code, action FROM jma_announcements
                WHERE area_code = \(area) AND kind_code = ANY(\(codes)::text[])
                ORDER BY kind_code, report_time DESC
            )
            INSERT INTO jma_announcements (area_code, kind_code, report_time, action)
            SELECT \(area), c, \(reportTime), \(action) FROM unnest(\(codes)::text[]) AS c
            WHERE NOT EXISTS (SELECT 1 FROM latest l WHERE l.kind_code = c AND l.action = \(action))
            ON CONFLICT DO NOTHING
            RETURNING kind_code
            """)
        for try await code in rows.decode(String.self) { fresh.insert(code) }
        return fresh
    }

    // MARK: Waiting for a person

    static let pendingColumns = "id, area_code, category, areas, urgent, subject, body, report_time, created_at, decided_at, decision, alert_id"

    private static func pending(_ query: PostgresQuery, on db: DatabaseConnection) async throws -> [PendingWarningRecord] {
        var records: [PendingWarningRecord] = []
        for try await row in try await db.query(query).decode((Int64, String, String, [String], Bool, String, String, Date, Date, Date?, String?, Int64?).self) {
            records.append(PendingWarningRecord(id: row.0, areaCode: row.1, category: row.2, areas: row.3, urgent: row.4, subject: row.5, body: row.6,
                                                reportTime: row.7, createdAt: row.8, decidedAt: row.9, decision: row.10, alertID: row.11))
        }
        return records
    }

    public static func insertPending(area: String, category: String, areas: [String], urgent: Bool, subject: String, body: String, reportTime: Date,
                                     now: Date, on db: DatabaseConnection) async throws -> Int64 {
        for try await id in try await db.query("""
            INSERT INTO jma_pending_alerts (area_code, category, areas, urgent, subject, body, report_time, created_at)
            VALUES (\(area), \(category), \(areas), \(urgent), \(subject), \(body), \(reportTime), \(now))
            RETURNING id
            """).decode(Int64.self) {
            return id
        }
        preconditionFailure("INSERT … RETURNING returned no row")
    }

    /// Those still waiting, newest first, then the latest decided (for the record).
    public static func pendingList(limit: Int, on db: DatabaseConnection) async throws -> [PendingWarningRecord] {
        try await pending("""
            SELECT \(unescaped: pendingColumns) FROM jma_pending_alerts
            ORDER BY decided_at IS NOT NULL, id DESC LIMIT \(limit)
            """, on: db)
    }

    /// The pending alert, locked until the transaction ends.
    public static func lockPending(_ id: Int64, on db: DatabaseConnection) async throws -> PendingWarningRecord? {
        try await pending("SELECT \(unescaped: pendingColumns) FROM jma_pending_alerts WHERE id = \(id) FOR UPDATE", on: db).first
    }

    public static func decidePending(_ id: Int64, decision: String, by account: AccountID, alert: Int64?, now: Date, on db: DatabaseConnection) async throws {
        try await db.query("""
            UPDATE jma_pending_alerts SET decided_at = \(now), decided_by = \(account), decision = \(decision), alert_id = \(alert)
            WHERE id = \(id)
            """)
    }

    /// Alert staff (alert senders and town administrators), who decide on pending alerts.
    public static func alertStaff(on db: DatabaseConnection) async throws -> [AccountID] {
        var accounts: [AccountID] = []
        for try await id in try await db.query("""
            SELECT DISTINCT account_id FROM account_roles WHERE role IN ('alert_sender', 'town_admin') ORDER BY account_id
            """).decode(Int64.self) {
            accounts.append(id)
        }
        return accounts
    }

    public static func linkAnnouncements(area: String, codes: [String], reportTime: Date, alert: Int64, on db: DatabaseConnection) async throws {
        try await db.query("""
            UPDATE jma_announcements SET alert_id = \(alert)
            WHERE area_code = \(area) AND report_time = \(reportTime) AND kind_code = ANY(\(codes)::text[]) AND alert_id IS NULL
            """)
    }
}
