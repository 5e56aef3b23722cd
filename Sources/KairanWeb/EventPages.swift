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
        routes.post("/events/:id/answer", use: answer)
        routes.post("/events/:id/cancel", use: cancel)
        routes.get("/events/:id/calendar.ics", use: calendar)
        routes.get("/events/:id/answers.csv", use: answersCSV)
    }

    // MARK: - Holding an event

    struct NewEventView {
        let csrf: String
        let groupId: GroupID
        let groupName: String
        let title: String
        let place: String
        let startsAt: String
        let endsAt: String
        let capacity: String
        let answerDeadline: String
        let description: String
        let errors: [String]
    }

    @Sendable func newEventPage(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: GroupID.self)
            let group = try await services.groups.group(actor, id, logger: context.logger)
            let view = NewEventView(csrf: page.csrf, groupId: id, groupName: group.name, title: "", place: "", startsAt: "", endsAt: "", capacity: "",
                                    answerDeadline: "", description: "", errors: [])
            return web.renderer.page("event-new", title: "行事を作る", content: view, request: page)
        }
    }

    @Sendable func create(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: GroupID.self)
            let form = try await web.postedForm(request, context: context)
            let zone = services.timeZone
            let text = { (name: String) in form[name] ?? "" }
            func again(_ message: String) async throws -> Response {
                let group = try await services.groups.group(actor, id, logger: context.logger)
                let view = NewEventView(csrf: page.csrf, groupId: id, groupName: group.name, title: text("title"), place: text("place"),
                                        startsAt: text("startsAt"), endsAt: text("endsAt"), capacity: text("capacity"),
                                        answerDeadline: text("answerDeadline"), description: text("description"), errors: [message])
                return web.renderer.page("event-new", title: "行事を作る", content: view, request: page, status: .unprocessableContent)
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
                let event = try await services.events.create(
                    actor, in: id, .init(title: text("title"), description: text("description"), place: text("place"), startsAt: startsAt, endsAt: endsAt,
                                         capacity: capacity, answerDeadline: deadline),
                    logger: context.logger)
                return PageRenderer.redirect("/events/\(event.id)?m=event-created")
            } catch {
                guard let message = Messages.formRefusal(error) else { throw error }
                return try await again(message)
            }
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
