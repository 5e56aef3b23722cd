import Foundation
import Hummingbird
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// The approval queue: 管理職 approve a notice (optionally editing it) or return it with a comment.
extension NoticesController {
    // MARK: - Approval (管理職承認)

    struct ApproveInput: Decodable {
        /// The approver's edits, if any.
        let title: String?
        let body: String?
        let comment: String?
        /// The revision the approver read; 409 if the notice was edited since.
        let revision: Int?
    }

    @Sendable func approve(_ request: Request, context: KairanRequestContext) async throws -> NoticeResponse {
        let (organization, _, actor) = try await authorizeOrganization(.approveNotices, context, database: database)
        let input = try await request.decode(as: ApproveInput.self, context: context)
        let (title, body) = try Self.validEdit(title: input.title, body: input.body)
        let comment = try input.comment.map { try Content.text($0, field: "comment", max: 1000, multiline: true) }
        let now = dependencies.clock.now()
        let record = try await database.withTransaction { connection -> NoticeRecord in
            try await confirmOrganization(.approveNotices, organization.id, actor: try context.requireActor(), on: connection, logger: context.logger)
            let notice = try await notice(organization, context, lock: true, on: connection)
            guard notice.state == .pendingApproval else {
                throw APIError(.conflict, code: "not_pending", message: "only a notice waiting for approval can be approved")
            }
            if let revision = input.revision, revision != notice.revision {
                throw APIError(.conflict, code: "changed_since_read", message: "the notice was edited after you read it; read it again")
            }
            let edited = (title.map { $0 != notice.title } ?? false) || (body.map { $0 != notice.body } ?? false)
            if edited {
                try await NoticeStore.log(.edited, notice: notice.id, organization: organization.id, actor: actor.accountID, comment: nil,
                                          now: now, on: connection, logger: context.logger)
            }
            try await NoticeStore.log(.approved, notice: notice.id, organization: organization.id, actor: actor.accountID, comment: comment,
                                      now: now, on: connection, logger: context.logger)
            // Quiet hours are judged again at approval: approving at night a notice drafted
            // in the afternoon must not wake anyone.
            let releaseAt = release(max(notice.sendAt, now), urgent: notice.urgent, organization: organization)
            if let deadline = notice.form?.deadline, deadline <= releaseAt {
                throw APIError(.conflict, code: "deadline_before_release",
                               message: "the reply deadline would pass before the notice goes out; return it so the author can change it")
            }
            try await NoticeStore.update(notice.id, state: .scheduled, releaseAt: releaseAt, title: title, body: body, now: now,
                                         on: connection, logger: context.logger)
            let event = ApprovalEvent(noticeId: notice.id, title: title ?? notice.title, authorId: notice.authorID, state: .scheduled, comment: comment)
            try await EventStore.append(EventStore.organizationStream(organization.id), kind: "notice.approved", payload: event,
                                        now: now, on: connection, logger: context.logger)
            try await EventStore.append(EventStore.userStream(notice.authorID), kind: "notice.approved", payload: event,
                                        now: now, on: connection, logger: context.logger)
            guard let updated = try await NoticeStore.find(notice.id, organization: organization.id, on: connection, logger: context.logger) else {
                throw APIError.notFound
            }
            return try await publishIfDue(updated, organization: organization, now: now, on: connection, logger: context.logger)
        }
        return NoticeResponse(record)
    }

    struct ReturnInput: Decodable {
        let comment: String
    }

    /// Sent back to the author with a comment; it goes out only if edited and approved later.
    @Sendable func returnNotice(_ request: Request, context: KairanRequestContext) async throws -> NoticeResponse {
        let (organization, _, actor) = try await authorizeOrganization(.approveNotices, context, database: database)
        let input = try await request.decode(as: ReturnInput.self, context: context)
        let comment = try Content.text(input.comment, field: "comment", max: 1000, multiline: true)
        let now = dependencies.clock.now()
        let record = try await database.withTransaction { connection -> NoticeRecord in
            try await confirmOrganization(.approveNotices, organization.id, actor: try context.requireActor(), on: connection, logger: context.logger)
            let notice = try await notice(organization, context, lock: true, on: connection)
            guard notice.state == .pendingApproval else {
                throw APIError(.conflict, code: "not_pending", message: "only a notice waiting for approval can be returned")
            }
            try await NoticeStore.update(notice.id, state: .returned, now: now, on: connection, logger: context.logger)
            try await NoticeStore.log(.returned, notice: notice.id, organization: organization.id, actor: actor.accountID, comment: comment,
                                      now: now, on: connection, logger: context.logger)
            let event = ApprovalEvent(noticeId: notice.id, title: notice.title, authorId: notice.authorID, state: .returned, comment: comment)
            try await EventStore.append(EventStore.organizationStream(organization.id), kind: "notice.returned", payload: event,
                                        now: now, on: connection, logger: context.logger)
            try await EventStore.append(EventStore.userStream(notice.authorID), kind: "notice.returned", payload: event,
                                        now: now, on: connection, logger: context.logger)
            return try await NoticeStore.find(notice.id, organization: organization.id, on: connection, logger: context.logger) ?? notice
        }
        return NoticeResponse(record)
    }
}
