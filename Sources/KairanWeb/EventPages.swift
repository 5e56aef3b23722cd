import Foundation
import Hummingbird
import KairanAPI
import KairanCore
import KairanServices

/// A group's events (地区の行事): holding one, its page with the answer form, the
/// organiser's list, export and cancellation, and the calendar file.
struct EventPages {
    let web: WebFrontEnd
    var services: Services { web.services }

    func addRoutes(to routes: RouterGroup<KairanRequestContext>) {
        routes.get("/groups/:id/events/new", use: newEventPage)
        routes.post("/groups/:id/events", use: create)
        routes.get("/events/:id", use: event)
        routes.get("/events/:id/edit", use: editPage)
        routes.post("/events/:id/edit", use: edit)
        routes.post("/events/:id/answer", use: answer)
        routes.post("/events/:id/cancel", use: cancel)
        routes.get("/events/:id/calendar.ics", use: calendar)
        routes.get("/events/:id/answers.csv", use: answersCSV)
    }

    // MARK: - Holding an event, and changing it

    /// The form that holds a new event and changes one (the same fields, the same checks).
    struct EventFormView {
        let csrf: String
        let groupId: GroupID
        let groupName: String
        let heading: String
        let action: String
        let button: String
        let note: String
        let title: String
        let place: String
        let startsAt: String
        let endsAt: String
        let capacity: String
        let answerDeadline: String
        let description: String
        let errors: [String]
    }

    /// What the form is for: a new event in a group, or a change to an event.
    enum FormPurpose {
        case new(GroupID)
        case edit(EventID)

        var heading: String {
            switch self {
            case .new: "行事を作る"
            case .edit: "行事を変更する"
            }
        }
        var action: String {
            switch self {
            case .new(let group): "/groups/\(group)/events"
            case .edit(let event): "/events/\(event)/edit"
            }
        }
        var button: String {
            switch self {
            case .new: "行事を作る"
            case .edit: "変更を保存する"
            }
        }
        var note: String {
            switch self {
            case .new: "前日の 18 時に、参加・未定と答えた方へお知らせが届きます。"
            case .edit: "日時や場所を変えると、参加・未定と答えた方へ変更のお知らせが届きます。"
            }
        }
    }

    private func form(_ purpose: FormPurpose, page: PageRequest, groupId: GroupID, groupName: String, fields: (String) -> String?, errors: [String] = [],
                      status: HTTPResponse.Status = .ok) -> Response {
        func field(_ name: String) -> String { fields(name) ?? "" }
        let view = EventFormView(csrf: page.csrf, groupId: groupId, groupName: groupName, heading: purpose.heading, action: purpose.action,
                                 button: purpose.button, note: purpose.note, title: field("title"), place: field("place"),
                                 startsAt: field("startsAt"), endsAt: field("endsAt"), capacity: field("capacity"),
                                 answerDeadline: field("answerDeadline"), description: field("description"), errors: errors)
        return web.renderer.page("event-new", title: purpose.heading, content: view, request: page, status: status)
    }

    @Sendable func newEventPage(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: GroupID.self)
            let group = try await services.groups.group(actor, id, logger: context.logger)
            return form(.new(id), page: page, groupId: id, groupName: group.name, fields: { _ in nil })
        }
    }

    @Sendable func editPage(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: EventID.self)
            let event = try await services.events.event(actor, id, logger: context.logger)
            // Only the organisers see the form; everyone else is sent back to the event.
            guard canEdit(event) else { return PageRenderer.redirect("/events/\(id)") }
            let zone = services.timeZone
            let values = [
                "title": event.title, "place": event.place, "description": event.description,
                "startsAt": Dates.inputValue(event.startsAt, zone: zone), "endsAt": Dates.inputValue(event.endsAt, zone: zone),
                "capacity": event.capacity.map(String.init) ?? "", "answerDeadline": event.answerDeadline.map { Dates.inputValue($0, zone: zone) } ?? "",
            ]
            return form(.edit(id), page: page, groupId: event.groupId, groupName: event.groupName, fields: { values[$0] })
        }
    }

    @Sendable func create(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: GroupID.self)
            let fields = try await web.postedForm(request, context: context)
            return try await submit(.new(id), fields: fields, page: page, context: context) {
                let group = try await services.groups.group(actor, id, logger: context.logger)
                return (id, group.name)
            } save: { input in
                try await services.events.create(actor, in: id, input, logger: context.logger).id
            }
        }
    }

    @Sendable func edit(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: EventID.self)
            let fields = try await web.postedForm(request, context: context)
            return try await submit(.edit(id), fields: fields, page: page, context: context) {
                let event = try await services.events.event(actor, id, logger: context.logger)
                return (event.groupId, event.groupName)
            } save: { input in
                try await services.events.update(actor, id, input, logger: context.logger).id
            }
        }
    }

    /// Organisers change an event until it is over, unless it was cancelled.
    private func canEdit(_ event: EventView) -> Bool {
        event.canManage && !event.cancelled && event.endsAt > services.clock.now()
    }

    /// Reads the form's fields (dates in the town's time), saves, and goes to the event;
    /// a refusal shows the form again with what was typed.
    private func submit(_ purpose: FormPurpose, fields: Form, page: PageRequest, context: KairanRequestContext,
                        group: () async throws -> (GroupID, String),
                        save: (GroupEventService.Input) async throws -> EventID) async throws -> Response {
        let zone = services.timeZone
        let text = { (name: String) in fields[name] ?? "" }
        func again(_ message: String) async throws -> Response {
            let (groupId, groupName) = try await group()
            return form(purpose, page: page, groupId: groupId, groupName: groupName, fields: { fields[$0] }, errors: [message], status: .unprocessableContent)
        }
        guard let startsAt = Dates.parseLocal(text("startsAt"), zone: zone) else { return try await again("開始日時を入力してください。") }
        guard let endsAt = Dates.parseLocal(text("endsAt"), zone: zone) else { return try await again("終了日時を入力してください。") }
        var capacity: Int?
        if !text("capacity").isEmpty {
            guard let value = Int(text("capacity")) else { return try await again("定員は数字で入力してください（空欄なら定員なし）。") }
            capacity = value
        }
        var deadline: Date?
        if !text("answerDeadline").isEmpty {
            guard let value = Dates.parseLocal(text("answerDeadline"), zone: zone) else { return try await again("出欠の締め切りの日時を確認してください。") }
            deadline = value
        }
        do {
            let event = try await save(.init(title: text("title"), description: text("description"), place: text("place"), startsAt: startsAt,
                                             endsAt: endsAt, capacity: capacity, answerDeadline: deadline))
            let done = switch purpose { case .new: "event-created"; case .edit: "event-changed" }
            return PageRenderer.redirect("/events/\(event)?m=\(done)")
        } catch {
            guard let message = Messages.formOrConflictRefusal(error) else { throw error }
            return try await again(message)
        }
    }

    // MARK: - The event's page

    struct EventPageView {
        struct Choice { let value: String; let label: String; let checked: Bool }
        struct Answer { let name: String; let label: String; let headCount: Int; let comment: String }
        let csrf: String
        let event: EventView
        let when: String
        let startISO: String
        let paragraphs: [String]
        let deadline: String?
        let organizer: String?
        let canAnswer: Bool
        let canEdit: Bool
        let closedNote: String?
        let choices: [Choice]
        let headCount: Int
        let comment: String
        let remindByMail: Bool
        let answerButton: String
        let answers: [Answer]
        let errors: [String]
    }

    func eventPage(_ page: PageRequest, id: EventID, errors: [String] = [], status: HTTPResponse.Status = .ok, context: KairanRequestContext) async throws -> Response {
        let actor = try web.requireActor(page)
        let event = try await services.events.event(actor, id, logger: context.logger)
        let group = try await services.groups.group(actor, event.groupId, logger: context.logger)
        let zone = services.timeZone
        let member = group.myRole != nil
        let mine = event.myAnswer
        let answers = event.canManage ? try await services.events.answers(actor, id, logger: context.logger).map {
            EventPageView.Answer(name: $0.displayName, label: Messages.eventAnswer($0.answer), headCount: $0.headCount, comment: $0.comment)
        } : []
        let closedNote: String? = event.cancelled ? nil
            : !member ? "出欠を答えるには、このグループに参加してください。"
            : !event.answersOpen ? "出欠の受付は締め切られました。" : nil
        let view = EventPageView(
            csrf: page.csrf, event: event, when: EventText.when(event.startsAt, event.endsAt, zone: zone), startISO: Dates.iso(event.startsAt),
            paragraphs: Messages.lines(event.description).filter { !$0.isEmpty },
            deadline: event.answerDeadline.map { Dates.display($0, zone: zone) }, organizer: event.organizer?.displayName,
            canAnswer: member && event.answersOpen,
            canEdit: canEdit(event),
            closedNote: closedNote,
            choices: EventAnswer.allCases.map { .init(value: $0.rawValue, label: Messages.eventAnswer($0), checked: mine?.answer == $0) },
            headCount: max(1, mine?.headCount ?? 1), comment: mine?.comment ?? "", remindByMail: mine?.remindByMail ?? false,
            answerButton: mine == nil ? "出欠を送る" : "回答を変更する", answers: answers, errors: errors)
        return web.renderer.page("event", title: event.title, content: view, request: page, status: status,
                                 liveStreams: ["group:\(event.groupId)"], path: "/events/\(id)")
    }

    @Sendable func event(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            try await eventPage(page, id: try context.parameters.require("id", as: EventID.self), context: context)
        }
    }

    @Sendable func answer(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: EventID.self)
            let form = try await web.postedForm(request, context: context)
            guard let answer = EventAnswer(rawValue: form["answer"] ?? "") else {
                return try await eventPage(page, id: id, errors: ["参加・未定・不参加のどれかを選んでください。"], status: .unprocessableContent, context: context)
            }
            do {
                // The number field stays on the form whatever is chosen: not going brings nobody.
                let count = answer == .notGoing ? nil : Int(form["headCount"] ?? "1")
                let reply = GroupEventService.ReplyInput(answer: answer, headCount: count, comment: form["comment"], remindByMail: form["remindByMail"] != nil)
                _ = try await services.events.answer(actor, id, reply, logger: context.logger)
                return PageRenderer.redirect("/events/\(id)?m=event-answered")
            } catch {
                guard let message = Messages.formOrConflictRefusal(error) else { throw error }
                return try await eventPage(page, id: id, errors: [message], status: .unprocessableContent, context: context)
            }
        }
    }

    @Sendable func cancel(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: EventID.self)
            let form = try await web.postedForm(request, context: context)
            _ = try await services.events.cancel(actor, id, reason: form["reason"], logger: context.logger)
            return PageRenderer.redirect("/events/\(id)?m=event-cancelled")
        }
    }

    // MARK: - Files

    @Sendable func calendar(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: EventID.self)
            return Response.download(try await services.events.calendar(actor, id, logger: context.logger), type: "text/calendar; charset=utf-8",
                                 filename: "event-\(id).ics")
        }
    }

    @Sendable func answersCSV(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: EventID.self)
            let (_, csv) = try await services.events.answersCSV(actor, id, logger: context.logger)
            return Response.download(csv, type: "text/csv; charset=utf-8", filename: "event-\(id)-answers.csv")
        }
    }
}
