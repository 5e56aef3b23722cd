import Foundation
import Hummingbird
import KairanCore
import KairanServices

/// Group events over JSON, and their calendar file and answer export.
struct EventsController {
    let dependencies: APIDependencies
    var events: GroupEventService { dependencies.services.events }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.post("/v1/groups/{groupID}/events", use: create)
        routes.get("/v1/groups/{groupID}/events", use: list)
        routes.get("/v1/events/{eventID}", use: show)
        routes.patch("/v1/events/{eventID}", use: update)
        routes.post("/v1/events/{eventID}/cancel", use: cancel)
        routes.put("/v1/events/{eventID}/answer", use: answer)
        routes.get("/v1/events/{eventID}/answers", use: answers)
        routes.get("/v1/events/{eventID}/answers.csv", use: answersCSV)
        routes.get("/v1/events/{eventID}/calendar.ics", use: calendar)
    }

    struct EventInput: Decodable {
        let title: String
        let description: String?
        let place: String
        let startsAt: Date
        let endsAt: Date
        let capacity: Int?
        let answerDeadline: Date?
        let answerDeadlineUnreadable: Bool

        private enum CodingKeys: String, CodingKey { case title, description, place, startsAt, endsAt, capacity, answerDeadline }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            title = try container.decode(String.self, forKey: .title)
            description = try container.decodeIfPresent(String.self, forKey: .description)
            place = try container.decode(String.self, forKey: .place)
            startsAt = try container.decode(Date.self, forKey: .startsAt)
            endsAt = try container.decode(Date.self, forKey: .endsAt)
            capacity = try container.decodeIfPresent(Int.self, forKey: .capacity)
            // An unreadable deadline (say "") is the service's to refuse, after it has checked
            // who may hold the event: a stranger gets 404, not a remark on the input.
            if container.contains(.answerDeadline), try !container.decodeNil(forKey: .answerDeadline) {
                answerDeadline = try? container.decode(Date.self, forKey: .answerDeadline)
                answerDeadlineUnreadable = answerDeadline == nil
            } else {
                answerDeadline = nil
                answerDeadlineUnreadable = false
            }
        }

        var input: GroupEventService.Input {
            .init(title: title, description: description, place: place, startsAt: startsAt, endsAt: endsAt, capacity: capacity,
                  answerDeadline: answerDeadline, answerDeadlineUnreadable: answerDeadlineUnreadable)
        }
    }

    @Sendable func create(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<EventView> {
        let actor = try context.requireActor()
        let groupID = try context.parameters.require("groupID", as: GroupID.self)
        let input = try await request.decode(as: EventInput.self, context: context)
        return EditedResponse(status: .created, response: try await events.create(actor, in: groupID, input.input, logger: context.logger))
    }

    struct EventPage: ResponseEncodable {
        let items: [EventView]
        /// Past events only: pass as `before` for the next page.
        let nextBefore: Date?
    }

    @Sendable func list(_ request: Request, context: KairanRequestContext) async throws -> EventPage {
        let actor = try context.requireActor()
        let groupID = try context.parameters.require("groupID", as: GroupID.self)
        let query = request.uri.queryParameters
        let past: Bool
        switch query["when"].map(String.init) {
        case nil, "upcoming": past = false
        case "past": past = true
        default: throw APIError.badRequest("query parameter 'when' must be 'upcoming' or 'past'")
        }
        var before: Date?
        if let text = query["before"] {
            guard let date = RFC3339.date(String(text)) else { throw APIError.badRequest("query parameter 'before' must be an RFC 3339 date-time") }
            before = date
        }
        let list = try await events.events(actor, in: groupID, past: past, before: before, limit: try request.pageLimit(), logger: context.logger)
        return EventPage(items: list.items, nextBefore: list.nextBefore)
    }

    @Sendable func show(_ request: Request, context: KairanRequestContext) async throws -> EventView {
        let actor = try context.requireActor()
        return try await events.event(actor, try context.parameters.require("eventID", as: EventID.self), logger: context.logger)
    }

    @Sendable func update(_ request: Request, context: KairanRequestContext) async throws -> EventView {
        let actor = try context.requireActor()
        let id = try context.parameters.require("eventID", as: EventID.self)
        let input = try await request.decode(as: EventInput.self, context: context)
        return try await events.update(actor, id, input.input, logger: context.logger)
    }

    struct CancelInput: Decodable {
        let reason: String?
    }

    @Sendable func cancel(_ request: Request, context: KairanRequestContext) async throws -> EventView {
        let actor = try context.requireActor()
        let id = try context.parameters.require("eventID", as: EventID.self)
        let input = try await request.decode(as: CancelInput.self, context: context)
        return try await events.cancel(actor, id, reason: input.reason, logger: context.logger)
    }

    struct AnswerInput: Decodable {
        let answer: EventAnswer
        let headCount: Int?
        let comment: String?
        let remindByMail: Bool?
    }

    @Sendable func answer(_ request: Request, context: KairanRequestContext) async throws -> EventView {
        let actor = try context.requireActor()
        let id = try context.parameters.require("eventID", as: EventID.self)
        let input = try await request.decode(as: AnswerInput.self, context: context)
        let reply = GroupEventService.ReplyInput(answer: input.answer, headCount: input.headCount, comment: input.comment,
                                                 remindByMail: input.remindByMail ?? false)
        return try await events.answer(actor, id, reply, logger: context.logger)
    }

    struct AnswerList: ResponseEncodable {
        let items: [EventAnswerView]
    }

    @Sendable func answers(_ request: Request, context: KairanRequestContext) async throws -> AnswerList {
        let actor = try context.requireActor()
        return AnswerList(items: try await events.answers(actor, try context.parameters.require("eventID", as: EventID.self), logger: context.logger))
    }

    @Sendable func answersCSV(_ request: Request, context: KairanRequestContext) async throws -> Response {
        let actor = try context.requireActor()
        let id = try context.parameters.require("eventID", as: EventID.self)
        let (_, csv) = try await events.answersCSV(actor, id, logger: context.logger)
        return Response.download(csv, type: "text/csv; charset=utf-8", filename: "event-\(id)-answers.csv")
    }

    @Sendable func calendar(_ request: Request, context: KairanRequestContext) async throws -> Response {
        let actor = try context.requireActor()
        let id = try context.parameters.require("eventID", as: EventID.self)
        return Response.download(try await events.calendar(actor, id, logger: context.logger), type: "text/calendar; charset=utf-8", filename: "event-\(id).ics")
    }
}

extension EventView: ResponseEncodable {}
