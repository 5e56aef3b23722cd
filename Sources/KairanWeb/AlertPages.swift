import Foundation
import Hummingbird
import KairanAPI
import KairanCore
import KairanDelivery
import KairanServices
import KairanStore

/// Town staff and the alert mail (防災・防犯メール): the composer with a preview of what
/// carrier phones show, an alert's progress by carrier with its delivery record (CSV), the
/// subscribers, and the categories and areas.
struct AlertPages {
    let web: WebFrontEnd
    var services: Services { web.services }

    func addRoutes(to routes: RouterGroup<KairanRequestContext>) {
        routes.get("/alerts", use: list)
        routes.get("/alerts/new", use: composePage)
        routes.post("/alerts", use: compose)
        routes.get("/alerts/subscribers", use: subscribers)
        routes.get("/alerts/settings", use: settings)
        routes.post("/alerts/settings/categories", use: putCategory)
        routes.post("/alerts/settings/areas", use: putArea)
        routes.post("/alerts/weather/:id/send", use: sendWeatherWarning)
        routes.post("/alerts/weather/:id/discard", use: discardWeatherWarning)
        routes.get("/alerts/:id", use: alert)
        routes.post("/alerts/:id/files/:file/withdraw", use: withdrawFile)
        routes.get("/a/:token", use: publicAlert)
        routes.get("/alerts/:id/deliveries.csv", use: deliveryRecord)
    }

    struct ListView {
        struct Item { let id: Int64; let subject: String; let urgent: Bool; let when: String; let sent: Int; let recipients: Int; let cancelled: Bool }
        /// An alert from a weather warning waiting for a person (`--jma-approval`).
        struct Waiting { let id: Int64; let subject: String; let urgent: Bool; let reported: String; let paragraphs: [String] }
        let csrf: String
        let waiting: [Waiting]
        let items: [Item]
        let next: String?
    }

    @Sendable func list(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let before = request.uri.queryParameters["before"].flatMap { Int64(String($0)) }
            let alerts = try await services.alertService.list(actor, before: before, limit: 30, logger: context.logger)
            let zone = services.timeZone
            // The first page shows what waits; later pages are the record only.
            let waiting = before != nil ? [] : try await services.weatherWarnings.pending(actor, limit: 20, logger: context.logger)
                .filter { $0.status == "pending" }
                .map { ListView.Waiting(id: $0.id, subject: $0.subject, urgent: $0.urgent, reported: Dates.display($0.reportedAt, zone: zone),
                                        paragraphs: Messages.lines($0.body)) }
            let view = ListView(csrf: page.csrf, waiting: waiting, items: alerts.items.map {
                .init(id: $0.id, subject: $0.subject, urgent: $0.urgent, when: Dates.display($0.sendAt, zone: zone), sent: $0.progress.sent,
                      recipients: $0.recipients, cancelled: $0.cancelled)
            }, next: alerts.nextBefore.map { "/alerts?before=\($0)" })
            return web.renderer.page("alerts", title: "防災・防犯メール", content: view, request: page)
        }
    }

    struct ComposeView {
        struct Choice { let code: String; let name: String; let selected: Bool }
        struct Preview { let subject: String; let lines: [String]; let carrierSubject: String?; let carrierLines: [String]; let differs: Bool }
        let csrf: String
        let key: String
        let categories: [Choice]
        let areas: [Choice]
        let urgent: Bool
        let subject: String
        let body: String
        let sendAt: String
        let preview: Preview?
        let errors: [String]
        /// Uploads chosen already (kept through a preview) and how many may go.
        let attachments: [AttachmentID]
        let maxFiles: Int
    }

    struct Draft {
        var category = "", areas: Set<String> = [], urgent = false, subject = "", body = "", sendAt = "", key = WebSecurity.newSeed()
        var attachments: [AttachmentID] = []
        init() {}
        init(_ form: Form) {
            category = form["category"] ?? ""; areas = Set(form.all("area")); urgent = form["urgent"] == "on"
            subject = form["subject"] ?? ""; body = form["body"] ?? ""; sendAt = form["sendAt"] ?? ""
            attachments = FilePages.chosen(in: form)
            key = form["key"].flatMap { $0.isEmpty ? nil : $0 } ?? WebSecurity.newSeed()
        }
    }

    func composeView(_ page: PageRequest, draft: Draft, preview: Bool, errors: [String], context: KairanRequestContext) async throws -> ComposeView {
        let categories = try await services.alertService.categories(logger: context.logger).filter { !$0.archived }
        let areas = try await services.alertService.areas(logger: context.logger).filter { !$0.archived }
        var shown: ComposeView.Preview?
        if preview {
            let name = categories.first { $0.code == draft.category }?.name ?? ""
            let subject = draft.subject.hasPrefix("【") ? draft.subject : "【\(name)】\(draft.subject)"
            let carrierSubject = CarrierMailPreview.render(subject)
            let carrierBody = CarrierMailPreview.render(draft.body)
            shown = .init(subject: subject, lines: Messages.lines(draft.body), carrierSubject: carrierSubject, carrierLines: carrierBody.map(Messages.lines) ?? [],
                          differs: carrierSubject != subject || carrierBody.map { Messages.lines($0) != Messages.lines(draft.body) } ?? false)
        }
        return ComposeView(
            csrf: page.csrf, key: draft.key,
            categories: categories.map { .init(code: $0.code, name: $0.name, selected: $0.code == draft.category) },
            areas: areas.map { .init(code: $0.code, name: $0.name, selected: draft.areas.contains($0.code)) },
            urgent: draft.urgent, subject: draft.subject, body: draft.body, sendAt: draft.sendAt, preview: shown, errors: errors,
            attachments: draft.attachments, maxFiles: services.attachmentLimits.perAlert)
    }

    @Sendable func composePage(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            try services.alertService.requireAlertStaff(try web.requireActor(page))
            return web.renderer.page("alert-compose", title: "防災・防犯メールを送る",
                                     content: try await composeView(page, draft: Draft(), preview: false, errors: [], context: context), request: page)
        }
    }

    @Sendable func compose(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            try services.alertService.requireAlertStaff(actor)
            let form = try await web.postedForm(request, context: context)
            let draft = Draft(form)
            func again(_ errors: [String], preview: Bool, status: HTTPResponse.Status) async throws -> Response {
                web.renderer.page("alert-compose", title: preview ? "送信前の確認" : "防災・防犯メールを送る",
                                  content: try await composeView(page, draft: draft, preview: preview, errors: errors, context: context),
                                  request: page, status: status, path: "/alerts/new")
            }
            if form["preview"] != nil { return try await again([], preview: true, status: .ok) }
            var sendAt: Date?
            if !draft.sendAt.isEmpty {
                guard let date = Dates.parseLocal(draft.sendAt, zone: services.timeZone) else {
                    return try await again(["送信日時の形式が正しくありません。"], preview: false, status: .unprocessableContent)
                }
                sendAt = date
            }
            do {
                // The form's own key: pressing 送信 twice (or reloading the answer) sends once.
                let created = try await services.alertService.create(
                    actor, AlertDraft(category: draft.category, areas: draft.areas.sorted(), urgent: draft.urgent, subject: draft.subject, body: draft.body,
                                      sendAt: sendAt, idempotencyKey: "web-" + String(draft.key.prefix(60)), attachmentIds: draft.attachments),
                    logger: context.logger)
                let scheduled = created.alert.sendAt > services.clock.now().addingTimeInterval(60)
                return PageRenderer.redirect("/alerts/\(created.alert.id)?m=" + (scheduled ? "scheduled" : "sent"))
            } catch let error as ValidationError {
                let message = error.code == "unknown_category" ? "種別を選んでください。" : Messages.describe(error)
                return try await again([message], preview: false, status: .unprocessableContent)
            } catch let error as ServiceError {
                // Files: too many, or an upload that expired while the form was open.
                switch error {
                case .invalid, .conflict: return try await again([Messages.describe(error).1], preview: false, status: .unprocessableContent)
                default: throw error
                }
            }
        }
    }

    struct AlertPageView {
        struct Carrier { let name: String; let sent: Int; let pending: Int; let failed: Int; let total: Int }
        let alert: AlertView
        let id: Int64
        let paragraphs: [String]
        let when: String
        let percent: Int
        let sent: Int
        let pending: Int
        let failed: Int
        let finished: Bool
        let carriers: [Carrier]
        let files: [FilePages.Item]
        /// Its files staff may take off (once it has gone out), and those taken off.
        let withdrawable: [Withdrawable]
        let withdrawn: [Withdrawn]
        let csrf: String
    }

    struct Withdrawable { let alertID: Int64; let fileID: AttachmentID; let name: String }
    struct Withdrawn { let name: String; let when: String }

    static func withdrawn(_ files: [WithdrawnFile], zone: TimeZone) -> [Withdrawn] {
        files.map { Withdrawn(name: $0.filename, when: Dates.display($0.withdrawnAt, zone: zone)) }
    }

    static func pending(_ counts: DeliveryCounts) -> Int { counts.queued + counts.retrying + counts.sending }
    static func failed(_ counts: DeliveryCounts) -> Int { counts.failed + counts.dead + counts.bounced }

    @Sendable func alert(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: Int64.self)
            let alert = try await services.alertService.alert(actor, id, logger: context.logger)
            let carriers = try await services.alertService.progressByCarrier(actor, id, logger: context.logger)
            let counts = alert.progress
            let total = max(alert.recipients - counts.cancelled, 0)
            let view = AlertPageView(
                alert: alert, id: alert.id, paragraphs: Messages.lines(alert.body), when: Dates.display(alert.sendAt, zone: services.timeZone),
                percent: total == 0 ? 100 : counts.sent * 100 / total, sent: counts.sent, pending: Self.pending(counts), failed: Self.failed(counts),
                finished: Self.pending(counts) == 0,
                carriers: carriers.map { .init(name: $0.carrier, sent: $0.counts.sent, pending: Self.pending($0.counts), failed: Self.failed($0.counts),
                                               total: $0.counts.sent + Self.pending($0.counts) + Self.failed($0.counts)) },
                files: FilePages.items(alert.attachments),
                withdrawable: alert.sendAt <= services.clock.now()
                    ? alert.attachments.map { Withdrawable(alertID: alert.id, fileID: $0.id, name: $0.filename) } : [],
                withdrawn: Self.withdrawn(alert.withdrawnFiles, zone: services.timeZone), csrf: page.csrf)
            // While mail is going out the page follows it live (`alert.progress` as the workers record).
            return web.renderer.page("alert", title: alert.subject, content: view, request: page,
                                     liveStreams: view.finished ? [] : [EventStore.alertStream(alert.id)])
        }
    }

    struct PublicAlertView {
        let urgent: Bool
        let subject: String
        let category: String
        let areas: String
        let when: String
        let iso: String
        let cancelled: Bool
        let paragraphs: [String]
        let files: [FilePages.Item]
        let withdrawn: [Withdrawn]
    }

    /// A wrong file sent with an alert (a list naming a child): staff take it off, and its
    /// link in every mail then says so.
    @Sendable func withdrawFile(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let form = try await web.postedForm(request, context: context)
            let id = try context.parameters.require("id", as: Int64.self)
            guard let file = context.parameters.get("file", as: AttachmentID.self) else { throw ServiceError.notFound }
            // The box is required in the page; a post without it changes nothing.
            guard form["confirm"] == "1" else { return PageRenderer.redirect("/alerts/\(id)") }
            _ = try await services.alertService.withdrawFile(actor, alert: id, attachment: file, logger: context.logger)
            return PageRenderer.redirect("/alerts/\(id)?m=file-withdrawn")
        }
    }

    /// An alert's public page: what a push notification opens, for anyone holding the link
    /// (no account: the town's alerts are public information). Its files link under it.
    @Sendable func publicAlert(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let token = context.parameters.get("token") ?? ""
            let alert = try await services.alertService.publicAlert(token: token, logger: context.logger)
            let view = PublicAlertView(
                urgent: alert.urgent, subject: alert.subject, category: alert.categoryName,
                areas: alert.areaNames.isEmpty ? "町全体" : alert.areaNames.joined(separator: "・"),
                when: Dates.display(alert.sendAt, zone: services.timeZone), iso: Dates.iso(alert.sendAt), cancelled: alert.cancelledAt != nil,
                paragraphs: Messages.lines(AlertService.text(ofMailed: alert.body, hasFiles: !alert.attachments.isEmpty || !alert.withdrawnFiles.isEmpty)),
                files: FilePages.items(alert.attachments, under: "/a/\(token)/files"),
                withdrawn: Self.withdrawn(alert.withdrawnFiles, zone: services.timeZone))
            return web.renderer.page("alert-public", title: alert.subject, content: view, request: page)
        }
    }

    /// The per-recipient record (proof of contact), a page of rows at a time.
    @Sendable func deliveryRecord(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let alert = try await services.alertService.alert(actor, try context.parameters.require("id", as: Int64.self), logger: context.logger)
            let service = services.alertService
            let logger = context.logger
            let body = ResponseBody { writer in
                try await service.writeDeliveryRecord(actor, alert: alert.id, timeLimit: .seconds(10), logger: logger) { text in
                    try await writer.write(ByteBuffer(string: text))
                }
                try await writer.finish(nil)
            }
            var headers: HTTPFields = [:]
            headers[.contentType] = "text/csv; charset=utf-8"
            headers[.contentDisposition] = "attachment; filename=\"alert-\(alert.id)-deliveries.csv\""
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: headers, body: body)
        }
    }

    struct SubscribersView {
        struct Item { let email: String; let status: String; let charset: String; let categories: String; let areas: String }
        let query: String
        let items: [Item]
        let next: String?
    }

    static let statusLabels = ["active": "配信中", "suppressed": "配信停止（不達）", "unsubscribed": "解除済み", "pending": "確認待ち"]

    @Sendable func subscribers(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let query = String(request.uri.queryParameters["email"] ?? "").trimmingCharacters(in: .whitespaces)
            let before = request.uri.queryParameters["before"].flatMap { Int64(String($0)) }
            let found = try await services.alertService.subscribers(actor, status: nil, email: query.isEmpty ? nil : query, before: before, limit: 50,
                                                                    logger: context.logger)
            let view = SubscribersView(query: query, items: found.items.map {
                .init(email: $0.email, status: Self.statusLabels[$0.status] ?? $0.status, charset: $0.charset == "iso-2022-jp" ? "携帯（JIS）" : "UTF-8",
                      categories: $0.categories.joined(separator: "、"), areas: $0.areas.joined(separator: "、"))
            }, next: found.nextBefore.map { "/alerts/subscribers?before=\($0)" })
            return web.renderer.page("alert-subscribers", title: "登録者", content: view, request: page)
        }
    }

    struct SettingsView {
        struct Item { let code: String; let name: String; let mandatory: Bool; let archived: Bool }
        let csrf: String
        let categories: [Item]
        let areas: [Item]
        /// Town administrators change them; alert senders only see them.
        let mayConfigure: Bool
        let errors: [String]
    }

    func settingsPage(_ page: PageRequest, errors: [String] = [], status: HTTPResponse.Status = .ok, context: KairanRequestContext) async throws -> Response {
        var mayConfigure = false
        if let actor = page.actor {
            do {
                try services.alertService.requireConfigurer(actor)
                mayConfigure = true
            } catch ServiceError.forbidden {
                // An alert sender who is not an administrator: the lists without the forms.
            }
        }
        let categories = try await services.alertService.categories(logger: context.logger)
        let areas = try await services.alertService.areas(logger: context.logger)
        let view = SettingsView(csrf: page.csrf,
                                categories: categories.map { .init(code: $0.code, name: $0.name, mandatory: $0.mandatory, archived: $0.archived) },
                                areas: areas.map { .init(code: $0.code, name: $0.name, mandatory: false, archived: $0.archived) },
                                mayConfigure: mayConfigure, errors: errors)
        return web.renderer.page("alert-settings", title: "種別と地区", content: view, request: page, status: status, path: "/alerts/settings")
    }

    @Sendable func settings(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            try services.alertService.requireAlertStaff(try web.requireActor(page))
            return try await settingsPage(page, context: context)
        }
    }

    @Sendable func sendWeatherWarning(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            _ = try await web.postedForm(request, context: context)
            let id = try context.parameters.require("id", as: Int64.self)
            let alert = try await services.weatherWarnings.send(actor, pending: id, logger: context.logger)
            return PageRenderer.redirect("/alerts/\(alert.id)?m=sent")
        }
    }

    @Sendable func discardWeatherWarning(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            _ = try await web.postedForm(request, context: context)
            let id = try context.parameters.require("id", as: Int64.self)
            _ = try await services.weatherWarnings.discard(actor, pending: id, logger: context.logger)
            return PageRenderer.redirect("/alerts?m=weather-discarded")
        }
    }

    @Sendable func putCategory(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let form = try await web.postedForm(request, context: context)
            do {
                _ = try await services.alertService.putCategory(actor, code: form["code"] ?? "", name: form["name"], mandatory: form["mandatory"] == "on",
                                                                position: nil, archived: nil, logger: context.logger)
            } catch let error as ValidationError {
                return try await settingsPage(page, errors: [Self.settingsMessage(error)], status: .unprocessableContent, context: context)
            }
            return PageRenderer.redirect("/alerts/settings?m=saved")
        }
    }

    @Sendable func putArea(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let form = try await web.postedForm(request, context: context)
            do {
                _ = try await services.alertService.putArea(actor, code: form["code"] ?? "", name: form["name"], position: nil, archived: nil,
                                                            logger: context.logger)
            } catch let error as ValidationError {
                return try await settingsPage(page, errors: [Self.settingsMessage(error)], status: .unprocessableContent, context: context)
            }
            return PageRenderer.redirect("/alerts/settings?m=saved")
        }
    }

    static func settingsMessage(_ error: ValidationError) -> String {
        error.field == "code" ? "コードは半角英小文字・数字・-・_ で、32文字までです。" : Messages.describe(error)
    }
}
