import Foundation
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// One family registered twice becomes one household. A guardian's link code does it on its
/// own (`GuardianService.linkChild`); here an organization's own admins merge the households
/// of two of its children, with a reason, and read the record of every merge they vouched for.
/// Only the organization's admins: a merge decides who receives each child's notices.
extension OrganizationService {
    public func mergeHouseholds(
        _ actor: Actor, _ id: OrganizationID, child: ChildID, withChild other: ChildID, reason rawReason: String, logger: Logger
    ) async throws -> HouseholdStore.MergeRecord {
        let reason = try Content.text(rawReason, field: "reason", max: 500, multiline: true)
        guard child != other else {
            throw ValidationError(field: "withChildId", code: "same_child", message: "name another child of the family")
        }
        let now = services.clock.now()
        let record = try await database.withTransaction { db in
            try await requireOwnAdmin(actor, id, on: db)
            for (field, childID) in [("childId", child), ("withChildId", other)] {
                guard try await OrganizationStore.child(id: childID, organization: id, on: db) != nil else {
                    throw ValidationError(field: field, code: "unknown_child", message: "no such child in this organization")
                }
            }
            let kept = try await OrganizationStore.household(of: child, now: now, on: db)
            let merged = try await OrganizationStore.household(of: other, now: now, on: db)
            guard kept != merged else { throw ServiceError.conflict("same_household", "these children are already in one household") }
            // A merge gives each household's guardians the other's children: one organization
            // may not hand another's children to anyone. A family at two schools or nurseries
            // joins by a guardian's link code, which each organization issued itself.
            guard try await !HouseholdStore.hasChildren(elsewhereThan: id, in: [kept, merged], on: db) else {
                throw ServiceError.conflict("other_organization",
                                            "a child of one of these households is enrolled at another organization; the guardian can join them with a link code")
            }
            return try await HouseholdStore.merge(merged, into: kept, organization: id, by: actor.accountID, via: .staff, reason: reason,
                                                  now: now, on: db)
        }
        logger.info("households merged", metadata: ["merge_id": "\(record.id)", "organization_id": "\(id)"])
        return record
    }

    public func householdMerges(_ actor: Actor, _ id: OrganizationID, before: Int64?, limit: Int, logger: Logger) async throws -> Page<HouseholdStore.MergeRecord> {
        let rows = try await database.withConnection { db in
            try await requireOwnAdmin(actor, id, lock: false, on: db)
            return try await HouseholdStore.merges(organization: id, before: before, limit: limit, on: db)
        }
        return Page(rows, limit: limit, cursor: \.id)
    }

    /// Children's data is the organization's own (a town admin who appoints its admins does
    /// not see it): its staff may see, its admins may merge.
    private func requireOwnAdmin(_ actor: Actor, _ id: OrganizationID, lock: Bool = true, on db: DatabaseConnection) async throws {
        let scope = try await OrganizationAccess.confirm(.manageChildren, id, actor: actor, lock: lock, on: db)
        guard scope.standing.role == .orgAdmin else { throw ServiceError.forbidden("only the organization's admins may merge households") }
    }
}
