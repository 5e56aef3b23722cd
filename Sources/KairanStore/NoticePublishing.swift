import Foundation
import KairanCore
import Logging
import PostgresNIO

/// What a guardian's app receives live on their own stream (`user:<id>`) when a notice is
/// published. The same payload for every guardian: who their children are is theirs to
/// look up (`GET /v1/me/notices/{id}`).
public struct NoticeReceivedEvent: Codable, Sendable {
    public let noticeId: NoticeID
    public let organizationId: OrganizationID
    public let organizationName: String
    public let urgent: Bool
    public let title: String
    public let body: String
    public let hasForm: Bool
    public let sentAt: Date
}

/// What a guardian's phone shows for a notice when the app is closed: the Web Push
/// payload the service worker reads (`static/sw.js`).
public struct NoticePush: Codable, Sendable {
    public let kind: String
    public let title: String
    public let body: String
    /// The page to open when the notification is tapped.
    public let url: String
    /// One notification per notice on the phone, however often it is pushed.
    public let tag: String
    public let urgent: Bool

    init(_ notice: NoticeRecord, organizationName: String) {
        kind = "notice"
        title = (notice.urgent ? "【緊急】" : "") + notice.title
        body = organizationName + "からのお知らせ"
        url = "/notices/\(notice.id)"
        tag = "notice-\(notice.id)"
        urgent = notice.urgent
    }

    var json: String {
        // Encoding this struct cannot fail.
        String(decoding: (try? JSONEncoder().encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}

/// Progress on a notice's confirmations, sent live to the staff dashboard (`notice:<id>`).
public struct NoticeProgressEvent: Codable, Sendable {
    public let noticeId: NoticeID
    public let householdId: Int64?
    public let guardianId: GuardianID?
    public let households: Int
    public let confirmedHouseholds: Int
    public let openedGuardians: Int

    public init(noticeId: NoticeID, householdId: Int64?, guardianId: GuardianID?, households: Int, confirmedHouseholds: Int, openedGuardians: Int) {
        self.noticeId = noticeId
        self.householdId = householdId
        self.guardianId = guardianId
        self.households = households
        self.confirmedHouseholds = confirmedHouseholds
        self.openedGuardians = openedGuardians
    }
}

public struct PublishResult: Sendable, Equatable {
    public let guardians: Int
    public let households: Int
    public let mailJobs: Int
    public let liveRecipients: Int
}

extension NoticeStore {
    /// Publishes a notice in the caller's transaction: snapshots the children it is for,
    /// writes one recipient row per guardian (however many of their children it concerns),
    /// the outbox message and its mail jobs, and the live events — all or nothing.
    ///
    /// Normal notices follow each guardian's choice (app, mail, both). Urgent ones go to
    /// every channel the guardian has: the app if they have an account, mail if an address
    /// is recorded.
    public static func publish(
        _ notice: NoticeRecord, organizationName: String, escalateAfterMinutes: Int, urgentDeadline: TimeInterval, now: Date,
        on db: DatabaseConnection
    ) async throws -> PublishResult {
        let grades = notice.targets.grades.map(Int16.init)
        try await db.query("""
            INSERT INTO notice_children (notice_id, child_id, household_id)
            SELECT \(notice.id), c.id, c.household_id FROM children c LEFT JOIN classes cl ON cl.id = c.class_id
            WHERE c.organization_id = \(notice.organizationID) AND c.household_id IS NOT NULL
              AND (\(notice.targets.all)
                   OR c.class_id = ANY(\(notice.targets.classes)::bigint[])
                   OR cl.grade = ANY(\(grades)::smallint[])
                   OR EXISTS (SELECT 1 FROM notice_list_children lc
                              WHERE lc.child_id = c.id AND lc.list_id = ANY(\(notice.targets.lists)::bigint[])))
            ON CONFLICT DO NOTHING
            """)
        try await db.query("""
            INSERT INTO notice_recipients (notice_id, guardian_id, household_id, account_id, via_app, via_mail, link_token)
            SELECT \(notice.id), g.id, g.household_id, g.account_id,
                   g.account_id IS NOT NULL AND (g.delivery <> 'mail' OR \(notice.urgent) OR g.email IS NULL),
                   g.email IS NOT NULL AND (g.delivery <> 'app' OR \(notice.urgent) OR g.account_id IS NULL),
                   replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')
            FROM guardians g
            WHERE g.household_id IN (SELECT household_id FROM notice_children WHERE notice_id = \(notice.id))
            """)

        var mail: [DeliveryStore.Recipient] = []
        var live: [String] = []
        var appAccounts: [Int64] = []
        var guardians = 0
        var households = Set<Int64>()
        for try await (guardian, household, account, viaApp, viaMail, email, token) in try await db.query("""
            SELECT r.guardian_id, r.household_id, r.account_id, r.via_app, r.via_mail, g.email, r.link_token
            FROM notice_recipients r JOIN guardians g ON g.id = r.guardian_id WHERE r.notice_id = \(notice.id)
            """).decode((Int64, Int64, Int64?, Bool, Bool, String?, String).self) {
            guardians += 1
            households.insert(household)
            if viaApp, let account {
                live.append(EventStore.userStream(account))
                appAccounts.append(account)
            }
            if viaMail, let email {
                if let address = try? EmailAddress(email) {
                    mail.append(DeliveryStore.Recipient(key: "guardian:\(guardian)", address: address, charset: charset(for: address), linkToken: token))
                } else {
                    // Checked when staff or the guardian stored it: only a rule tightened
                    // since gets here. Said in the log, so the school can correct it.
                    db.logger.warning("guardian's mail address no longer valid; no mail", metadata: ["guardian_id": "\(guardian)", "notice_id": "\(notice.id)"])
                }
            }
        }

        let subject = notice.urgent ? "【緊急】" + notice.title : notice.title
        let (message, _) = try await DeliveryStore.createMessage(
            kind: "notice", idempotencyKey: "notice:\(notice.id)", urgent: notice.urgent, fromName: organizationName, subject: subject,
            body: mailBody(notice, organizationName: organizationName, attachments: try await AttachmentStore.forNotice(notice.id, on: db)), listID: nil,
            deadline: notice.urgent ? now.addingTimeInterval(urgentDeadline) : nil, now: now, on: db)
        let mailJobs = try await DeliveryStore.enqueueMail(message: message, recipients: mail, urgent: notice.urgent, dueAt: now,
                                                           on: db)
        let event = NoticeReceivedEvent(noticeId: notice.id, organizationId: notice.organizationID, organizationName: organizationName,
                                        urgent: notice.urgent, title: notice.title, body: notice.body, hasForm: notice.form != nil, sentAt: now)
        try await EventStore.appendToEach(live, kind: "notice.received", payload: event, now: now, on: db)
        // The same guardians' phones, when the app is closed (Web Push): encrypted per device
        // by the push worker; a title and where to open it, not the text.
        try await PushStore.enqueue(
            source: "notice:\(notice.id)", accounts: appAccounts, payload: NoticePush(notice, organizationName: organizationName).json,
            urgency: notice.urgent ? "high" : "normal", ttlSeconds: notice.urgent ? 86_400 : 7 * 86_400, topic: "notice\(notice.id)",
            now: now, on: db)

        let escalateAt: Date? = notice.urgent ? now.addingTimeInterval(TimeInterval(escalateAfterMinutes * 60)) : nil
        try await db.query("""
            UPDATE notices SET state = 'sent', sent_at = \(now), message_id = \(message), escalate_at = \(escalateAt), updated_at = \(now)
            WHERE id = \(notice.id)
            """)
        try await EventStore.append(
            EventStore.noticeStream(notice.id), kind: "notice.sent",
            payload: NoticeProgressEvent(noticeId: notice.id, householdId: nil, guardianId: nil, households: households.count,
                                         confirmedHouseholds: 0, openedGuardians: 0),
            now: now, on: db)
        return PublishResult(guardians: guardians, households: households.count, mailJobs: mailJobs, liveRecipients: live.count)
    }

    /// Carrier handsets show ISO-2022-JP reliably; everyone else gets UTF-8.
    static func charset(for address: EmailAddress) -> String {
        address.defaultMailCharset
    }

    /// The notice's text for mail. Attachments are named, never sent: a 5 MB PDF to a
    /// feature phone's carrier address is refused or costs the family; the page behind the
    /// link shows and downloads them.
    static func mailBody(_ notice: NoticeRecord, organizationName: String, attachments: [AttachmentRecord] = []) -> String {
        var body = notice.body
        if !attachments.isEmpty {
            let names = attachments.prefix(5).map { "・\($0.filename)" }.joined(separator: "\n")
            let more = attachments.count > 5 ? "\n・ほか \(attachments.count - 5) 件" : ""
            body += "\n\n※ 添付ファイルがあります。下のリンクのページでご覧ください。\n" + names + more
        }
        if notice.form != nil { body += "\n\n※ このお知らせには回答が必要です。下のリンクから回答してください。" }
        if notice.urgent { body += "\n\n※ 緊急のお知らせです。下のリンクから確認を押してください。" }
        return "\(organizationName)からのお知らせ\n\n" + body
    }

    // MARK: - Escalation

    /// Re-sends the notice by mail to every guardian address of the households that have not
    /// confirmed, and records the escalation. Returns (unconfirmed households, mails queued).
    public static func escalate(
        _ notice: NoticeRecord, organizationName: String, urgentDeadline: TimeInterval, now: Date, on db: DatabaseConnection
    ) async throws -> (households: Int, mails: Int) {
        var mail: [DeliveryStore.Recipient] = []
        var households = Set<Int64>()
        // Every guardian of a household nobody confirmed, by mail: the address staff recorded,
        // or else their account's. A guardian who chose the app for everyday notices did not
        // choose to miss an urgent one they have not seen (not connected, phone silent), and
        // is a resident with a mail address.
        for try await (guardian, household, email, token) in try await db.query("""
            SELECT r.guardian_id, r.household_id, coalesce(g.email, a.email), r.link_token
            FROM notice_recipients r JOIN guardians g ON g.id = r.guardian_id
            LEFT JOIN accounts a ON a.id = g.account_id
            WHERE r.notice_id = \(notice.id) AND r.household_id IN (
                SELECT household_id FROM notice_recipients WHERE notice_id = \(notice.id)
                GROUP BY household_id HAVING bool_and(confirmed_at IS NULL))
            """).decode((Int64, Int64, String?, String).self) {
            households.insert(household)
            if let email {
                if let address = try? EmailAddress(email) {
                    mail.append(DeliveryStore.Recipient(key: "guardian:\(guardian)", address: address, charset: charset(for: address), linkToken: token))
                } else {
                    db.logger.warning("guardian's mail address no longer valid; no escalation mail", metadata: ["guardian_id": "\(guardian)", "notice_id": "\(notice.id)"])
                }
            }
        }
        var queued = 0
        var messageID: Int64?
        if !mail.isEmpty {
            let (message, _) = try await DeliveryStore.createMessage(
                kind: "notice_escalation", idempotencyKey: "notice-escalation:\(notice.id)", urgent: true, fromName: organizationName,
                subject: "【再送・要確認】" + notice.title, body: mailBody(notice, organizationName: organizationName, attachments: try await AttachmentStore.forNotice(notice.id, on: db)),
                listID: nil,
                deadline: now.addingTimeInterval(urgentDeadline), now: now, on: db)
            queued = try await DeliveryStore.enqueueMail(message: message, recipients: mail, urgent: true, dueAt: now, on: db)
            messageID = message
        }
        try await db.query("""
            UPDATE notices SET escalated_at = \(now), escalation_message_id = \(messageID), updated_at = \(now) WHERE id = \(notice.id)
            """)
        return (households.count, queued)
    }
}
