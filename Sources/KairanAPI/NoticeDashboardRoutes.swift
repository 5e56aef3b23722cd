import Foundation
import Hummingbird
import KairanCore
import KairanServices

/// What staff watch after sending: confirmation counts by household and class, the call list, the answers.
extension NoticesController {
    /// Delivered / opened / confirmed, and who has not confirmed. Live updates arrive on
    /// the `notice:<id>` stream.
    @Sendable func status(_ request: Request, context: KairanRequestContext) async throws -> NoticeStatusView {
        let (actor, organization) = try organizationRoute(context)
        return try await notices.status(actor, try noticeID(context), in: organization, inClass: try request.cursor("classId"), logger: context.logger)
    }

    /// The households still unconfirmed, with every guardian's phone number recorded by
    /// the organization.
    @Sendable func callList(_ request: Request, context: KairanRequestContext) async throws -> Items<HouseholdView> {
        let (actor, organization) = try organizationRoute(context)
        return Items(items: try await notices.callList(actor, try noticeID(context), in: organization, inClass: try request.cursor("classId"),
                                                       logger: context.logger))
    }

    @Sendable func answers(_ request: Request, context: KairanRequestContext) async throws -> NoticeAnswersView {
        let (actor, organization) = try organizationRoute(context)
        return try await notices.answers(actor, try noticeID(context), in: organization, logger: context.logger)
    }
}

extension NoticeStatusView: ResponseEncodable {}
extension NoticeAnswersView: ResponseEncodable {}
