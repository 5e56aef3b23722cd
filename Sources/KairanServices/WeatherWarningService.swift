import Foundation
import KairanCore
import KairanStore
import Logging

/// Turns JMA's warning documents into alerts: each issuance (発表) once, whichever
/// documents carry it, and each lifting (解除) as a follow-up. The fetching lives in
/// KairanDelivery's `WeatherWarningWorker`; what a document means for the town lives here.
public struct WeatherWarningService: Sendable {
    let services: Services
    var database: Database { services.database }

    public init(services: Services) {
        self.services = services
    }

    /// Whether the policy's alert category exists (checked before documents are fetched, so
    /// a misconfigured town does not use up documents it cannot send).
    public func categoryExists(_ policy: WeatherWarningPolicy) async throws -> Bool {
        try await database.withConnection { db in
            try await AlertStore.categories(on: db).contains { $0.code == policy.category && !$0.archived }
        }
    }

    /// The turn to poll, as `owner`: how many polls before failed in a row, or nil when it
    /// is another instance's or not due.
    public func takeTurn(owner: String, until: Date) async throws -> Int? {
        let now = services.clock.now()
        return try await database.withConnection { db in try await WeatherWarningStore.takeTurn(owner: owner, now: now, until: until, on: db) }
    }

    public func extendTurn(owner: String, until: Date) async throws -> Bool {
        let now = services.clock.now()
        return try await database.withConnection { db in try await WeatherWarningStore.extendTurn(owner: owner, now: now, until: until, on: db) }
    }

    public func endTurn(owner: String, nextAt: Date, failed: Bool) async throws {
        try await database.withConnection { db in try await WeatherWarningStore.endTurn(owner: owner, nextAt: nextAt, failed: failed, on: db) }
    }

    public func validators(_ url: String) async throws -> JMAFeedValidators {
        try await database.withConnection { db in try await WeatherWarningStore.validators(url, on: db) }
    }

    public func feedRead(_ url: String, lastModified: String?, etag: String?) async throws {
        let now = services.clock.now()
        try await database.withConnection { db in
            try await WeatherWarningStore.feedRead(url, lastModified: lastModified, etag: etag, now: now, on: db)
        }
    }

    public func forgetValidators(_ url: String) async throws {
        try await database.withConnection { db in try await WeatherWarningStore.forgetValidators(url, on: db) }
    }

    public func lastFeedSuccess() async throws -> Date? {
        try await database.withConnection { db in try await WeatherWarningStore.lastSuccess(on: db) }
    }

    public func claimDocuments(_ urls: [String]) async throws -> [String] {
        let now = services.clock.now()
        return try await database.withConnection { db in try await WeatherWarningStore.claimDocuments(urls, now: now, on: db) }
    }

    public func releaseDocument(_ url: String) async throws {
        try await database.withConnection { db in try await WeatherWarningStore.releaseDocument(url, on: db) }
    }

    /// A fetched document that is not a readable warning document: kept as read, so it is
    /// never fetched again.
    public func documentUnreadable(_ url: String, reason: String) async throws {
        let now = services.clock.now()
        try await database.withConnection { db in
            try await WeatherWarningStore.finishDocument(url, .unreadable, note: reason, reportTime: nil, now: now, on: db)
        }
    }

    /// What applying a document did.
    public struct Applied: Sendable {
        public var alerts: [AlertRecord] = []
        /// Alerts set aside for alert staff to send (`--jma-approval`).
        public var pending: [Int64] = []
    }

    /// Applies a fetched document: compares it area by area with what was in force, sends
    /// what changed as alerts (or sets them aside for alert staff), and marks the document
    /// done, all in one transaction (a crash leaves the claim, and the document is applied
    /// again by the next poll after it).
    @discardableResult
    public func apply(_ document: WarningDocument, url: String, policy: WeatherWarningPolicy, logger: Logger) async throws -> Applied {
        let now = services.clock.now()
        let skip: String? = if document.status != "通常" {
            "control status \(document.status): a drill or test, not sent"
        } else if document.family == nil {
            "not a warning document Kairan reads"
        } else if document.infoType == "取消" {
            // A 取消 withdraws an earlier document; the next document states the whole
            // picture again, and the comparison with it sends what really changed.
            "取消 (withdrawal of an earlier document): applied through the next document"
        } else {
            nil
        }
        guard let family = document.family, skip == nil else {
            try await database.withConnection { db in
                try await WeatherWarningStore.finishDocument(url, .skipped, note: skip, reportTime: document.reportTime, now: now, on: db)
            }
            logger.info("weather warning document skipped", metadata: ["reason": "\(skip ?? "")"])
            return Applied()
        }
        let alerts = services.alertService
        let zone = services.timeZone
        return try await database.withTransaction { db in
            var applied = Applied()
            let townAreas = try await AlertStore.areas(on: db).filter { !$0.archived }.map(\.code)
            for area in document.areas {
                guard let mapped = policy.areas[area.code] else { continue }
                let previous = try await WeatherWarningStore.lockState(family: family, area: area.code, on: db)
                if let previous, previous.reportTime > document.reportTime {
                    // An older document arriving after a newer one changes nothing.
                    continue
                }
                let change = WarningChange(previous: previous?.kinds, area: area)
                try await WeatherWarningStore.saveState(family: family, area: area.code, reportTime: document.reportTime, kinds: change.inForce, on: db)

                let issuedCodes = change.issued.filter { policy.announces($0.level) }.map(\.code)
                let endedCodes = change.ended.filter { policy.announces(WarningLevel(name: $0.name)) }.map(\.code)
                let freshIssued = try await WeatherWarningStore.recordAnnouncements(area: area.code, codes: issuedCodes, reportTime: document.reportTime,
                                                                                    action: "issued", on: db)
                let freshEnded = try await WeatherWarningStore.recordAnnouncements(area: area.code, codes: endedCodes, reportTime: document.reportTime,
                                                                                   action: "lifted", on: db)
                let news = WarningChange(issued: change.issued.filter { freshIssued.contains($0.code) },
                                         ended: change.ended.filter { freshEnded.contains($0.code) }, inForce: change.inForce)
                guard let message = WeatherWarningMessage(change: news, areaName: area.name.isEmpty ? area.code : area.name, document: document,
                                                          policy: policy, zone: zone) else { continue }
                let known = mapped.filter { townAreas.contains($0) }
                if known.count < mapped.count {
                    // Sending to the whole town is safer than to nobody.
                    logger.warning("weather warning areas not among the town's alert areas; sending to the areas known, or the whole town",
                                   metadata: ["jma_area": "\(area.code)", "unknown": "\(mapped.filter { !townAreas.contains($0) })"])
                }
                if policy.needsApproval(news) {
                    let id = try await WeatherWarningStore.insertPending(area: area.code, category: policy.category, areas: known, urgent: message.urgent,
                                                                         subject: message.subject, body: message.body, reportTime: document.reportTime,
                                                                         now: now, on: db)
                    try await Notifier.notify(try await WeatherWarningStore.alertStaff(on: db), kind: "weather.pending",
                                              NotificationPayload(excerpt: message.subject, warningId: id), now: now, on: db)
                    logger.notice("weather warning alert waits for alert staff", metadata: ["pending_id": "\(id)", "jma_area": "\(area.code)"])
                    applied.pending.append(id)
                    continue
                }
                let draft = AlertDraft(category: policy.category, areas: known, urgent: message.urgent, subject: message.subject, body: message.body,
                                       sendAt: nil, idempotencyKey: nil)
                // One alert per document and area: the document's file name is JMA's unique
                // name for it (`20261123010000_0_VPWW54_140000.xml`).
                let key = "jma:\(area.code):\(url.split(separator: "/").last.map { String($0.suffix(120)) } ?? url)"
                let (alert, _) = try await alerts.sendPrepared(draft, key: key, createdBy: nil, logger: logger, on: db)
                try await WeatherWarningStore.linkAnnouncements(area: area.code, codes: Array(freshIssued.union(freshEnded)),
                                                                reportTime: document.reportTime, alert: alert.id, on: db)
                logger.notice("weather warning alert sent", metadata: [
                    "alert_id": "\(alert.id)", "jma_area": "\(area.code)", "issued": "\(news.issued.map(\.code))", "lifted": "\(news.ended.map(\.code))",
                ])
                applied.alerts.append(alert)
            }
            let note = applied.alerts.isEmpty && applied.pending.isEmpty ? nil : "\(applied.alerts.count) alert(s), \(applied.pending.count) pending"
            try await WeatherWarningStore.finishDocument(url, .applied, note: note, reportTime: document.reportTime, now: now, on: db)
            return applied
        }
    }

    // MARK: - Waiting for a person

    /// Alerts from warnings waiting for alert staff, then the latest decided ones.
    public func pending(_ actor: Actor, limit: Int, logger: Logger) async throws -> [PendingWarningView] {
        try services.alertService.requireAlertStaff(actor)
        return try await database.withConnection { db in
            try await WeatherWarningStore.pendingList(limit: limit, on: db).map(PendingWarningView.init)
        }
    }

    /// Sends a pending alert as it was prepared, in the caller's name.
    public func send(_ actor: Actor, pending id: Int64, logger: Logger) async throws -> AlertView {
        let alerts = services.alertService
        try alerts.requireAlertStaff(actor)
        let now = services.clock.now()
        let (record, counts) = try await database.withTransaction { db in
            let pending = try await Self.undecided(id, on: db)
            let draft = AlertDraft(category: pending.category, areas: pending.areas, urgent: pending.urgent, subject: pending.subject,
                                   body: pending.body, sendAt: nil, idempotencyKey: nil)
            let (record, counts) = try await alerts.sendPrepared(draft, key: "jma-pending:\(id)", createdBy: actor, logger: logger, on: db)
            try await WeatherWarningStore.decidePending(id, decision: "sent", by: actor.accountID, alert: record.id, now: now, on: db)
            return (record, counts)
        }
        logger.notice("pending weather warning alert sent", metadata: ["pending_id": "\(id)", "alert_id": "\(record.id)"])
        return AlertView(record, progress: counts)
    }

    /// Sets a pending alert aside: it is never sent.
    public func discard(_ actor: Actor, pending id: Int64, logger: Logger) async throws -> PendingWarningView {
        try services.alertService.requireAlertStaff(actor)
        let now = services.clock.now()
        let record = try await database.withTransaction { db in
            _ = try await Self.undecided(id, on: db)
            try await WeatherWarningStore.decidePending(id, decision: "discarded", by: actor.accountID, alert: nil, now: now, on: db)
            guard let record = try await WeatherWarningStore.lockPending(id, on: db) else { throw ServiceError.notFound }
            return record
        }
        logger.notice("pending weather warning alert set aside", metadata: ["pending_id": "\(id)"])
        return PendingWarningView(record)
    }

    private static func undecided(_ id: Int64, on db: DatabaseConnection) async throws -> PendingWarningRecord {
        guard let pending = try await WeatherWarningStore.lockPending(id, on: db) else { throw ServiceError.notFound }
        guard pending.decidedAt == nil else {
            throw ServiceError.conflict(code: "already_decided", message: "this alert was already \(pending.decision ?? "decided")", field: nil)
        }
        return pending
    }
}

/// An alert from a weather warning as alert staff see it before it goes out.
public struct PendingWarningView: Codable, Sendable {
    public let id: Int64
    /// `pending`, `sent` or `discarded`.
    public let status: String
    public let category: String
    public let areas: [String]
    public let urgent: Bool
    public let subject: String
    public let body: String
    /// When JMA issued what it is about.
    public let reportedAt: Date
    public let createdAt: Date
    public let decidedAt: Date?
    /// The alert it became, once sent.
    public let alertId: Int64?

    init(_ record: PendingWarningRecord) {
        id = record.id
        status = record.decision ?? "pending"
        category = record.category
        areas = record.areas
        urgent = record.urgent
        subject = record.subject
        body = record.body
        reportedAt = record.reportTime
        createdAt = record.createdAt
        decidedAt = record.decidedAt
        alertId = record.alertID
    }
}
