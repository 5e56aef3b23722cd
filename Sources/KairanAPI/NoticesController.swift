import Foundation
import Hummingbird
import KairanCore
import KairanServices
import KairanStore

/// Notices over JSON: writing, reading, editing and withdrawing here; custom lists, the
/// approval queue and the dashboard in their own files. The rules are `NoticeService`'s.
struct NoticesController {
    let dependencies: APIDependencies
    var notices: NoticeService { dependencies.services.notices }

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

    /// The organization named by the route, asked early (before the body is read).
    func authorize(_ action: OrganizationAction, _ context: KairanRequestContext) async throws -> (Actor, OrganizationID) {
        let (actor, scope) = try await authorizeOrganization(action, context, services: dependencies.services)
        return (actor, scope.organization.id)
    }

    func noticeID(_ context: KairanRequestContext) throws -> NoticeID {
        try context.parameters.require("noticeID", as: NoticeID.self)
    }

    // MARK: - Notices

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
        /// Uploads (`POST /v1/attachments`): a PDF of 学年だより, photos.
        let attachmentIds: [AttachmentID]?
    }

    @Sendable func create(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<NoticeView> {
        let (actor, organization) = try await authorize(.sendNotices, context)
        let input = try await request.decode(as: CreateNotice.self, context: context)
        let key = request.headers[.init("Idempotency-Key")!]
        if let key, !AlertService.isValidIdempotencyKey(key) {
            throw APIError.badRequest("Idempotency-Key must be 1 to \(AlertService.idempotencyKeyMax) visible ASCII characters")
        }
        let draft = NoticeDraft(title: input.title, body: input.body, urgent: input.urgent ?? false, targets: input.targets, form: input.form,
                                sendAt: input.sendAt, skipApprovalReason: input.skipApprovalReason, idempotencyKey: key,
                                attachmentIds: input.attachmentIds ?? [])
        let created = try await notices.createOnce(actor, in: organization, draft, logger: context.logger)
        return EditedResponse(status: created.isNew ? .created : .ok, response: created.notice)
    }

    @Sendable func list(_ request: Request, context: KairanRequestContext) async throws -> Page<NoticeView> {
        let (actor, organization) = try organizationRoute(context)
        var state: NoticeState?
        if let text = request.uri.queryParameters["state"] {
            guard let value = NoticeState(rawValue: String(text)) else { throw APIError.badRequest("unknown state '\(text)'") }
            state = value
        }
        return try await notices.list(actor, in: organization, state: state, before: try request.cursor("before"), limit: try request.pageLimit(),
                                      logger: context.logger)
    }

    @Sendable func show(_ request: Request, context: KairanRequestContext) async throws -> NoticeView {
        let (actor, organization) = try organizationRoute(context)
        return try await notices.notice(actor, try noticeID(context), in: organization, logger: context.logger)
    }

    struct EditNotice: Decodable {
        let title: String?
        let body: String?
    }

    /// The author (or an org admin) edits a notice that has not gone out. A returned notice
    /// goes back into the approval queue.
    @Sendable func edit(_ request: Request, context: KairanRequestContext) async throws -> NoticeView {
        let (actor, organization) = try await authorize(.sendNotices, context)
        let input = try await request.decode(as: EditNotice.self, context: context)
        return try await notices.edit(actor, try noticeID(context), in: organization, title: input.title, body: input.body, logger: context.logger)
    }

    @Sendable func cancel(_ request: Request, context: KairanRequestContext) async throws -> NoticeView {
        let (actor, organization) = try await authorize(.sendNotices, context)
        return try await notices.cancel(actor, try noticeID(context), in: organization, logger: context.logger)
    }
}

extension NoticeView: ResponseEncodable {}
