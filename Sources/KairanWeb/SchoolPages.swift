import Foundation
import Hummingbird
import KairanAPI
import KairanCore
import KairanServices
import KairanStore

/// School and nursery staff: their organizations, the notices (compose with preview,
/// the approval queue for 管理職 with its trail) and a notice's live confirmation dashboard
/// (counts moving as guardians confirm, the households not yet confirmed by class).
struct SchoolPages {
    let web: WebFrontEnd
    var services: Services { web.services }

    func addRoutes(to routes: RouterGroup<KairanRequestContext>) {
        routes.get("/schools", use: organizations)
        routes.get("/schools/:org", use: organization)
        routes.get("/schools/:org/notices/new", use: composePage)
        routes.post("/schools/:org/notices", use: compose)
        routes.get("/schools/:org/notices/:id", use: notice)
        routes.get("/schools/:org/notices/:id/call-list", use: callList)
        routes.post("/schools/:org/notices/:id/approve", use: approve)
        routes.post("/schools/:org/notices/:id/return", use: returnNotice)
    }

    static let stateLabels: [NoticeState: String] = [
        .pendingApproval: "承認待ち", .returned: "差し戻し", .scheduled: "送信予約", .sent: "送信済み", .cancelled: "取り消し",
    ]

    struct OrganizationsView {
        struct Item { let id: OrganizationID; let name: String; let kind: String }
        let items: [Item]
    }

    @Sendable func organizations(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let organizations = try await services.organizations.staffOf(actor, logger: context.logger)
            let view = OrganizationsView(items: organizations.map { .init(id: $0.id, name: $0.name, kind: $0.kind == .school ? "学校" : "園・施設") })
            return web.renderer.page("schools", title: "学校・園の職員ページ", content: view, request: page)
        }
    }

    struct OrganizationPageView {
        struct Notice { let id: NoticeID; let title: String; let urgent: Bool; let state: String; let when: String }
        let organizationId: OrganizationID
        let name: String
        let requiresApproval: Bool
        let pending: [Notice]
        let notices: [Notice]
        let next: String?
    }

    func noticeItem(_ notice: NoticeView) -> OrganizationPageView.Notice {
        .init(id: notice.id, title: notice.title, urgent: notice.urgent, state: Self.stateLabels[notice.state] ?? notice.state.rawValue,
              when: Dates.display(notice.sentAt ?? notice.releaseAt, zone: services.timeZone))
    }

    @Sendable func organization(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("org", as: OrganizationID.self)
            let organization = try await services.organizations.staffOf(actor, logger: context.logger).first { $0.id == id }
            guard let organization else { throw ServiceError.notFound }
            let before = request.uri.queryParameters["before"].flatMap { Int64(String($0)) }
            let notices = try await services.notices.list(actor, in: id, state: nil, before: before, limit: 30, logger: context.logger)
            // The approval queue is the organization's own admins' (管理職); others do not see it.
            let approves = try await mayApprove(actor, id, context: context)
            let pending = approves
                ? try await services.notices.list(actor, in: id, state: .pendingApproval, before: nil, limit: 50, logger: context.logger).items : []
            let view = OrganizationPageView(
                organizationId: id, name: organization.name, requiresApproval: organization.requiresApproval, pending: pending.map(noticeItem),
                notices: notices.items.map(noticeItem), next: notices.nextBefore.map { "/schools/\(id)?before=\($0)" })
            // The approval queue's stream is the admins'; other staff follow their own (decisions on their drafts).
            let stream = approves ? EventStore.organizationStream(id) : EventStore.userStream(actor.accountID)
            return web.renderer.page("school", title: organization.name, content: view, request: page, liveStreams: [stream])
        }
    }

    struct ComposeView {
        /// A class, grade or list one may tick.
        struct Choice { let id: Int64; let name: String; let checked: Bool }
        struct Kind { let value: String; let label: String; let selected: Bool }
        /// Its own names: a nil here must not pick up the form's fields of the same name.
        struct Preview { let title: String; let paragraphs: [String]; let urgent: Bool; let audience: String; let hasForm: Bool; let formQuestion: String; let formOptions: [String] }
        let csrf: String
        let key: String
        let organizationId: OrganizationID
        let organizationName: String
        let title: String
        let body: String
        let urgent: Bool
        let all: Bool
        let grades: [Choice]
        let classes: [Choice]
        let lists: [Choice]
        let sendAt: String
        let formKinds: [Kind]
        let question: String
        let options: String
        let skipReason: String
        let preview: Preview?
        let errors: [String]
        /// Uploads chosen already (kept through a preview) and how many may go.
        let attachments: [AttachmentID]
        let maxFiles: Int
    }

    /// What the compose form holds, as posted (or empty for a new notice).
    struct Draft {
        var title = "", body = "", urgent = false, all = true, sendAt = ""
        var grades: Set<Int> = [], classes: Set<ClassID> = [], lists: Set<NoticeListID> = []
        var formKind = "", question = "", options = "", skipReason = ""
        /// The author's uploads, carried through a preview as hidden fields.
        var attachments: [AttachmentID] = []
        /// The form's own key: 送信 twice (or a reload of the answer) makes one notice.
        var key = WebSecurity.newSeed()

        init() {}

        init(_ form: Form) {
            title = form["title"] ?? ""; body = form["body"] ?? ""; urgent = form["urgent"] == "on"
            all = form["audience"] != "chosen"
            grades = Set(form.all("grade").compactMap { Int($0) }.filter { (0...12).contains($0) })
            classes = Set(form.all("class").compactMap(ClassID.init))
            lists = Set(form.all("list").compactMap(NoticeListID.init))
            sendAt = form["sendAt"] ?? ""; formKind = form["formKind"] ?? ""; question = form["question"] ?? ""
            options = form["options"] ?? ""; skipReason = form["skipReason"] ?? ""
            attachments = FilePages.chosen(in: form)
            key = form["key"].flatMap { $0.isEmpty || $0.count > 64 ? nil : $0 } ?? WebSecurity.newSeed()
        }

        var targets: NoticeTargets {
            all ? NoticeTargets(all: true, grades: [], classes: [], lists: [])
                : NoticeTargets(all: false, grades: grades.sorted(), classes: classes.sorted(), lists: lists.sorted())
        }

        var chosesNobody: Bool { !all && grades.isEmpty && classes.isEmpty && lists.isEmpty }

        var optionList: [String] {
            options.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
    }

    func composeView(_ page: PageRequest, audience choices: Audience, draft: Draft, preview: Bool, errors: [String]) -> ComposeView {
        let kinds = [("", "なし"), ("single", "ひとつ選ぶ"), ("multiple", "いくつでも選ぶ"), ("text", "文章で答える")]
        let grades = Set(choices.classes.compactMap(\.grade)).sorted()
        let audience = draft.all ? "全員"
            : (grades.filter { draft.grades.contains($0) }.map(Self.gradeName) + choices.classes.filter { draft.classes.contains($0.id) }.map(\.name)
               + choices.lists.filter { draft.lists.contains($0.id) }.map { "名簿「\($0.name)」" }).joined(separator: "、")
        let organization = choices.organization
        return ComposeView(
            csrf: page.csrf, key: draft.key, organizationId: organization.id, organizationName: organization.name, title: draft.title, body: draft.body,
            urgent: draft.urgent, all: draft.all,
            grades: grades.map { .init(id: Int64($0), name: Self.gradeName($0), checked: draft.grades.contains($0)) },
            classes: choices.classes.map { .init(id: $0.id, name: $0.name, checked: draft.classes.contains($0.id)) },
            lists: choices.lists.map { .init(id: $0.id, name: $0.name, checked: draft.lists.contains($0.id)) },
            sendAt: draft.sendAt, formKinds: kinds.map { .init(value: $0.0, label: $0.1, selected: $0.0 == draft.formKind) },
            question: draft.question, options: draft.options, skipReason: draft.skipReason,
            preview: preview ? .init(title: draft.title, paragraphs: Messages.lines(draft.body), urgent: draft.urgent, audience: audience,
                                     hasForm: !draft.formKind.isEmpty, formQuestion: draft.question, formOptions: draft.optionList) : nil,
            errors: errors, attachments: draft.attachments, maxFiles: services.attachmentLimits.perNotice)
    }

    static func gradeName(_ grade: Int) -> String { grade == 0 ? "学年なし" : "\(grade)年" }

    /// Whom a notice of this organization may go to: its grades (from its classes), classes
    /// and custom lists.
    struct Audience {
        let organization: OrganizationView
        let classes: [ClassView]
        let lists: [NoticeListView]
    }

    func audience(_ actor: Actor, _ id: OrganizationID, context: KairanRequestContext) async throws -> Audience {
        guard let organization = try await services.organizations.staffOf(actor, logger: context.logger).first(where: { $0.id == id }) else {
            throw ServiceError.notFound
        }
        return Audience(organization: organization, classes: try await services.organizations.classes(actor, id, logger: context.logger),
                        lists: try await services.notices.lists(actor, in: id, logger: context.logger))
    }

    @Sendable func composePage(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let choices = try await audience(actor, try context.parameters.require("org", as: OrganizationID.self), context: context)
            return web.renderer.page("notice-compose", title: "お知らせを作成", content: composeView(page, audience: choices, draft: Draft(),
                                                                                                 preview: false, errors: []), request: page)
        }
    }

    @Sendable func compose(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("org", as: OrganizationID.self)
            let form = try await web.postedForm(request, context: context)
            let draft = Draft(form)
            let choices = try await audience(actor, id, context: context)
            func again(_ errors: [String], preview: Bool, status: HTTPResponse.Status) -> Response {
                web.renderer.page("notice-compose", title: preview ? "お知らせのプレビュー" : "お知らせを作成",
                                  content: composeView(page, audience: choices, draft: draft, preview: preview, errors: errors),
                                  request: page, status: status, path: "/schools/\(id)/notices/new")
            }
            if form["preview"] != nil { return again([], preview: true, status: .ok) }
            var sendAt: Date?
            if !draft.sendAt.isEmpty {
                guard let date = Dates.parseLocal(draft.sendAt, zone: services.timeZone) else {
                    return again(["送信日時の形式が正しくありません。"], preview: false, status: .unprocessableContent)
                }
                sendAt = date
            }
            if draft.chosesNobody {
                return again(["送る相手（学年・クラス・名簿）を選んでください。"], preview: false, status: .unprocessableContent)
            }
            let replyForm: ReplyForm? = ReplyFormKind(rawValue: draft.formKind).map {
                ReplyForm(kind: $0, question: draft.question, options: $0 == .text ? [] : draft.optionList, deadline: nil)
            }
            let targets = draft.targets
            do {
                let notice = try await services.notices.create(
                    actor, in: id,
                    NoticeDraft(title: draft.title, body: draft.body, urgent: draft.urgent, targets: targets, form: replyForm, sendAt: sendAt,
                                skipApprovalReason: draft.skipReason.isEmpty ? nil : draft.skipReason, idempotencyKey: "web-" + draft.key,
                                attachmentIds: draft.attachments),
                    logger: context.logger)
                let done = notice.state == .pendingApproval ? "submitted" : notice.state == .sent ? "sent" : "scheduled"
                return PageRenderer.redirect("/schools/\(id)/notices/\(notice.id)?m=\(done)")
            } catch let error as ValidationError {
                return again([Messages.describe(error)], preview: false, status: .unprocessableContent)
            } catch let error as ServiceError {
                switch error {
                case .invalid, .conflict, .refused: return again([Messages.describe(error).1], preview: false, status: .unprocessableContent)
                default: throw error
                }
            }
        }
    }

    struct NoticePageView {
        struct Household { let children: String; let classes: String; let guardians: String }
        struct Entry { let who: String; let action: String; let comment: String?; let at: String }
        let csrf: String
        let organizationId: OrganizationID
        let notice: NoticeView
        let paragraphs: [String]
        let state: String
        let counts: NoticeStatusCounts?
        let classes: [ComposeView.Choice]
        /// The class the dashboard is narrowed to ("" for all), for the call list's link.
        let classId: String
        let className: String?
        let escalation: String?
        let percent: Int
        let unconfirmed: [Household]
        let trail: [Entry]
        let pending: Bool
        let mayApprove: Bool
        let files: [FilePages.Item]
    }

    /// Whether the caller is one of the organization's admins, who approve notices.
    func mayApprove(_ actor: Actor, _ id: OrganizationID, context: KairanRequestContext) async throws -> Bool {
        do {
            _ = try await services.organizations.authorize(actor, id, for: .approveNotices, logger: context.logger)
            return true
        } catch let error as ServiceError {
            // A refusal is the answer "no"; any other error (the database away) is not.
            if case .forbidden = error { return false }
            throw error
        }
    }

    static let approvalLabels: [ApprovalAction: String] = [
        .submitted: "承認を依頼", .approved: "承認", .edited: "修正", .returned: "差し戻し", .resubmitted: "再提出", .skipped: "承認を省略", .cancelled: "取り消し",
    ]

    @Sendable func notice(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let org = try context.parameters.require("org", as: OrganizationID.self)
            let id = try context.parameters.require("id", as: NoticeID.self)
            let notice = try await services.notices.notice(actor, id, in: org, logger: context.logger)
            // A class teacher's view: the households with a child in one class.
            let classID = request.uri.queryParameters["classId"].flatMap { ClassID(String($0)) }
            let status = notice.state == .sent ? try await services.notices.status(actor, id, in: org, inClass: classID, logger: context.logger) : nil
            let classes = notice.state == .sent ? try await services.organizations.classes(actor, org, logger: context.logger) : []
            let mayApprove = try await mayApprove(actor, org, context: context)
            let zone = services.timeZone
            let counts = status?.counts
            let escalation: String? = notice.escalatedAt.map { "\(Dates.display($0, zone: zone)) に、まだ確認していない家庭へ再通知しました（アプリだけの保護者にはメールでも）。下の電話連絡リストで連絡してください。" }
                ?? notice.escalateAt.map { "\(Dates.display($0, zone: zone)) までに確認がない家庭には、再通知します。" }
            let view = NoticePageView(
                csrf: page.csrf, organizationId: org, notice: notice, paragraphs: Messages.lines(notice.body),
                state: Self.stateLabels[notice.state] ?? notice.state.rawValue, counts: counts,
                classes: classes.map { .init(id: $0.id, name: $0.name, checked: $0.id == classID) }, classId: classID.map(String.init) ?? "",
                className: classID.flatMap { id in classes.first { $0.id == id }?.name }, escalation: escalation,
                percent: counts.map { $0.households == 0 ? 0 : $0.confirmedHouseholds * 100 / $0.households } ?? 0,
                unconfirmed: (status?.unconfirmed ?? []).map {
                    .init(children: $0.children.joined(separator: "、"), classes: $0.classes.joined(separator: "、"),
                          guardians: $0.guardians.map(\.name).joined(separator: "、"))
                },
                trail: (notice.approvalLog ?? []).map {
                    .init(who: $0.actorName, action: Self.approvalLabels[$0.action] ?? $0.action.rawValue, comment: $0.comment, at: Dates.display($0.at, zone: zone))
                },
                pending: notice.state == .pendingApproval, mayApprove: mayApprove, files: FilePages.items(notice.attachments ?? []))
            return web.renderer.page("school-notice", title: notice.title, content: view, request: page,
                                     liveStreams: notice.state == .sent ? [EventStore.noticeStream(id)]
                                        : [mayApprove ? EventStore.organizationStream(org) : EventStore.userStream(actor.accountID)])
        }
    }

    struct CallListView {
        struct Household { let classes: String; let children: String; let guardians: [Guardian] }
        struct Guardian { let name: String; let phone: String?; let tel: String? }
        let organizationId: OrganizationID
        let noticeId: NoticeID
        let title: String
        let className: String?
        let households: [Household]
    }

    /// The households that have not confirmed, with the phone numbers the organization holds:
    /// whom to call when an urgent notice is not confirmed (緊急連絡の電話連絡).
    @Sendable func callList(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let org = try context.parameters.require("org", as: OrganizationID.self)
            let id = try context.parameters.require("id", as: NoticeID.self)
            let classID = request.uri.queryParameters["classId"].flatMap { ClassID(String($0)) }
            let notice = try await services.notices.notice(actor, id, in: org, logger: context.logger)
            let households = try await services.notices.callList(actor, id, in: org, inClass: classID, logger: context.logger)
            var className: String?
            if let classID {
                className = try await services.organizations.classes(actor, org, logger: context.logger).first { $0.id == classID }?.name
            }
            let view = CallListView(organizationId: org, noticeId: id, title: notice.title, className: className, households: households.map { household in
                .init(classes: household.classes.joined(separator: "、"), children: household.children.joined(separator: "、"), guardians: household.guardians.map {
                    .init(name: $0.name, phone: $0.phone, tel: $0.phone.map { $0.filter { $0.isNumber || $0 == "+" } })
                })
            })
            return web.renderer.page("notice-call-list", title: "電話連絡リスト", content: view, request: page)
        }
    }

    @Sendable func approve(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let org = try context.parameters.require("org", as: OrganizationID.self)
            let id = try context.parameters.require("id", as: NoticeID.self)
            let form = try await web.postedForm(request, context: context)
            let comment = (form["comment"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            _ = try await services.notices.approve(actor, id, in: org, title: nil, body: nil, comment: comment.isEmpty ? nil : comment,
                                                   revision: form["revision"].flatMap(Int.init), logger: context.logger)
            return PageRenderer.redirect("/schools/\(org)/notices/\(id)?m=approved")
        }
    }

    @Sendable func returnNotice(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let org = try context.parameters.require("org", as: OrganizationID.self)
            let id = try context.parameters.require("id", as: NoticeID.self)
            let form = try await web.postedForm(request, context: context)
            _ = try await services.notices.returnToAuthor(actor, id, in: org, comment: form["comment"] ?? "", logger: context.logger)
            return PageRenderer.redirect("/schools/\(org)/notices/\(id)?m=returned")
        }
    }
}
