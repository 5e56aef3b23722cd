import Foundation
import Hummingbird
import KairanCore
import KairanServices
import KairanStore
import Logging
import PostgresNIO

/// Staff post notices to channels (the whole organization, grades, classes, custom lists),
/// org admins approve them when the organization asks for it, and staff follow who has
/// confirmed, call the households that have not, and read the answers.
struct NoticesController {
    let dependencies: APIDependencies
    var database: Database { dependencies.database }
    var timeZone: TimeZone { TimeZone(identifier: dependencies.alerts.timing.zone) ?? TimeZone(identifier: "Asia/Tokyo")! }

    /// How far ahead a notice may be scheduled.
    static let maxScheduleAhead: TimeInterval = 366 * 24 * 3600

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.get("/v1/organizations/{organizationID}/lists", use: lists)
        routes.post("/v1/organizations/{organizationID}/lists", use: createList)
        routes.put("/v1/organizations/{organizationID}/lists/{listID}", use: updateList)
        routes.delete("/v1/organizations/{organizationID}/lists/{listID}", use: deleteList)
        routes.post("/v1/organizations/{organizationID}/notices", use: create)
        routes.get("/v1/organizations/{organizationID}/notices", use: list)
        routes.get("/v1/organizations/{organizationID}/notices/{noticeID}", use: show)
        routes.patch("/v1/organizations/{organizationID}/notices/{noticeID}", use: edit)
        routes.post("/v1/organizations/{organizationID}/notices/{noticeID}/cancel", use: cancel)
        routes.post("/v1/organizations/{organizationID}/notices/{noticeID}/approve", use: approve)
        routes.post("/v1/organizations/{organizationID}/notices/{noticeID}/return", use: returnNotice)
        routes.get("/v1/organizations/{organizationID}/notices/{noticeID}/status", use: status)
        routes.get("/v1/organizations/{organizationID}/notices/{noticeID}/call-list", use: callList)
        routes.get("/v1/organizations/{organizationID}/notices/{noticeID}/answers", use: answers)
    }

    // MARK: - Notices

    struct NoticeResponse: ResponseEncodable, Sendable {
        let id: NoticeID
        let organizationId: OrganizationID
        let authorId: AccountID
        let urgent: Bool
        let title: String
        let body: String
        let targets: NoticeTargets
        let form: ReplyForm?
        let state: NoticeState
        let sendAt: Date
        /// When it goes (went) out: after quiet hours for a normal notice.
        let releaseAt: Date
        let skipReason: String?
        let createdAt: Date
        let sentAt: Date?
        let escalateAt: Date?
        let escalatedAt: Date?
        /// Raised by every edit; pass it to `approve` to approve exactly what was read.
        let revision: Int
        /// The approval trail (detail view only).
        let approvalLog: [ApprovalEntryResponse]?

        init(_ record: NoticeRecord, log: [NoticeStore.ApprovalEntry]? = nil) {
            id = record.id; organizationId = record.organizationID; authorId = record.authorID; urgent = record.urgent
            title = record.title; body = record.body; targets = record.targets; form = record.form; state = record.state
            sendAt = record.sendAt; releaseAt = record.releaseAt; skipReason = record.skipReason; createdAt = record.createdAt
            sentAt = record.sentAt; escalateAt = record.escalateAt; escalatedAt = record.escalatedAt; revision = record.revision
            approvalLog = log?.map(ApprovalEntryResponse.init)
        }
    }

    struct ApprovalEntryResponse: Encodable, Sendable {
        let actorId: AccountID
        let actorName: String
        let action: ApprovalAction
        let comment: String?
        let at: Date
        init(_ entry: NoticeStore.ApprovalEntry) {
            actorId = entry.actorID; actorName = entry.actorName; action = entry.action; comment = entry.comment; at = entry.at
        }
    }

    struct CreateNotice: Decodable {
        let title: String
        let body: String
        let urgent: Bool?
        let targets: NoticeTargets
        let form: ReplyForm?
        /// Absent: now.
        let sendAt: Date?
        /// An urgent notice sent without waiting for approval, by staff allowed to; the
        /// reason is recorded in the approval trail.
        let skipApprovalReason: String?
    }

    /// Queue events for the org admins (`org:<id>`) and the author (`user:<id>`).
    struct ApprovalEvent: Encodable {
        let noticeId: NoticeID
        let title: String
        let authorId: AccountID
        let state: NoticeState
        let comment: String?
    }

    @Sendable func create(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<NoticeResponse> {
        let (organization, standing, actor) = try await authorizeOrganization(.sendNotices, context, database: database)
        let input = try await request.decode(as: CreateNotice.self, context: context)
        let title = try Content.text(input.title, field: "title", max: 100)
        let body = try Content.text(input.body, field: "body", max: 5000, multiline: true)
        let urgent = input.urgent ?? false
        let targets = try Self.validate(input.targets)
        let now = dependencies.clock.now()
        let form = try input.form.map { try Self.validate($0, now: now) }
        let sendAt = max(input.sendAt ?? now, now)
        guard sendAt.timeIntervalSince(now) <= Self.maxScheduleAhead else {
            throw APIError.validation(ValidationError(field: "sendAt", code: "out_of_range", message: "sendAt must be within a year"))
        }
        let skipReason = try input.skipApprovalReason.map { try Content.text($0, field: "skipApprovalReason", max: 500) }
        if skipReason != nil && !urgent {
            throw APIError.validation(ValidationError(field: "skipApprovalReason", code: "not_urgent", message: "only an urgent notice may skip approval"))
        }

        let releaseAt = release(sendAt, urgent: urgent, organization: organization)
        if let deadline = form?.deadline, deadline <= releaseAt {
            throw APIError.validation(ValidationError(field: "form.deadline", code: "deadline_before_release",
                                                      message: "the reply deadline must be after the notice goes out (\(releaseAt.formatted(.iso8601)))"))
        }
        let record = try await database.withTransaction { connection -> NoticeRecord in
            try await confirmOrganization(.sendNotices, organization.id, actor: try context.requireActor(), on: connection, logger: context.logger)
            guard try await NoticeStore.targetsBelong(targets, to: organization.id, on: connection, logger: context.logger) else {
                throw APIError.validation(ValidationError(field: "targets", code: "unknown_channel", message: "every class and list must be this organization's"))
            }
            let needsApproval = organization.requiresApproval && standing.role != .orgAdmin
            var state: NoticeState = needsApproval ? .pendingApproval : .scheduled
            var logged: (ApprovalAction, String?)? = needsApproval ? (.submitted, nil) : nil
            if needsApproval, let skipReason {
                guard try await NoticeStore.maySkipApproval(account: actor.accountID, organization: organization.id, on: connection, logger: context.logger) else {
                    throw APIError(.forbidden, code: "may_not_skip_approval", message: "the organization has not allowed you to send without approval")
                }
                state = .scheduled
                logged = (.skipped, skipReason)
            }
            let notice = try await NoticeStore.insert(
                organization: organization.id, author: actor.accountID, urgent: urgent, title: title, body: body, targets: targets, form: form,
                state: state, sendAt: sendAt, releaseAt: releaseAt, skipReason: logged?.0 == .skipped ? skipReason : nil,
                now: now, on: connection, logger: context.logger)
            if let (action, comment) = logged {
                try await NoticeStore.log(action, notice: notice.id, organization: organization.id, actor: actor.accountID, comment: comment,
                                          now: now, on: connection, logger: context.logger)
            }
            if state == .pendingApproval {
                try await EventStore.append(EventStore.organizationStream(organization.id), kind: "notice.submitted",
                                            payload: ApprovalEvent(noticeId: notice.id, title: title, authorId: actor.accountID, state: state, comment: nil),
                                            now: now, on: connection, logger: context.logger)
            }
            return try await publishIfDue(notice, organization: organization, now: now, on: connection, logger: context.logger)
        }
        context.logger.info("notice created", metadata: ["notice_id": "\(record.id)", "state": "\(record.state.rawValue)", "urgent": "\(urgent)"])
        return EditedResponse(status: .created, response: NoticeResponse(record))
    }

    /// A normal notice waits out the organization's quiet hours; an urgent one does not.
    func release(_ sendAt: Date, urgent: Bool, organization: OrganizationRecord) -> Date {
        urgent ? sendAt : QuietHours.release(requested: sendAt, start: organization.quietStart, end: organization.quietEnd, timeZone: timeZone)
    }

    /// Publishes a scheduled notice in the caller's transaction when its time has come;
    /// later ones are left to the scheduler.
    func publishIfDue(_ notice: NoticeRecord, organization: OrganizationRecord, now: Date, on connection: PostgresConnection, logger: Logger) async throws -> NoticeRecord {
        guard notice.state == .scheduled, notice.releaseAt <= now else { return notice }
        let result = try await NoticeStore.publish(notice, organizationName: organization.name, escalateAfterMinutes: organization.escalateAfterMinutes,
                                                   urgentDeadline: dependencies.alerts.urgentDeadline, now: now, on: connection, logger: logger)
        logger.info("notice published", metadata: ["notice_id": "\(notice.id)", "guardians": "\(result.guardians)",
                                                    "mail_jobs": "\(result.mailJobs)", "live": "\(result.liveRecipients)"])
        return try await NoticeStore.find(notice.id, organization: organization.id, on: connection, logger: logger) ?? notice
    }

    static func validate(_ targets: NoticeTargets) throws -> NoticeTargets {
        guard !targets.isEmpty else {
            throw APIError.validation(ValidationError(field: "targets", code: "required", message: "choose the organization, grades, classes or lists"))
        }
        guard targets.grades.count <= 13, targets.classes.count <= 200, targets.lists.count <= 50 else {
            throw APIError.validation(ValidationError(field: "targets", code: "too_many", message: "too many channels in one notice"))
        }
        guard targets.grades.allSatisfy({ (0...12).contains($0) }) else {
            throw APIError.validation(ValidationError(field: "targets.grades", code: "out_of_range", message: "grades are between 0 and 12"))
        }
        return targets
    }

    static func validate(_ form: ReplyForm, now: Date) throws -> ReplyForm {
        let question = try Content.text(form.question, field: "form.question", max: 200)
        var options: [String] = []
        switch form.kind {
        case .single, .multiple:
            guard (2...10).contains(form.options.count) else {
                throw APIError.validation(ValidationError(field: "form.options", code: "out_of_range", message: "a choice needs 2 to 10 options"))
            }
            options = try form.options.map { try Content.text($0, field: "form.options", max: 50) }
        case .text:
            guard form.options.isEmpty else {
                throw APIError.validation(ValidationError(field: "form.options", code: "unexpected", message: "a text answer has no options"))
            }
        }
        if let deadline = form.deadline, deadline <= now {
            throw APIError.validation(ValidationError(field: "form.deadline", code: "in_the_past", message: "the reply deadline must be in the future"))
        }
        return ReplyForm(kind: form.kind, question: question, options: options, deadline: form.deadline)
    }

    @Sendable func list(_ request: Request, context: KairanRequestContext) async throws -> Page<NoticeResponse> {
        let (organization, _, _) = try await authorizeOrganization(.sendNotices, context, database: database)
        var state: NoticeState?
        if let text = request.uri.queryParameters["state"] {
            guard let value = NoticeState(rawValue: String(text)) else { throw APIError.badRequest("unknown state '\(text)'") }
            state = value
        }
        let before = try request.cursor("before")
        let limit = try request.pageLimit()
        let notices = try await database.withConnection { connection in
            try await NoticeStore.list(organization: organization.id, state: state, before: before, limit: limit, on: connection, logger: context.logger)
        }
        return Page(items: notices.map { NoticeResponse($0) }, nextBefore: notices.count == limit ? notices.last?.id : nil)
    }

    /// The notice named by the route, if it is this organization's.
    func notice(_ organization: OrganizationRecord, _ context: KairanRequestContext, lock: Bool = false, on connection: PostgresConnection) async throws -> NoticeRecord {
        let id = try context.parameters.require("noticeID", as: NoticeID.self)
        guard let notice = try await NoticeStore.find(id, organization: organization.id, lock: lock, on: connection, logger: context.logger) else {
            throw APIError.notFound
        }
        return notice
    }

    @Sendable func show(_ request: Request, context: KairanRequestContext) async throws -> NoticeResponse {
        let (organization, _, _) = try await authorizeOrganization(.sendNotices, context, database: database)
        return try await database.withConnection { connection in
            let notice = try await notice(organization, context, on: connection)
            let log = try await NoticeStore.approvalLog(notice: notice.id, on: connection, logger: context.logger)
            return NoticeResponse(notice, log: log)
        }
    }

    struct EditNotice: Decodable {
        let title: String?
        let body: String?
    }

    /// An author's or approver's changes to the text, each optional.
    static func validEdit(title: String?, body: String?) throws -> (String?, String?) {
        (try title.map { try Content.text($0, field: "title", max: 100) },
         try body.map { try Content.text($0, field: "body", max: 5000, multiline: true) })
    }

    /// The author (or an org admin) edits a notice that has not gone out. A returned notice
    /// goes back into the approval queue.
    @Sendable func edit(_ request: Request, context: KairanRequestContext) async throws -> NoticeResponse {
        let (organization, standing, actor) = try await authorizeOrganization(.sendNotices, context, database: database)
        let input = try await request.decode(as: EditNotice.self, context: context)
        let (title, body) = try Self.validEdit(title: input.title, body: input.body)
        let now = dependencies.clock.now()
        let record = try await database.withTransaction { connection -> NoticeRecord in
            try await confirmOrganization(.sendNotices, organization.id, actor: try context.requireActor(), on: connection, logger: context.logger)
            let notice = try await notice(organization, context, lock: true, on: connection)
            guard notice.authorID == actor.accountID || standing.role == .orgAdmin else {
                throw APIError.forbidden("only the author or an administrator may edit this notice")
            }
            guard [.pendingApproval, .returned, .scheduled].contains(notice.state) else {
                throw APIError(.conflict, code: "already_sent", message: "a notice that has gone out or was cancelled cannot be edited")
            }
            // In an organization that requires approval, what staff change goes back to the
            // queue: an approved notice edited afterwards must not go out unreviewed.
            let resubmit = notice.state == .returned
                || (organization.requiresApproval && standing.role != .orgAdmin && notice.state == .scheduled)
            let changed = (title.map { $0 != notice.title } ?? false) || (body.map { $0 != notice.body } ?? false)
            guard changed || resubmit else { return notice }
            try await NoticeStore.update(notice.id, state: resubmit ? .pendingApproval : notice.state, title: title, body: body, now: now,
                                         on: connection, logger: context.logger)
            if changed {
                try await NoticeStore.log(.edited, notice: notice.id, organization: organization.id, actor: actor.accountID, comment: nil,
                                          now: now, on: connection, logger: context.logger)
            }
            if resubmit {
                try await NoticeStore.log(.resubmitted, notice: notice.id, organization: organization.id, actor: actor.accountID, comment: nil,
                                          now: now, on: connection, logger: context.logger)
                try await EventStore.append(EventStore.organizationStream(organization.id), kind: "notice.submitted",
                                            payload: ApprovalEvent(noticeId: notice.id, title: title ?? notice.title, authorId: notice.authorID,
                                                                   state: .pendingApproval, comment: nil),
                                            now: now, on: connection, logger: context.logger)
            }
            return try await NoticeStore.find(notice.id, organization: organization.id, on: connection, logger: context.logger) ?? notice
        }
        return NoticeResponse(record)
    }

    @Sendable func cancel(_ request: Request, context: KairanRequestContext) async throws -> NoticeResponse {
        let (organization, standing, actor) = try await authorizeOrganization(.sendNotices, context, database: database)
        let now = dependencies.clock.now()
        let record = try await database.withTransaction { connection -> NoticeRecord in
            try await confirmOrganization(.sendNotices, organization.id, actor: try context.requireActor(), on: connection, logger: context.logger)
            let notice = try await notice(organization, context, lock: true, on: connection)
            guard notice.authorID == actor.accountID || standing.role == .orgAdmin else {
                throw APIError.forbidden("only the author or an administrator may cancel this notice")
            }
            guard [.pendingApproval, .returned, .scheduled].contains(notice.state) else {
                throw APIError(.conflict, code: "already_sent", message: "a notice that has gone out cannot be withdrawn")
            }
            try await NoticeStore.update(notice.id, state: .cancelled, now: now, on: connection, logger: context.logger)
            try await NoticeStore.log(.cancelled, notice: notice.id, organization: organization.id, actor: actor.accountID, comment: nil,
                                      now: now, on: connection, logger: context.logger)
            return try await NoticeStore.find(notice.id, organization: organization.id, on: connection, logger: context.logger) ?? notice
        }
        return NoticeResponse(record)
    }

}
