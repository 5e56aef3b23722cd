import Foundation
import Hummingbird
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// Custom lists of children (a club, a bus route) that notices can be sent to.
extension NoticesController {
    // MARK: - Custom lists

    struct ListResponse: ResponseEncodable, Sendable {
        let id: NoticeListID
        let name: String
        let childIds: [ChildID]
        init(_ record: NoticeListRecord) { id = record.id; name = record.name; childIds = record.children }
    }

    struct ListInput: Decodable {
        let name: String?
        let childIds: [ChildID]
    }

    @Sendable func lists(_ request: Request, context: KairanRequestContext) async throws -> Items<ListResponse> {
        let (organization, _, _) = try await authorizeOrganization(.sendNotices, context, database: database)
        let lists = try await database.withConnection { connection in
            try await NoticeListStore.lists(organization: organization.id, on: connection, logger: context.logger)
        }
        return Items(items: lists.map(ListResponse.init))
    }

    @Sendable func createList(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<ListResponse> {
        let (organization, _, _) = try await authorizeOrganization(.sendNotices, context, database: database)
        let input = try await request.decode(as: ListInput.self, context: context)
        let name = try Content.text(input.name ?? "", field: "name", max: 50)
        let children = try Self.childIDs(input.childIds)
        let now = dependencies.clock.now()
        let created = try await database.withTransaction { connection -> NoticeListRecord in
            try await confirmOrganization(.sendNotices, organization.id, actor: try context.requireActor(), on: connection, logger: context.logger)
            guard let id = try await NoticeListStore.insert(organization: organization.id, name: name, now: now, on: connection, logger: context.logger) else {
                throw APIError(.conflict, code: "list_exists", message: "a list with this name exists")
            }
            return try await Self.setChildren(id, organization: organization.id, children: children, on: connection, logger: context.logger)
        }
        return EditedResponse(status: .created, response: ListResponse(created))
    }

    @Sendable func updateList(_ request: Request, context: KairanRequestContext) async throws -> ListResponse {
        let (organization, _, _) = try await authorizeOrganization(.sendNotices, context, database: database)
        let id = try context.parameters.require("listID", as: NoticeListID.self)
        let input = try await request.decode(as: ListInput.self, context: context)
        let name = try input.name.map { try Content.text($0, field: "name", max: 50) }
        let children = try Self.childIDs(input.childIds)
        return ListResponse(try await database.withTransaction { connection -> NoticeListRecord in
            try await confirmOrganization(.sendNotices, organization.id, actor: try context.requireActor(), on: connection, logger: context.logger)
            guard try await NoticeListStore.lock(list: id, organization: organization.id, on: connection, logger: context.logger) else {
                throw APIError.notFound
            }
            if let name {
                do {
                    try await NoticeListStore.rename(list: id, to: name, on: connection, logger: context.logger)
                } catch where Database.isUniqueViolation(error) {
                    throw APIError(.conflict, code: "list_exists", message: "a list with this name exists")
                }
            }
            return try await Self.setChildren(id, organization: organization.id, children: children, on: connection, logger: context.logger)
        })
    }

    @Sendable func deleteList(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let (organization, _, _) = try await authorizeOrganization(.sendNotices, context, database: database)
        let id = try context.parameters.require("listID", as: NoticeListID.self)
        let deleted = try await database.withTransaction { connection in
            try await confirmOrganization(.sendNotices, organization.id, actor: try context.requireActor(), on: connection, logger: context.logger)
            return try await NoticeListStore.delete(list: id, organization: organization.id, on: connection, logger: context.logger)
        }
        guard deleted else { throw APIError.notFound }
        return .noContent
    }

    /// Replaces a list's children (422 when one is not enrolled here) and returns the list.
    static func setChildren(
        _ list: NoticeListID, organization: OrganizationID, children: [ChildID], on connection: PostgresConnection, logger: Logger
    ) async throws -> NoticeListRecord {
        guard try await NoticeListStore.setChildren(list: list, organization: organization, children: children, on: connection, logger: logger) else {
            throw APIError.validation(ValidationError(field: "childIds", code: "unknown_child", message: "every child must be enrolled here"))
        }
        guard let record = try await NoticeListStore.lists(organization: organization, id: list, on: connection, logger: logger).first else {
            throw APIError.notFound
        }
        return record
    }

    static func childIDs(_ ids: [ChildID]) throws -> [ChildID] {
        guard ids.count <= 2000 else {
            throw APIError.validation(ValidationError(field: "childIds", code: "too_many", message: "at most 2000 children per list"))
        }
        return ids
    }
}
