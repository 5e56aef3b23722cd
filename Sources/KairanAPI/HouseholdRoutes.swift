import Foundation
import Hummingbird
import KairanCore
import KairanServices
import KairanStore

/// One family registered twice: the organization's admins merge two of its children's
/// households, and read the merges it vouched for.
extension OrganizationsController {
    func addHouseholdRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.post("/v1/organizations/{organizationID}/households/merge", use: mergeHouseholds)
        routes.get("/v1/organizations/{organizationID}/households/merges", use: householdMerges)
    }

    struct MergeHouseholds: Decodable {
        let childId: ChildID
        let withChildId: ChildID
        let reason: String
    }

    @Sendable func mergeHouseholds(_ request: Request, context: KairanRequestContext) async throws -> HouseholdStore.MergeRecord {
        let (actor, id) = try await authorize(.manageChildren, context)
        let input = try await request.decode(as: MergeHouseholds.self, context: context)
        return try await organizations.mergeHouseholds(actor, id, child: input.childId, withChild: input.withChildId, reason: input.reason,
                                                       logger: context.logger)
    }

    @Sendable func householdMerges(_ request: Request, context: KairanRequestContext) async throws -> Page<HouseholdStore.MergeRecord> {
        let (actor, id) = try organizationRoute(context)
        return try await organizations.householdMerges(actor, id, before: try request.cursor("before"), limit: try request.pageLimit(), logger: context.logger)
    }
}

extension HouseholdStore.MergeRecord: ResponseEncodable {}
