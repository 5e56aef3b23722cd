import Foundation
import Hummingbird
import KairanCore
import KairanServices
import KairanStore
import Logging
import Metrics


/// Town staff compose alerts, send them now or at a time, follow their progress and export
/// the per-recipient record.
struct AlertsController {
    let dependencies: APIDependencies
    var database: Database { dependencies.database }
    var settings: AlertSettings { dependencies.alerts }

    static let subjectMax = 100
    static let bodyMax = 4000
    static let idempotencyKeyMax = 100

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.get("/v1/alerts", use: list)
        routes.post("/v1/alerts", use: create)
        routes.get("/v1/alerts/{alertID}", use: show)
        routes.post("/v1/alerts/{alertID}/cancel", use: cancel)
        routes.get("/v1/alerts/{alertID}/deliveries.csv", use: exportCSV)
    }

    struct CreateAlert: Decodable {
        let category: String
        let areas: [String]?
        let urgent: Bool
        let subject: String
        let body: String
        /// Absent: now.
        let sendAt: Date?
    }

    struct AlertResponse: ResponseEncodable, Sendable {
        let id: Int64
        let category: String
        let areas: [String]
        let urgent: Bool
        let subject: String
        let body: String
        let sendAt: Date
        let createdAt: Date
        let cancelled: Bool
        let deadline: Date?
        /// Urgent, and not every recipient's mail was accepted by the deadline.
        let deadlineMissed: Bool
        let recipients: Int
        let progress: DeliveryCounts

        init(_ record: AlertRecord, progress: DeliveryCounts) {
            id = record.id
            category = record.categoryCode
            areas = record.areaCodes
            urgent = record.urgent
            subject = record.subject
            body = record.body
            sendAt = record.sendAt
            createdAt = record.createdAt
            cancelled = record.cancelledAt != nil
            deadline = record.deadlineAt
            deadlineMissed = record.deadlineMissed
            recipients = record.recipientCount
            self.progress = progress
        }
    }

    @Sendable func create(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<AlertResponse> {
        let actor = try context.requireActor()
        try APIError.check(Policy.decide(actor, .sendAlerts))
        let input = try await request.decode(as: CreateAlert.self, context: context)
        let subject = try Content.text(input.subject, field: "subject", max: Self.subjectMax)
        let body = try Content.text(input.body, field: "body", max: Self.bodyMax, multiline: true)
        let areaCodes = Array(Set(input.areas ?? [])).sorted()
        guard areaCodes.count <= 100 else {
            throw APIError.validation(ValidationError(field: "areas", code: "too_many", message: "at most 100 areas"))
        }
        let key = try request.headers[.init("Idempotency-Key")!].map { key -> String in
            guard !key.isEmpty, key.count <= Self.idempotencyKeyMax, key.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x21 && $0.value < 0x7F }) else {
                throw APIError.badRequest("Idempotency-Key must be 1 to \(Self.idempotencyKeyMax) visible ASCII characters")
            }
            return "alert:\(actor.accountID):\(key)"
        }
        let now = dependencies.clock.now()
        let sendAt = input.sendAt ?? now
        guard sendAt >= now.addingTimeInterval(-60), sendAt <= now.addingTimeInterval(60 * 24 * 3600) else {
            throw APIError.validation(ValidationError(field: "sendAt", code: "out_of_range", message: "sendAt must be between now and 60 days ahead"))
        }
        let scheduled = input.sendAt != nil && sendAt > now.addingTimeInterval(60)

        let (record, created, counts) = try await database.withTransaction { connection in
            let categories = try await AlertStore.categories(on: connection, logger: context.logger)
            guard let category = categories.first(where: { $0.code == input.category && !$0.archived }) else {
                throw APIError.validation(ValidationError(field: "category", code: "unknown_category",
                                                          message: "category must be one of \(categories.filter { !$0.archived }.map(\.code).joined(separator: ", "))"))
            }
            let areas = try await AlertStore.areas(on: connection, logger: context.logger)
            let areaIDs = try areaCodes.map { code in
                guard let area = areas.first(where: { $0.code == code && !$0.archived }) else {
                    throw APIError.validation(ValidationError(field: "areas", code: "unknown_area", message: "unknown area '\(code)'"))
                }
                return area.id
            }
            let deadline = input.urgent ? sendAt.addingTimeInterval(settings.urgentDeadline) : nil
            // Japanese alert mail names its category up front: 【防災】…
            let fullSubject = subject.hasPrefix("【") ? subject : "【\(category.name)】\(subject)"
            let message = try await DeliveryStore.createMessage(
                kind: "alert", idempotencyKey: key, urgent: input.urgent, fromName: settings.fromName, subject: fullSubject, body: body,
                listID: "\(category.code).alerts.\(settings.mailDomain)", deadline: deadline, now: now, on: connection, logger: context.logger)
            if !message.created {
                // The same request again: answer with what the first one created.
                guard let existing = try await AlertStore.alert(id: nil, message: message.id, on: connection, logger: context.logger) else {
                    throw APIError(.conflict, code: "idempotency_key_reused", message: "this Idempotency-Key was used for something else")
                }
                return (existing, false, try await DeliveryStore.counts(message: message.id, on: connection, logger: context.logger))
            }
            let draft = AlertStore.AlertDraft(category: category, areaIDs: areaIDs, urgent: input.urgent, sendAt: sendAt, scheduled: scheduled, deadline: deadline)
            let recipients = try await AlertStore.enqueueAlert(message: message.id, draft: draft, timing: settings.timing, on: connection, logger: context.logger)
            let id = try await AlertStore.insertAlert(message: message.id, draft: draft, recipients: recipients, createdBy: actor.accountID,
                                                      now: now, on: connection, logger: context.logger)
            guard let record = try await AlertStore.alert(id: id, on: connection, logger: context.logger) else { throw APIError.notFound }
            var counts = DeliveryCounts()
            counts.queued = recipients
            return (record, true, counts)
        }
        if created {
            Counter(label: "kairan_deliveries_queued_total", dimensions: [("channel", "mail")]).increment(by: record.recipientCount)
            context.logger.info("alert created", metadata: [
                "alert_id": "\(record.id)", "recipients": "\(record.recipientCount)", "urgent": "\(record.urgent)", "scheduled": "\(scheduled)",
            ])
        }
        return EditedResponse(status: created ? .created : .ok, response: AlertResponse(record, progress: counts))
    }

    @Sendable func list(_ request: Request, context: KairanRequestContext) async throws -> Page<AlertResponse> {
        let actor = try context.requireActor()
        try APIError.check(Policy.decide(actor, .sendAlerts))
        let before = try request.cursor("before")
        let limit = try request.pageLimit()
        let items = try await database.withConnection { connection in
            let records = try await AlertStore.alerts(before: before, limit: limit, on: connection, logger: context.logger)
            let counts = try await DeliveryStore.counts(messages: records.map(\.messageID), on: connection, logger: context.logger)
            return records.map { AlertResponse($0, progress: counts[$0.messageID] ?? DeliveryCounts()) }
        }
        return Page(items: items, nextBefore: items.count == limit ? items.last?.id : nil)
    }

    private func load(_ context: KairanRequestContext) async throws -> (AlertRecord, DeliveryCounts) {
        let actor = try context.requireActor()
        try APIError.check(Policy.decide(actor, .sendAlerts))
        let id = try context.parameters.require("alertID", as: Int64.self)
        return try await database.withConnection { connection in
            guard let record = try await AlertStore.alert(id: id, on: connection, logger: context.logger) else { throw APIError.notFound }
            return (record, try await DeliveryStore.counts(message: record.messageID, on: connection, logger: context.logger))
        }
    }

    /// Progress while it runs: queued / retrying / sending / sent / failed / bounced.
    @Sendable func show(_ request: Request, context: KairanRequestContext) async throws -> AlertResponse {
        let (record, counts) = try await load(context)
        return AlertResponse(record, progress: counts)
    }

    @Sendable func cancel(_ request: Request, context: KairanRequestContext) async throws -> AlertResponse {
        let actor = try context.requireActor()
        try APIError.check(Policy.decide(actor, .sendAlerts))
        let id = try context.parameters.require("alertID", as: Int64.self)
        let now = dependencies.clock.now()
        let (record, counts, withdrawn) = try await database.withTransaction { connection in
            guard let withdrawn = try await AlertStore.cancel(alert: id, now: now, on: connection, logger: context.logger),
                  let record = try await AlertStore.alert(id: id, on: connection, logger: context.logger) else { throw APIError.notFound }
            return (record, try await DeliveryStore.counts(message: record.messageID, on: connection, logger: context.logger), withdrawn)
        }
        context.logger.info("alert cancelled", metadata: ["alert_id": "\(id)", "withdrawn": "\(withdrawn)"])
        return AlertResponse(record, progress: counts)
    }

    /// The per-recipient delivery record (proof of contact), streamed a page at a time so a
    /// town-wide alert never sits in memory whole.
    @Sendable func exportCSV(_ request: Request, context: KairanRequestContext) async throws -> Response {
        let (record, _) = try await load(context)
        let database = self.database
        let logger = context.logger
        let requestTimeout = dependencies.requestTimeout
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: "delivery_id,address,state,attempts,last_attempt_at,sent_at,last_reply\r\n"))
            var after: Int64 = 0
            while true {
                // Each page within the request timeout: the body is written after the
                // request's own deadline has let go.
                let from = after
                let rows = try await database.withConnection(timeLimit: requestTimeout) { connection in
                    try await AlertStore.deliveries(message: record.messageID, after: from, limit: 2000, on: connection, logger: logger)
                }
                guard let last = rows.last else { break }
                after = last.id
                var chunk = ""
                for row in rows {
                    chunk += [String(row.id), row.address, row.state, String(row.attempts), CSV.date(row.lastAttemptAt), CSV.date(row.sentAt), row.lastReply ?? ""]
                        .map(CSV.field).joined(separator: ",") + "\r\n"
                }
                try await writer.write(ByteBuffer(string: chunk))
            }
            try await writer.finish(nil)
        }
        var headers: HTTPFields = [:]
        headers[.contentType] = "text/csv; charset=utf-8"
        headers[.contentDisposition] = "attachment; filename=\"alert-\(record.id)-deliveries.csv\""
        return Response(status: .ok, headers: headers, body: body)
    }
}

/// RFC 4180 fields. A field a spreadsheet would run as a formula gets a leading quote mark
/// (CSV injection): the export is opened in Excel at the town office.
enum CSV {
    static func field(_ value: String) -> String {
        var text = value
        if let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { text = "'" + text }
        if text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return text
    }

    static func date(_ date: Date?) -> String {
        guard let date else { return "" }
        return date.formatted(.iso8601)
    }
}
