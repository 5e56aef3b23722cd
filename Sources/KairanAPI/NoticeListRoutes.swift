import Foundation
import Hummingbird
import KairanCore
import KairanServices

/// Custom lists of children (a club, a bus route) that notices can be sent to.
extension NoticesController {
    struct ListInput: Decodable {
        let name: String?
        let childIds: [ChildID]
    }

    func listID(_ context: KairanRequestContext) throws -> NoticeListID {
        try context.parameters.require("listID", as: NoticeListID.self)
    }

    @Sendable func lists(_ request: Request, context: KairanRequestContext) async throws -> Items<NoticeListView> {
        let (actor, organization) = try organizationRoute(context)
        return Items(items: try await notices.lists(actor, in: organization, logger: context.logger))
    }

    @Sendable func createList(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<NoticeListView> {
        let (actor, organization) = try await authorize(.sendNotices, context)
        let input = try await request.decode(as: ListInput.self, context: context)
        let list = try await notices.createList(actor, in: organization, name: input.name ?? "", children: input.childIds, logger: context.logger)
        return EditedResponse(status: .created, response: list)
    }

    @Sendable func updateList(_ request: Request, context: KairanRequestContext) async throws -> NoticeListView {
        let (actor, organization) = try await authorize(.sendNotices, context)
        let id = try listID(context)
        let input = try await request.decode(as: ListInput.self, context: context)
        return try await notices.updateList(actor, id, in: organization, name: input.name, children: input.childIds, logger: context.logger)
    }

    @Sendable func deleteList(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let (actor, organization) = try await authorize(.sendNotices, context)
        try await notices.deleteList(actor, try listID(context), in: organization, logger: context.logger)
        return .noContent
    }
}

extension NoticeListView: ResponseEncodable {}
