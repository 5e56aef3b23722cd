import Foundation
import Hummingbird
import KairanAPI
import KairanCore
import KairanServices
import KairanStore

/// Guardians: their children and the schools and nurseries they are in, linking a child
/// with the code the school handed out, the notice inbox (urgent first), and a notice with
/// its confirmation and reply form.
struct GuardianPages {
    let web: WebFrontEnd
    var services: Services { web.services }

    func addRoutes(to routes: RouterGroup<KairanRequestContext>) {
        routes.get("/notices", use: inbox)
        routes.get("/notices/:id", use: notice)
        routes.post("/notices/:id/confirm", use: confirm)
        routes.post("/notices/:id/answers", use: answer)
        routes.get("/children", use: children)
        routes.post("/children", use: linkChild)
    }

    struct InboxView {
        struct Item {
            let id: NoticeID; let title: String; let organization: String; let urgent: Bool
            let sent: String; let sentISO: String; let state: String; let confirmed: Bool
        }
        let items: [Item]
        let next: String?
    }

    @Sendable func inbox(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let before = request.uri.queryParameters["before"].flatMap { Int64(String($0)) }
            let notices = try await services.guardianNotices.list(actor, before: before, limit: 50, logger: context.logger)
            let zone = services.timeZone
            // Urgent notices nobody in the household has confirmed come first; then the rest, newest first.
            let waiting = notices.items.filter { $0.urgent && !$0.householdConfirmed && $0.confirmedAt == nil }
            let rest = notices.items.filter { !($0.urgent && !$0.householdConfirmed && $0.confirmedAt == nil) }
            let items = (waiting + rest).map { notice in
                InboxView.Item(
                    id: notice.id, title: notice.title, organization: notice.organizationName, urgent: notice.urgent,
                    sent: notice.sentAt.map { Dates.display($0, zone: zone) } ?? "", sentISO: notice.sentAt.map(Dates.iso) ?? "",
                    state: Self.state(notice), confirmed: notice.confirmedAt != nil || notice.householdConfirmed)
            }
            return web.renderer.page("notices", title: "学校・園からのお知らせ",
                                     content: InboxView(items: items, next: notices.nextBefore.map { "/notices?before=\($0)" }),
                                     request: page, liveStreams: ["user:\(actor.accountID)"])
        }
    }

    static func state(_ notice: GuardianNoticeView) -> String {
        if notice.confirmedAt != nil { return "確認済み" }
        if notice.householdConfirmed { return "ご家族が確認済み" }
        return notice.openedAt == nil ? "未読" : "未確認"
    }

    struct NoticeView {
        struct Option { let index: Int; let label: String; let checked: Bool }
        struct Child { let id: ChildID; let name: String; let options: [Option]; let text: String; let answered: Bool }
        let csrf: String
        let notice: GuardianNoticeView
        let paragraphs: [String]
        let sent: String
        let state: String
        let confirmed: Bool
        let question: String?
        let single: Bool
        let multiple: Bool
        let textAnswer: Bool
        let deadline: String?
        let children: [Child]
        let errors: [String]
        let files: [FilePages.Item]
    }

    func noticePage(_ page: PageRequest, _ notice: GuardianNoticeView, errors: [String] = [], status: HTTPResponse.Status = .ok) -> Response {
        let form = notice.form
        let children = (notice.children ?? []).map { child in
            NoticeView.Child(
                id: child.childId, name: child.childName,
                options: (form?.options ?? []).enumerated().map { NoticeView.Option(index: $0.offset, label: $0.element, checked: child.choices.contains($0.offset)) },
                text: child.text ?? "", answered: child.answeredAt != nil)
        }
        let view = NoticeView(
            csrf: page.csrf, notice: notice, paragraphs: Messages.lines(notice.body),
            sent: notice.sentAt.map { Dates.display($0, zone: services.timeZone) } ?? "", state: Self.state(notice),
            confirmed: notice.confirmedAt != nil, question: form?.question, single: form?.kind == .single, multiple: form?.kind == .multiple,
            textAnswer: form?.kind == .text, deadline: form?.deadline.map { Dates.display($0, zone: services.timeZone) }, children: children,
            errors: errors, files: FilePages.items(notice.attachments ?? []))
        return web.renderer.page("notice", title: notice.title, content: view, request: page, status: status)
    }

    @Sendable func notice(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: NoticeID.self)
            let notice = try await services.guardianNotices.open(.account(actor, id), logger: context.logger)
            return noticePage(page, notice)
        }
    }

    @Sendable func confirm(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: NoticeID.self)
            _ = try await web.postedForm(request, context: context)
            _ = try await services.guardianNotices.confirm(.account(actor, id), logger: context.logger)
            return PageRenderer.redirect("/notices/\(id)?m=confirmed")
        }
    }

    @Sendable func answer(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: NoticeID.self)
            let form = try await web.postedForm(request, context: context)
            let notice = try await services.guardianNotices.view(.account(actor, id), logger: context.logger)
            var answers: [ChildID: GuardianNoticeService.Answer] = [:]
            for child in notice.children ?? [] {
                let choices = form.all("choice-\(child.childId)").compactMap(Int.init)
                let text = form["text-\(child.childId)"]
                answers[child.childId] = .init(choices: choices, text: text.flatMap { $0.isEmpty ? nil : $0 })
            }
            do {
                _ = try await services.guardianNotices.answer(.account(actor, id), answers, logger: context.logger)
            } catch {
                guard let message = Messages.formRefusal(error) else { throw error }
                return noticePage(page, notice, errors: [message], status: .unprocessableContent)
            }
            return PageRenderer.redirect("/notices/\(id)?m=answered")
        }
    }

    struct ChildrenView {
        struct Child { let name: String; let organization: String; let className: String? }
        let csrf: String
        let children: [Child]
        let code: String
        let errors: [String]
    }

    func childrenPage(_ page: PageRequest, actor: Actor, code: String = "", errors: [String] = [], status: HTTPResponse.Status = .ok,
                      context: KairanRequestContext) async throws -> Response {
        let children = try await services.guardians.children(actor, logger: context.logger)
        let view = ChildrenView(csrf: page.csrf, children: children.map { .init(name: $0.name, organization: $0.organizationName, className: $0.className) },
                                code: code, errors: errors)
        return web.renderer.page("children", title: "子どもと学校・園", content: view, request: page, status: status)
    }

    @Sendable func children(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            try await childrenPage(page, actor: try web.requireActor(page), context: context)
        }
    }

    @Sendable func linkChild(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let form = try await web.postedForm(request, context: context)
            let code = form["code"] ?? ""
            do {
                _ = try await services.guardians.linkChild(actor, code: code, logger: context.logger)
                return PageRenderer.redirect("/children?m=linked")
            } catch let error as ValidationError {
                let message = error.code == "invalid_code" ? "コードが正しくないか、使用済みか、期限切れです。学校・園に確認してください。" : Messages.describe(error)
                return try await childrenPage(page, actor: actor, code: code, errors: [message], status: .unprocessableContent, context: context)
            }
        }
    }
}
