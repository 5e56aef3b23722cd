import Foundation
import Hummingbird
import KairanCore
import KairanServices

/// The approval queue: 管理職 approve a notice (optionally editing it) or return it with a comment.
extension NoticesController {
    struct ApproveInput: Decodable {
        /// The approver's edits, if any.
        let title: String?
        let body: String?
        let comment: String?
        /// The revision the approver read; 409 if the notice was edited since.
        let revision: Int?
    }

    @Sendable func approve(_ request: Request, context: KairanRequestContext) async throws -> NoticeView {
        let (actor, organization) = try await authorize(.approveNotices, context)
        let input = try await request.decode(as: ApproveInput.self, context: context)
        return try await notices.approve(actor, try noticeID(context), in: organization, title: input.title, body: input.body, comment: input.comment,
                                         revision: input.revision, logger: context.logger)
    }

    struct ReturnInput: Decodable {
        let comment: String
    }

    /// Sent back to the author with a comment; it goes out only if edited and approved later.
    @Sendable func returnNotice(_ request: Request, context: KairanRequestContext) async throws -> NoticeView {
        let (actor, organization) = try await authorize(.approveNotices, context)
        let input = try await request.decode(as: ReturnInput.self, context: context)
        return try await notices.returnToAuthor(actor, try noticeID(context), in: organization, comment: input.comment, logger: context.logger)
    }
}
