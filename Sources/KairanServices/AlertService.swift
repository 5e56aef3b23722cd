import Foundation
import KairanCore
import KairanStore
import Logging
import Metrics

/// Town staff compose alerts, send them now or at a time, follow their progress and export
/// the per-recipient record; town administrators keep the categories and areas; alert staff
/// register residents who consented on paper.
public struct AlertService: Sendable {
    let services: Services
    var database: Database { services.database }
    var settings: AlertSettings { services.alerts }

    public static let subjectMax = 100
    public static let bodyMax = 4000
    public static let idempotencyKeyMax = 100

    /// 1 to `idempotencyKeyMax` visible ASCII characters.
    public static func isValidIdempotencyKey(_ key: String) -> Bool {
        !key.isEmpty && key.count <= idempotencyKeyMax && key.unicodeScalars.allSatisfy { $0.isASCII && $0.value >= 0x21 && $0.value < 0x7F }
    }

    /// Sending and following alerts (and the subscriber list) is for alert staff.
    public func requireAlertStaff(_ actor: Actor) throws {
        try Policy.decide(actor, .sendAlerts).require()
    }

    // MARK: - Alerts

    public struct Created: Sendable {
        public let alert: AlertView
        /// False when an earlier request with the same idempotency key made it.
        public let isNew: Bool
    }

    /// Writes the alert and queues one mail per matching subscriber, in one transaction.
    public func create(_ actor: Actor, _ draft: AlertDraft, logger: Logger) async throws -> Created {
        try requireAlertStaff(actor)
        let subject = try Content.text(draft.subject, field: "subject", max: Self.subjectMax)
        let body = try Content.text(draft.body, field: "body", max: Self.bodyMax, multiline: true)
        let areaCodes = Array(Set(draft.areas)).sorted()
        guard areaCodes.count <= 100 else { throw ValidationError(field: "areas", code: "too_many", message: "at most 100 areas") }
        guard draft.idempotencyKey.map(Self.isValidIdempotencyKey) ?? true else {
            throw ValidationError(field: "idempotencyKey", code: "invalid_key",
                                  message: "an idempotency key is 1 to \(Self.idempotencyKeyMax) visible ASCII characters")
        }
        // Before anything is written: a refused file list would otherwise roll back a
        // town-wide enqueue.
        try AttachmentService.checkList(draft.attachmentIds, limit: services.attachmentLimits.perAlert)
        // Keys are per account: two staff members' "1" are different requests.
        let key = draft.idempotencyKey.map { "alert:\(actor.accountID):\($0)" }
        let now = services.clock.now()
        let sendAt = draft.sendAt ?? now
        guard sendAt >= now.addingTimeInterval(-60), sendAt <= now.addingTimeInterval(60 * 24 * 3600) else {
            throw ValidationError(field: "sendAt", code: "out_of_range", message: "sendAt must be between now and 60 days ahead")
        }
        let scheduled = draft.sendAt != nil && sendAt > now.addingTimeInterval(60)

        let (record, created, counts) = try await database.withTransaction { db in
            try await write(draft, subject: subject, body: body, areaCodes: areaCodes, key: key, sendAt: sendAt, scheduled: scheduled,
                            createdBy: actor, now: now, on: db)
        }
        if created {
            Counter(label: "kairan_deliveries_queued_total", dimensions: [("channel", "mail")]).increment(by: record.recipientCount)
            logger.info("alert created", metadata: [
                "alert_id": "\(record.id)", "recipients": "\(record.recipientCount)", "urgent": "\(record.urgent)", "scheduled": "\(scheduled)",
            ])
        }
        return Created(alert: AlertView(record, progress: counts), isNew: created)
    }

    /// The alert and its mail jobs, in the caller's transaction: what staff send and what
    /// the weather warning feed sends (`createdBy` nil) go the same way.
    func write(_ draft: AlertDraft, subject: String, body: String, areaCodes: [String], key: String?, sendAt: Date, scheduled: Bool,
               createdBy: Actor?, now: Date, on db: DatabaseConnection) async throws -> (AlertRecord, Bool, DeliveryCounts) {
        let categories = try await AlertStore.categories(on: db)
        guard let category = categories.first(where: { $0.code == draft.category && !$0.archived }) else {
            throw ValidationError(field: "category", code: "unknown_category",
                                  message: "category must be one of \(categories.filter { !$0.archived }.map(\.code).joined(separator: ", "))")
        }
        let areas = try await AlertStore.areas(on: db)
        let areaIDs = try areaCodes.map { code in
            guard let area = areas.first(where: { $0.code == code && !$0.archived }) else {
                throw ValidationError(field: "areas", code: "unknown_area", message: "unknown area '\(code)'")
            }
            return area.id
        }
        let deadline = draft.urgent ? sendAt.addingTimeInterval(settings.urgentDeadline) : nil
        // Japanese alert mail names its category up front: 【防災】…
        let fullSubject = subject.hasPrefix("【") ? subject : "【\(category.name)】\(subject)"
        let message = try await DeliveryStore.createMessage(
            kind: "alert", idempotencyKey: key, urgent: draft.urgent, fromName: settings.fromName, subject: fullSubject, body: body,
            listID: "\(category.code).alerts.\(settings.mailDomain)", deadline: deadline, now: now, on: db)
        if !message.created {
            // The same request again: answer with what the first one created.
            guard let existing = try await AlertStore.alert(id: nil, message: message.id, on: db) else {
                throw ServiceError.conflict("idempotency_key_reused", "this Idempotency-Key was used for something else")
            }
            return (existing, false, try await DeliveryStore.counts(message: message.id, on: db))
        }
        let alertDraft = AlertStore.AlertDraft(category: category, areaIDs: areaIDs, urgent: draft.urgent, sendAt: sendAt, scheduled: scheduled,
                                               deadline: deadline)
        let recipients = try await AlertStore.enqueueAlert(message: message.id, draft: alertDraft, timing: settings.timing, on: db)
        let publicToken = RandomToken.urlSafe(byteCount: 24)
        let id = try await AlertStore.insertAlert(message: message.id, draft: alertDraft, recipients: recipients, createdBy: createdBy?.accountID,
                                                  publicToken: publicToken, now: now, on: db)
        // Files are a person's uploads: Kairan's own alerts (weather warnings) have none.
        if let actor = createdBy, !draft.attachmentIds.isEmpty {
            // The files, then their links at the end of the mail (committed together: no mail
            // goes out before both are there).
            let files = try await AttachmentService.attach(draft.attachmentIds, to: .alert(id), actor: actor,
                                                           limit: services.attachmentLimits.perAlert, now: now, on: db)
            try await DeliveryStore.appendToBody(message: message.id, Self.fileLinks(files, token: publicToken, publicURL: services.publicURL), on: db)
        }
        // App users who asked for the town's alerts, on every device (Web Push): due when the
        // mail is, urgent ones at once with high urgency; stale after a few hours (a flood
        // warning from yesterday is no news).
        let push = AlertPush(id: id, subject: fullSubject, text: body, token: publicToken, urgent: draft.urgent)
        try await AlertPushStore.enqueue(alert: id, categoryID: category.id, mandatory: category.mandatory, areaIDs: areaIDs, payload: push.json,
                                         urgency: draft.urgent ? "high" : "normal", ttlSeconds: draft.urgent ? 6 * 3600 : 24 * 3600,
                                         dueAt: sendAt, now: now, on: db)
        guard let record = try await AlertStore.alert(id: id, on: db) else { throw ServiceError.notFound }
        var counts = DeliveryCounts()
        counts.queued = recipients
        return (record, true, counts)
    }

    /// Sends an alert prepared by Kairan (a weather warning) now, in the caller's
    /// transaction: by nobody (`createdBy` nil) or by the alert staff who released it.
    /// `key` makes it once: the same key again returns the first alert.
    func sendPrepared(_ draft: AlertDraft, key: String, createdBy: Actor?, logger: Logger,
                      on db: DatabaseConnection) async throws -> (AlertRecord, DeliveryCounts) {
        let subject = try Content.text(draft.subject, field: "subject", max: Self.subjectMax)
        let body = try Content.text(draft.body, field: "body", max: Self.bodyMax, multiline: true)
        let now = services.clock.now()
        let (record, created, counts) = try await write(draft, subject: subject, body: body, areaCodes: Array(Set(draft.areas)).sorted(), key: key,
                                                        sendAt: now, scheduled: false, createdBy: createdBy, now: now, on: db)
        if created {
            Counter(label: "kairan_deliveries_queued_total", dimensions: [("channel", "mail")]).increment(by: record.recipientCount)
            logger.info("prepared alert created", metadata: ["alert_id": "\(record.id)", "recipients": "\(record.recipientCount)", "urgent": "\(record.urgent)"])
        }
        return (record, counts)
    }

    /// The end of an alert's mail: each file's name, kind and size, and its link. A link, never
    /// the file: a feature phone cannot open a 2 MB PDF, and a carrier's queue should not
    /// carry thousands of copies of one.
    static func fileLinks(_ files: [AttachmentRecord], token: String, publicURL: String) -> String {
        let base = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        return "\n\n【添付ファイル】\n" + files.map { file in
            "\(file.filename)（\(file.kind?.label ?? "ファイル")・\(AttachmentKind.sizeText(file.byteSize))）\n\(base)/a/\(token)/files/\(file.id)\n"
        }.joined()
    }

    public func list(_ actor: Actor, before: Int64?, limit: Int, logger: Logger) async throws -> Page<AlertView> {
        try requireAlertStaff(actor)
        let items = try await database.withConnection { db in
            let records = try await AlertStore.alerts(before: before, limit: limit, on: db)
            let counts = try await DeliveryStore.counts(messages: records.map(\.messageID), on: db)
            return records.map { AlertView($0, progress: counts[$0.messageID] ?? DeliveryCounts()) }
        }
        return Page(items, limit: limit, cursor: \.id)
    }

    /// Progress while it runs: queued / retrying / sending / sent / failed / bounced.
    public func alert(_ actor: Actor, _ id: Int64, logger: Logger) async throws -> AlertView {
        try requireAlertStaff(actor)
        return try await database.withConnection { db in
            guard let record = try await AlertStore.alert(id: id, on: db) else { throw ServiceError.notFound }
            return AlertView(record, progress: try await DeliveryStore.counts(message: record.messageID, on: db))
        }
    }

    /// An alert's progress per carrier (docomo, au, SoftBank・Y!mobile, other phones, then
    /// everything else as "PC・その他"), in that order.
    public func progressByCarrier(_ actor: Actor, _ id: Int64, logger: Logger) async throws -> [(carrier: String, counts: DeliveryCounts)] {
        try requireAlertStaff(actor)
        let byDomain = try await database.withConnection { db in
            guard let record = try await AlertStore.alert(id: id, on: db) else { throw ServiceError.notFound }
            return try await DeliveryStore.countsByDomain(message: record.messageID, on: db)
        }
        var byCarrier: [String: DeliveryCounts] = [:]
        for (domain, counts) in byDomain {
            let carrier = EmailAddress.carrier(ofDomain: domain) ?? "PC・その他"
            var total = byCarrier[carrier] ?? DeliveryCounts()
            total.queued += counts.queued; total.retrying += counts.retrying; total.sending += counts.sending; total.sent += counts.sent
            total.failed += counts.failed; total.dead += counts.dead; total.bounced += counts.bounced; total.cancelled += counts.cancelled
            byCarrier[carrier] = total
        }
        let order = ["docomo", "au", "SoftBank・Y!mobile", "その他の携帯", "PC・その他"]
        return order.compactMap { carrier in byCarrier[carrier].map { (carrier, $0) } }
    }

    /// The delivery record's CSV header and one line per delivery, for the API's and the
    /// pages' downloads alike.
    public static let deliveryRecordHeader = "delivery_id,address,state,attempts,last_attempt_at,sent_at,last_reply\r\n"

    /// Writes the whole record, a page of 2,000 rows at a time (each page read within
    /// `timeLimit`), so a town-wide alert never sits in memory whole: for a streamed download.
    public func writeDeliveryRecord(_ actor: Actor, alert id: Int64, timeLimit: Duration, logger: Logger,
                                    to write: (String) async throws -> Void) async throws {
        try await write(Self.deliveryRecordHeader)
        var after: Int64 = 0
        while true {
            let rows = try await deliveries(actor, alert: id, after: after, limit: 2000, timeLimit: timeLimit, logger: logger)
            guard let last = rows.last else { return }
            after = last.id
            try await write(rows.map(Self.deliveryRecordLine).joined())
        }
    }

    public static func deliveryRecordLine(_ row: AlertStore.DeliveryRow) -> String {
        [String(row.id), row.address, row.state, String(row.attempts), CSV.date(row.lastAttemptAt), CSV.date(row.sentAt), row.lastReply ?? ""]
            .map(CSV.field).joined(separator: ",") + "\r\n"
    }

    /// Withdraws what has not been sent yet.
    public func cancel(_ actor: Actor, _ id: Int64, logger: Logger) async throws -> AlertView {
        try requireAlertStaff(actor)
        let now = services.clock.now()
        let (view, withdrawn) = try await database.withTransaction { db in
            guard let withdrawn = try await AlertStore.cancel(alert: id, now: now, on: db),
                  let record = try await AlertStore.alert(id: id, on: db) else { throw ServiceError.notFound }
            return (AlertView(record, progress: try await DeliveryStore.counts(message: record.messageID, on: db)), withdrawn)
        }
        logger.info("alert cancelled", metadata: ["alert_id": "\(id)", "withdrawn": "\(withdrawn)"])
        return view
    }

    /// Takes a file off an alert that has gone out: the wrong PDF, or a list that names a
    /// child. Mail already delivered cannot be called back, but its link (and the link in
    /// mail still queued, and on the alert's page) then answers that the file was withdrawn,
    /// and the bytes are removed at once unless something else shows them. The alert lists
    /// it under `withdrawnFiles` with the time. Withdrawing it again changes nothing.
    ///
    /// Before its send time nothing has gone out: the alert is cancelled and sent again
    /// without the file (409 `alert_not_sent`), so no resident gets a mail whose link is dead
    /// from the start.
    public func withdrawFile(_ actor: Actor, alert id: Int64, attachment: AttachmentID, logger: Logger) async throws -> AlertView {
        try requireAlertStaff(actor)
        let now = services.clock.now()
        let (view, key) = try await database.withTransaction { db -> (AlertView, String?) in
            // The alert's row locked: two staff withdrawing at once each see the other's.
            guard let sendAt = try await AlertStore.lockForFiles(alert: id, on: db) else { throw ServiceError.notFound }
            var key: String?
            if try await AlertStore.withdrawnFile(alert: id, attachment: attachment, on: db) == nil {
                guard sendAt <= now else {
                    throw ServiceError.conflict("alert_not_sent", "the alert has not gone out yet: cancel it and send it again without the file")
                }
                guard let found = try await AlertStore.withdrawFile(alert: id, attachment: attachment, by: actor.accountID, now: now, on: db) else {
                    throw ServiceError.notFound
                }
                key = found
            }
            guard let record = try await AlertStore.alert(id: id, on: db) else { throw ServiceError.notFound }
            return (AlertView(record, progress: try await DeliveryStore.counts(message: record.messageID, on: db)), key)
        }
        if let key {
            logger.notice("alert file withdrawn", metadata: ["alert_id": "\(id)", "attachment_id": "\(attachment)", "by": "\(actor.accountID)"])
            await services.attachments.removeNowIfUnused(key, logger: logger)
        }
        return view
    }

    /// One page of an alert's per-recipient record (proof of contact), by delivery id
    /// ascending. `timeLimit` bounds a page read outside a request's own deadline (a
    /// streamed export).
    public func deliveries(_ actor: Actor, alert id: Int64, after: Int64, limit: Int, timeLimit: Duration,
                           logger: Logger) async throws -> [AlertStore.DeliveryRow] {
        try requireAlertStaff(actor)
        return try await database.withConnection(timeLimit: timeLimit) { db in
            guard let record = try await AlertStore.alert(id: id, on: db) else { throw ServiceError.notFound }
            return try await AlertStore.deliveries(message: record.messageID, after: after, limit: limit, on: db)
        }
    }

    // MARK: - The public page, and pushes to app users

    /// The alert behind a public link (`/a/<token>`: a push opens it, and so may anyone the
    /// mail was forwarded to), from its send time on; "not found" otherwise.
    public func publicAlert(token: String, logger: Logger) async throws -> AlertPushStore.PublicAlert {
        guard (16...64).contains(token.utf8.count) else { throw ServiceError.notFound }
        let now = services.clock.now()
        guard let alert = try await database.withConnection({ db in try await AlertPushStore.publicAlert(token: token, now: now, on: db) }) else {
            throw ServiceError.notFound
        }
        return alert
    }

    /// The staff's text of an alert as mailed: without the links to its files added at the
    /// end (a page lists the files itself).
    /// `hasFiles`: it was sent with files (some may have been withdrawn since).
    public static func text(ofMailed body: String, hasFiles: Bool) -> String {
        guard hasFiles, let range = body.range(of: "\n\n【添付ファイル】\n", options: .backwards) else { return body }
        return String(body[..<range.lowerBound])
    }

    /// Which of the town's alerts an app user gets on their devices (Web Push).
    public struct PushChoices: Codable, Sendable, Equatable {
        public let enabled: Bool
        /// Category codes chosen (mandatory ones come whatever this says).
        public let categories: [String]
        /// Area codes chosen; empty: every area.
        public let areas: [String]
        public init(enabled: Bool, categories: [String], areas: [String]) {
            self.enabled = enabled; self.categories = categories; self.areas = areas
        }
    }

    public func pushChoices(_ actor: Actor, logger: Logger) async throws -> PushChoices {
        let stored = try await database.withConnection { db in try await AlertPushStore.preferences(account: actor.accountID, on: db) }
        return stored.map { PushChoices(enabled: true, categories: $0.categories, areas: $0.areas) } ?? PushChoices(enabled: false, categories: [], areas: [])
    }

    /// Turns the town's alerts on this account's devices on (with these categories, absent:
    /// all of them; and areas, absent or empty: every area) or off.
    public func setPushChoices(_ actor: Actor, enabled: Bool, categories: [String]?, areas: [String]?, logger: Logger) async throws -> PushChoices {
        // Checked even when turning it off: a request is refused for what it is, not for what
        // it asks.
        guard (categories?.count ?? 0) <= 50, (areas?.count ?? 0) <= 100 else {
            throw ValidationError(field: "categories", code: "too_many", message: "at most 50 categories and 100 areas")
        }
        for (field, codes) in [("categories", categories ?? []), ("areas", areas ?? [])] where codes.contains(where: { $0.count > 32 }) {
            throw ValidationError(field: field, code: "too_long", message: "a code is at most 32 characters")
        }
        let now = services.clock.now()
        try await database.withTransaction { db in
            guard enabled else {
                try await AlertPushStore.removePreferences(account: actor.accountID, on: db)
                try await AlertPushStore.cancelUnwanted(account: actor.accountID, on: db)
                return
            }
            let known = try await AlertStore.categories(on: db).filter { !$0.archived }
            let knownAreas = try await AlertStore.areas(on: db).filter { !$0.archived }
            let chosen = Array(Set(categories ?? known.map(\.code))).sorted()
            let chosenAreas = Array(Set(areas ?? [])).sorted()
            guard chosen.count <= 50, chosenAreas.count <= 100 else {
                throw ValidationError(field: "categories", code: "too_many", message: "too many categories or areas")
            }
            if let unknown = chosen.first(where: { code in !known.contains { $0.code == code } }) {
                throw ValidationError(field: "categories", code: "unknown_category", message: "unknown category '\(unknown)'")
            }
            if let unknown = chosenAreas.first(where: { code in !knownAreas.contains { $0.code == code } }) {
                throw ValidationError(field: "areas", code: "unknown_area", message: "unknown area '\(unknown)'")
            }
            try await AlertPushStore.setPreferences(account: actor.accountID, categories: chosen, areas: chosenAreas, now: now, on: db)
            try await AlertPushStore.cancelUnwanted(account: actor.accountID, on: db)
        }
        logger.info("alert push choices saved", metadata: ["enabled": "\(enabled)"])
        return try await pushChoices(actor, logger: logger)
    }

    // MARK: - Categories and areas

    public func categories(logger: Logger) async throws -> [AlertCategoryView] {
        try await database.withConnection { try await AlertStore.categories(on: $0) }.map(AlertCategoryView.init)
    }

    public func areas(logger: Logger) async throws -> [AlertAreaView] {
        try await database.withConnection { try await AlertStore.areas(on: $0) }.map(AlertAreaView.init)
    }

    /// Configuring categories and areas is for town administrators.
    public func requireConfigurer(_ actor: Actor) throws {
        try Policy.decide(actor, .configureAlerts).require()
    }

    static func code(_ code: String, pattern: String) throws -> String {
        guard code.range(of: pattern, options: .regularExpression) != nil else {
            throw ValidationError(field: "code", code: "invalid_code", message: "code must match \(pattern)")
        }
        return code
    }

    static func position(_ position: Int?) throws {
        if let position, !(0...10_000).contains(position) {
            throw ValidationError(field: "position", code: "out_of_range", message: "position must be between 0 and 10000")
        }
    }

    /// Creates or edits a category; nil keeps a value. Marking one mandatory makes every
    /// subscriber receive it.
    public func putCategory(_ actor: Actor, code rawCode: String, name rawName: String?, mandatory: Bool?, position: Int?, archived: Bool?,
                            logger: Logger) async throws -> AlertCategoryView {
        try requireConfigurer(actor)
        let code = try Self.code(rawCode, pattern: "^[a-z][a-z0-9_]{0,31}$")
        let name = try rawName.map { try Content.text($0, field: "name", max: 30) }
        try Self.position(position)
        let now = services.clock.now()
        let record = try await database.withTransaction { db in
            try await AlertStore.upsertCategory(code: code, name: name, mandatory: mandatory, position: position, archived: archived, now: now,
                                                on: db)
        }
        guard let record else { throw ValidationError(field: "name", code: "required", message: "a new category needs a name") }
        return AlertCategoryView(record)
    }

    /// Creates or edits an area; nil keeps a value.
    public func putArea(_ actor: Actor, code rawCode: String, name rawName: String?, position: Int?, archived: Bool?, logger: Logger) async throws -> AlertAreaView {
        try requireConfigurer(actor)
        let code = try Self.code(rawCode, pattern: "^[a-z0-9][a-z0-9_-]{0,31}$")
        let name = try rawName.map { try Content.text($0, field: "name", max: 30) }
        try Self.position(position)
        let now = services.clock.now()
        let record = try await database.withTransaction { db in
            try await AlertStore.upsertArea(code: code, name: name, position: position, archived: archived, now: now, on: db)
        }
        guard let record else { throw ValidationError(field: "name", code: "required", message: "a new area needs a name") }
        return AlertAreaView(record)
    }

    // MARK: - Subscribers

    public enum SubscriberStatus: String, Sendable {
        case active, suppressed, unsubscribed
    }

    public func subscribers(_ actor: Actor, status: SubscriberStatus?, email rawEmail: String?, before: Int64?, limit: Int,
                            logger: Logger) async throws -> Page<SubscriberView> {
        try requireAlertStaff(actor)
        let emailKey = try rawEmail.map { try EmailAddress($0).comparisonKey }
        let records = try await database.withConnection { db in
            try await AlertStore.subscribers(status: status?.rawValue, emailKey: emailKey, before: before, limit: limit, on: db)
        }
        return Page(records.map(SubscriberView.init), limit: limit, cursor: \.id)
    }

    /// A subscriber's choices as staff or the resident give them.
    public struct SubscriberChoices: Sendable {
        public var charset: String?
        public var categories: [String]?
        public var areas: [String]?
        public var receiveWindow: TimeWindow?
        public init(charset: String? = nil, categories: [String]? = nil, areas: [String]? = nil, receiveWindow: TimeWindow? = nil) {
            self.charset = charset; self.categories = categories; self.areas = areas; self.receiveWindow = receiveWindow
        }
    }

    /// Registers a resident who consented on paper at the town office (no mail round trip).
    public func createSubscriber(_ actor: Actor, email rawEmail: String, _ choices: SubscriberChoices, logger: Logger) async throws -> SubscriberView {
        try requireAlertStaff(actor)
        let address = try EmailAddress(rawEmail)
        // Absent: what the address's kind needs (carriers get ISO-2022-JP), as for a resident
        // who registered by 空メール.
        let preferences = try Self.preferences(charset: choices.charset ?? address.defaultMailCharset, categories: choices.categories,
                                               areas: choices.areas, window: try choices.receiveWindow?.minutes(field: "receiveWindow"))
        let now = services.clock.now()
        let record = try await database.withTransaction { db in
            try await AlertStore.subscribe(address, preferences: preferences, token: RandomToken.urlSafe(byteCount: 24), now: now, on: db)
        }
        logger.info("alert subscriber registered by staff", metadata: ["subscriber_id": "\(record.id)", "domain": "\(address.domain.lowercased())"])
        return SubscriberView(record)
    }

    public static func preferences(charset: String?, categories: [String]?, areas: [String]?, window: (start: Int, end: Int)?) throws -> AlertStore.Preferences {
        let charset = charset ?? "utf-8"
        guard ["utf-8", "iso-2022-jp"].contains(charset) else {
            throw ValidationError(field: "charset", code: "invalid_charset", message: "charset must be utf-8 or iso-2022-jp")
        }
        guard (categories?.count ?? 0) <= 50, (areas?.count ?? 0) <= 100 else {
            throw ValidationError(field: "categories", code: "too_many", message: "too many categories or areas")
        }
        return AlertStore.Preferences(charset: charset, windowStart: window?.start, windowEnd: window?.end, categoryCodes: categories, areaCodes: areas ?? [])
    }

    public func removeSubscriber(_ actor: Actor, _ id: Int64, logger: Logger) async throws {
        try requireAlertStaff(actor)
        let now = services.clock.now()
        let found = try await database.withTransaction { db in
            try await AlertStore.unsubscribe(subscriber: id, now: now, on: db)
        }
        guard found else { throw ServiceError.notFound }
    }
}
