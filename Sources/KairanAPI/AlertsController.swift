import Foundation
import Hummingbird
import KairanCore
import KairanServices
import KairanStore


/// Alerts over JSON; the rules are `AlertService`'s.
struct AlertsController {
    let dependencies: APIDependencies
    var alerts: AlertService { dependencies.services.alertService }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.get("/v1/alerts", use: list)
        routes.post("/v1/alerts", use: create)
        routes.get("/v1/alerts/{alertID}", use: show)
        routes.post("/v1/alerts/{alertID}/cancel", use: cancel)
        routes.delete("/v1/alerts/{alertID}/attachments/{attachmentID}", use: withdrawFile)
        routes.get("/v1/alerts/{alertID}/deliveries.csv", use: exportCSV)
        routes.get("/v1/weather-warnings/pending", use: pendingWarnings)
        routes.post("/v1/weather-warnings/pending/{pendingID}/send", use: sendPendingWarning)
        routes.post("/v1/weather-warnings/pending/{pendingID}/discard", use: discardPendingWarning)
    }

    struct CreateAlert: Decodable {
        let category: String
        let areas: [String]?
        let urgent: Bool
        let subject: String
        let body: String
        /// Absent: now.
        let sendAt: Date?
        /// Uploads (`POST /v1/attachments`): the mail links to each.
        let attachmentIds: [AttachmentID]?
    }

    @Sendable func create(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<AlertView> {
        let actor = try context.requireActor()
        try alerts.requireAlertStaff(actor)
        let input = try await request.decode(as: CreateAlert.self, context: context)
        let key = request.headers[.init("Idempotency-Key")!]
        if let key, !AlertService.isValidIdempotencyKey(key) {
            throw APIError.badRequest("Idempotency-Key must be 1 to \(AlertService.idempotencyKeyMax) visible ASCII characters")
        }
        let draft = AlertDraft(category: input.category, areas: input.areas ?? [], urgent: input.urgent, subject: input.subject, body: input.body,
                               sendAt: input.sendAt, idempotencyKey: key, attachmentIds: input.attachmentIds ?? [])
        let created = try await alerts.create(actor, draft, logger: context.logger)
        return EditedResponse(status: created.isNew ? .created : .ok, response: created.alert)
    }

    @Sendable func list(_ request: Request, context: KairanRequestContext) async throws -> Page<AlertView> {
        let actor = try context.requireActor()
        try alerts.requireAlertStaff(actor)
        return try await alerts.list(actor, before: try request.cursor("before"), limit: try request.pageLimit(), logger: context.logger)
    }

    /// Progress while it runs: queued / retrying / sending / sent / failed / bounced.
    @Sendable func show(_ request: Request, context: KairanRequestContext) async throws -> AlertView {
        let actor = try context.requireActor()
        try alerts.requireAlertStaff(actor)
        return try await alerts.alert(actor, try context.parameters.require("alertID", as: Int64.self), logger: context.logger)
    }

    @Sendable func cancel(_ request: Request, context: KairanRequestContext) async throws -> AlertView {
        let actor = try context.requireActor()
        try alerts.requireAlertStaff(actor)
        return try await alerts.cancel(actor, try context.parameters.require("alertID", as: Int64.self), logger: context.logger)
    }

    /// Takes a file off an alert that went out: its link then says it was withdrawn → the
    /// alert, the file under `withdrawnFiles`.
    @Sendable func withdrawFile(_ request: Request, context: KairanRequestContext) async throws -> AlertView {
        let actor = try context.requireActor()
        try alerts.requireAlertStaff(actor)
        return try await alerts.withdrawFile(actor, alert: try context.parameters.require("alertID", as: Int64.self),
                                             attachment: try context.parameters.require("attachmentID", as: AttachmentID.self), logger: context.logger)
    }

    /// The per-recipient delivery record (proof of contact), streamed a page at a time so a
    /// town-wide alert never sits in memory whole.
    @Sendable func exportCSV(_ request: Request, context: KairanRequestContext) async throws -> Response {
        let actor = try context.requireActor()
        try alerts.requireAlertStaff(actor)
        // Asked before the body starts: an unknown alert is still an ordinary 404.
        let alert = try await alerts.alert(actor, try context.parameters.require("alertID", as: Int64.self), logger: context.logger)
        let service = alerts
        let logger = context.logger
        let requestTimeout = dependencies.requestTimeout
        let body = ResponseBody { writer in
            // Each page within the request timeout: the body is written after the request's
            // own deadline has let go.
            try await service.writeDeliveryRecord(actor, alert: alert.id, timeLimit: requestTimeout, logger: logger) { text in
                try await writer.write(ByteBuffer(string: text))
            }
            try await writer.finish(nil)
        }
        var headers: HTTPFields = [:]
        headers[.contentType] = "text/csv; charset=utf-8"
        headers[.contentDisposition] = "attachment; filename=\"alert-\(alert.id)-deliveries.csv\""
        return Response(status: .ok, headers: headers, body: body)
    }
}

extension AlertsController {
    /// Alerts from weather warnings waiting for alert staff (`--jma-approval`), then the
    /// latest decided ones.
    @Sendable func pendingWarnings(_ request: Request, context: KairanRequestContext) async throws -> Items<PendingWarningView> {
        let actor = try context.requireActor()
        return Items(items: try await dependencies.services.weatherWarnings.pending(actor, limit: try request.pageLimit(), logger: context.logger))
    }

    /// Sends it as prepared → 201 with the alert.
    @Sendable func sendPendingWarning(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<AlertView> {
        let actor = try context.requireActor()
        let id = try context.parameters.require("pendingID", as: Int64.self)
        return EditedResponse(status: .created, response: try await dependencies.services.weatherWarnings.send(actor, pending: id, logger: context.logger))
    }

    @Sendable func discardPendingWarning(_ request: Request, context: KairanRequestContext) async throws -> PendingWarningView {
        let actor = try context.requireActor()
        let id = try context.parameters.require("pendingID", as: Int64.self)
        return try await dependencies.services.weatherWarnings.discard(actor, pending: id, logger: context.logger)
    }
}

extension PendingWarningView: ResponseEncodable {}
extension AlertView: ResponseEncodable {}
