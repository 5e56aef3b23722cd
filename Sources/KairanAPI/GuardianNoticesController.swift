import Foundation
import Hummingbird
import KairanCore
import KairanServices
import KairanStore
import Logging
import PostgresNIO

/// What a guardian does with a notice, in the app or on the mail link's page: open it,
/// confirm it, answer its form. Both paths share these rules.
enum NoticeActions {
    /// Marks the notice opened (first time only) and tells the dashboard.
    static func open(_ recipient: NoticeRecipientRecord, now: Date, on connection: PostgresConnection, logger: Logger) async throws {
        guard recipient.openedAt == nil else { return }
        try await progress(recipient, kind: "notice.opened", now: now, on: connection, logger: logger) {
            try await NoticeRecipientStore.markOpened(notice: recipient.noticeID, guardian: recipient.guardianID, now: now, on: connection, logger: logger)
        }
    }

    /// Confirms for this guardian (the household counts as confirmed) and tells the dashboard.
    static func confirm(_ recipient: NoticeRecipientRecord, now: Date, on connection: PostgresConnection, logger: Logger) async throws {
        guard recipient.confirmedAt == nil else { return }
        try await progress(recipient, kind: "notice.confirmed", now: now, on: connection, logger: logger) {
            try await NoticeRecipientStore.confirm(notice: recipient.noticeID, guardian: recipient.guardianID, now: now, on: connection, logger: logger)
        }
    }

    /// Runs `update` under the notice's lock and, when it changed something, sends the
    /// dashboard fresh counts: counted one confirmation after another, they only grow.
    private static func progress(
        _ recipient: NoticeRecipientRecord, kind: String, now: Date, on connection: PostgresConnection, logger: Logger,
        update: () async throws -> Bool
    ) async throws {
        try await NoticeStore.lockForCounting(recipient.noticeID, on: connection, logger: logger)
        guard try await update() else { return }
        let counts = try await NoticeRecipientStore.counts(notice: recipient.noticeID, messageID: nil, on: connection, logger: logger)
        try await EventStore.append(
            EventStore.noticeStream(recipient.noticeID), kind: kind,
            payload: NoticeProgressEvent(noticeId: recipient.noticeID, householdId: recipient.householdID, guardianId: recipient.guardianID,
                                         households: counts.households, confirmedHouseholds: counts.confirmedHouseholds, openedGuardians: counts.opened),
            now: now, on: connection, logger: logger)
    }

    /// The notice as one guardian sees it: their own open/confirm state, and the answers for
    /// the children of their household it concerns. Nil when it is gone.
    static func view(
        _ recipient: NoticeRecipientRecord, on connection: PostgresConnection, logger: Logger
    ) async throws -> (notice: NoticeRecord, organizationName: String, recipient: NoticeRecipientRecord, answers: [NoticeAnswerRecord])? {
        guard let notice = try await NoticeStore.find(recipient.noticeID, organization: recipient.organizationID, on: connection, logger: logger),
              let organization = try await OrganizationStore.find(recipient.organizationID, on: connection, logger: logger),
              let fresh = try await NoticeRecipientStore.recipient(notice: recipient.noticeID, guardian: recipient.guardianID, on: connection, logger: logger)
        else { return nil }
        let answers = try await NoticeRecipientStore.answers(notice: notice.id, household: recipient.householdID, on: connection, logger: logger)
        return (notice, organization.name, fresh, answers)
    }

    /// Checks an answer against the form: one choice, several distinct choices, or text.
    static func validate(choices: [Int], text: String?, form: ReplyForm, now: Date) throws -> ([Int], String?) {
        if let deadline = form.deadline, now >= deadline {
            throw APIError(.conflict, code: "reply_closed", message: "the reply deadline has passed")
        }
        switch form.kind {
        case .single, .multiple:
            guard choices.allSatisfy({ form.options.indices.contains($0) }), Set(choices).count == choices.count,
                  form.kind == .single ? choices.count == 1 : !choices.isEmpty else {
                throw APIError.validation(ValidationError(field: "choices", code: "invalid_choice",
                                                          message: form.kind == .single ? "choose exactly one option" : "choose one or more options"))
            }
            return (choices.sorted(), nil)
        case .text:
            guard choices.isEmpty else {
                throw APIError.validation(ValidationError(field: "choices", code: "invalid_choice", message: "this form asks for text"))
            }
            return ([], try Content.text(text ?? "", field: "text", max: 500, multiline: true))
        }
    }
}

/// The guardian's side: their notices from every organization their children are in,
/// confirmation, answers, and absence reports.
struct GuardianNoticesController {
    let dependencies: APIDependencies
    var database: Database { dependencies.database }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.get("/v1/me/notices", use: list)
        routes.get("/v1/me/notices/{noticeID}", use: show)
        routes.post("/v1/me/notices/{noticeID}/confirm", use: confirm)
        routes.put("/v1/me/notices/{noticeID}/answers/{childID}", use: answer)
    }

    struct MyNoticeResponse: ResponseEncodable, Sendable {
        struct ChildAnswer: Encodable, Sendable {
            let childId: ChildID
            let childName: String
            let choices: [Int]
            let text: String?
            let answeredAt: Date?
        }
        let id: NoticeID
        let organizationId: OrganizationID
        let organizationName: String
        let urgent: Bool
        let title: String
        let body: String
        let form: ReplyForm?
        let sentAt: Date?
        let openedAt: Date?
        let confirmedAt: Date?
        /// Another guardian of the household may have confirmed already.
        let householdConfirmed: Bool
        /// Detail view: the household's children this notice is for, with their answers.
        let children: [ChildAnswer]?

        init(_ notice: NoticeRecord, organizationName: String, recipient: NoticeRecipientRecord, answers: [NoticeAnswerRecord]? = nil) {
            id = notice.id; organizationId = notice.organizationID; self.organizationName = organizationName; urgent = notice.urgent
            title = notice.title; body = notice.body; form = notice.form; sentAt = notice.sentAt
            openedAt = recipient.openedAt; confirmedAt = recipient.confirmedAt; householdConfirmed = recipient.householdConfirmed
            children = answers?.map { .init(childId: $0.childID, childName: $0.childName, choices: $0.choices, text: $0.text, answeredAt: $0.answeredAt) }
        }
    }

    @Sendable func list(_ request: Request, context: KairanRequestContext) async throws -> Page<MyNoticeResponse> {
        let actor = try context.requireActor()
        let before = try request.cursor("before")
        let limit = try request.pageLimit()
        let rows = try await database.withConnection { connection in
            try await NoticeRecipientStore.notices(ofAccount: actor.accountID, before: before, limit: limit, on: connection, logger: context.logger)
        }
        return Page(items: rows.map { MyNoticeResponse($0.0, organizationName: $0.1, recipient: $0.2) },
                    nextBefore: rows.count == limit ? rows.last?.0.id : nil)
    }

    /// The caller's recipient row for the route's notice: 404 when it never reached them.
    func recipient(_ context: KairanRequestContext, on connection: PostgresConnection) async throws -> NoticeRecipientRecord {
        let actor = try context.requireActor()
        let id = try context.parameters.require("noticeID", as: NoticeID.self)
        guard let recipient = try await NoticeRecipientStore.recipient(notice: id, account: actor.accountID, on: connection, logger: context.logger) else {
            throw APIError.notFound
        }
        return recipient
    }

    func detail(_ recipient: NoticeRecipientRecord, on connection: PostgresConnection, logger: Logger) async throws -> MyNoticeResponse {
        guard let view = try await NoticeActions.view(recipient, on: connection, logger: logger) else { throw APIError.notFound }
        return MyNoticeResponse(view.notice, organizationName: view.organizationName, recipient: view.recipient, answers: view.answers)
    }

    /// Opening the notice in the app counts as opened (not as confirmed).
    @Sendable func show(_ request: Request, context: KairanRequestContext) async throws -> MyNoticeResponse {
        let now = dependencies.clock.now()
        return try await database.withTransaction { connection in
            let recipient = try await recipient(context, on: connection)
            try await NoticeActions.open(recipient, now: now, on: connection, logger: context.logger)
            return try await detail(recipient, on: connection, logger: context.logger)
        }
    }

    @Sendable func confirm(_ request: Request, context: KairanRequestContext) async throws -> MyNoticeResponse {
        let now = dependencies.clock.now()
        return try await database.withTransaction { connection in
            let recipient = try await recipient(context, on: connection)
            try await NoticeActions.confirm(recipient, now: now, on: connection, logger: context.logger)
            return try await detail(recipient, on: connection, logger: context.logger)
        }
    }

    struct AnswerInput: Decodable {
        let choices: [Int]?
        let text: String?
    }

    /// One answer per child; any guardian of the household may change it until the deadline.
    @Sendable func answer(_ request: Request, context: KairanRequestContext) async throws -> MyNoticeResponse {
        let input = try await request.decode(as: AnswerInput.self, context: context)
        let child = try context.parameters.require("childID", as: ChildID.self)
        guard (input.choices?.count ?? 0) <= 10 else {
            throw APIError.validation(ValidationError(field: "choices", code: "too_many", message: "at most 10 choices"))
        }
        let now = dependencies.clock.now()
        return try await database.withTransaction { connection in
            let recipient = try await recipient(context, on: connection)
            guard let notice = try await NoticeStore.find(recipient.noticeID, organization: recipient.organizationID, on: connection, logger: context.logger),
                  let form = notice.form else {
                throw APIError(.notFound, code: "no_form", message: "this notice has no reply form")
            }
            let children = try await NoticeRecipientStore.children(notice: notice.id, household: recipient.householdID, on: connection, logger: context.logger)
            guard children.contains(where: { $0.0 == child }) else { throw APIError.notFound }
            let (choices, text) = try NoticeActions.validate(choices: input.choices ?? [], text: input.text, form: form, now: now)
            try await NoticeRecipientStore.saveAnswer(notice: notice.id, child: child, guardian: recipient.guardianID, choices: choices, text: text,
                                                      now: now, on: connection, logger: context.logger)
            // Answering is also reading it.
            try await NoticeActions.open(recipient, now: now, on: connection, logger: context.logger)
            return try await detail(recipient, on: connection, logger: context.logger)
        }
    }
}
