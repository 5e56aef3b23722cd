import Foundation
import Hummingbird
import KairanAPI
import KairanCore
import KairanServices
import KairanStore

/// Absence reports (欠席・遅刻・早退連絡): guardians send them for their children; the
/// class's teachers (and the school's administrators) read and acknowledge them.
struct AbsencePages {
    let web: WebFrontEnd
    var services: Services { web.services }

    func addRoutes(to routes: RouterGroup<KairanRequestContext>) {
        routes.get("/absences", use: guardianPage)
        routes.post("/absences", use: report)
        routes.get("/schools/:org/absences", use: inbox)
        routes.post("/schools/:org/absences/:id/acknowledge", use: acknowledge)
    }

    static let kinds: [(AbsenceKind, String)] = [(.absent, "欠席"), (.late, "遅刻"), (.earlyLeave, "早退")]

    struct Report {
        let child: String; let kind: String; let day: String; let reason: String; let note: String?; let acknowledged: String?
    }

    static func report(_ record: AbsenceRecord, zone: TimeZone) -> Report {
        Report(child: record.childName, kind: kinds.first { $0.0 == record.kind }?.1 ?? record.kind.rawValue, day: record.day, reason: record.reason,
               note: record.note.isEmpty ? nil : record.note, acknowledged: record.acknowledgedAt.map { "確認済み（\(record.acknowledgedBy ?? "先生")、\(Dates.display($0, zone: zone))）" })
    }

    struct GuardianView {
        struct Kind { let value: String; let label: String; let first: Bool }
        struct Child { let id: ChildID; let name: String; let organization: String; let reasons: [String]; let kinds: [Kind] }
        let csrf: String
        let today: String
        let children: [Child]
        let reports: [Report]
        let errors: [String]
    }

    func guardianPage(_ page: PageRequest, actor: Actor, errors: [String] = [], status: HTTPResponse.Status = .ok, context: KairanRequestContext) async throws -> Response {
        let form = try await services.absences.accountForm(actor, logger: context.logger)
        let reports = try await services.absences.mine(actor, logger: context.logger)
        let zone = services.timeZone
        let view = GuardianView(
            csrf: page.csrf, today: form.today,
            children: form.children.map { entry in
                .init(id: entry.child.id, name: entry.child.name, organization: entry.child.organizationName, reasons: entry.reasons,
                      kinds: Self.kinds.enumerated().map { .init(value: $0.element.0.rawValue, label: $0.element.1, first: $0.offset == 0) })
            },
            reports: reports.map { Self.report($0, zone: zone) }, errors: errors)
        return web.renderer.page("absences", title: "欠席・遅刻・早退の連絡", content: view, request: page, status: status, liveStreams: ["user:\(actor.accountID)"],
                                 path: "/absences")
    }

    @Sendable func guardianPage(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            try await guardianPage(page, actor: try web.requireActor(page), context: context)
        }
    }

    @Sendable func report(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let form = try await web.postedForm(request, context: context)
            guard let child = form["child"].flatMap(ChildID.init), let kind = AbsenceKind(rawValue: form["kind"] ?? "") else {
                return try await guardianPage(page, actor: actor, errors: ["お子さんと種類を選んでください。"], status: .unprocessableContent, context: context)
            }
            let note = (form["note"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            do {
                _ = try await services.absences.report(actor, child: child, .init(kind: kind, day: form["day"] ?? "", reason: form["reason"] ?? "",
                                                                                    note: note.isEmpty ? nil : note), logger: context.logger)
            } catch let error as ValidationError {
                let message = error.field == "day" ? "日付は30日前から90日後までの間で選んでください。"
                    : error.field == "reason" ? "理由を選んでください。" : Messages.describe(error)
                return try await guardianPage(page, actor: actor, errors: [message], status: .unprocessableContent, context: context)
            }
            return PageRenderer.redirect("/absences?m=reported")
        }
    }

    struct InboxView {
        struct Item { let id: AbsenceReportID; let report: Report; let className: String; let guardian: String; let open: Bool }
        let csrf: String
        let organizationId: OrganizationID
        let day: String
        let items: [Item]
    }

    @Sendable func inbox(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let org = try context.parameters.require("org", as: OrganizationID.self)
            let day = request.uri.queryParameters["day"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
            let reports: Page<AbsenceRecord>
            do {
                reports = try await services.absences.inbox(actor, in: org, day: day, class: nil, before: nil, limit: 200, logger: context.logger)
            } catch let error as ValidationError where error.field == "day" {
                throw ServiceError.invalid(code: error.code, message: error.message, field: "day")
            }
            let zone = services.timeZone
            let view = InboxView(csrf: page.csrf, organizationId: org, day: day ?? "", items: reports.items.map {
                .init(id: $0.id, report: Self.report($0, zone: zone), className: $0.className ?? "（クラスなし）", guardian: $0.guardianName,
                      open: $0.acknowledgedAt == nil)
            })
            return web.renderer.page("absence-inbox", title: "欠席連絡", content: view, request: page)
        }
    }

    @Sendable func acknowledge(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let org = try context.parameters.require("org", as: OrganizationID.self)
            let id = try context.parameters.require("id", as: AbsenceReportID.self)
            _ = try await web.postedForm(request, context: context)
            _ = try await services.absences.acknowledge(actor, id, in: org, logger: context.logger)
            return PageRenderer.redirect("/schools/\(org)/absences?m=acknowledged")
        }
    }
}
