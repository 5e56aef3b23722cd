import Foundation
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// An organization with the caller's standing in it, after the policy allowed an action.
public struct OrganizationScope: Sendable {
    public let organization: OrganizationRecord
    public let standing: OrganizationStanding
}

/// Loading an organization with the caller's standing and asking the policy. A stranger
/// gets `notFound` for everything of an organization, exactly as if it did not exist.
enum OrganizationAccess {
    /// Inside a write's transaction: the standing read under a share lock on the caller's
    /// staff row, so a removal or demotion committing meanwhile waits for the write, and one
    /// that committed before is seen.
    static func confirm(
        _ action: OrganizationAction, _ id: OrganizationID, actor: Actor, lock: Bool = true, on db: DatabaseConnection
    ) async throws -> OrganizationScope {
        guard let (record, standing) = try await OrganizationStore.standing(organization: id, account: actor.accountID, lock: lock,
                                                                            on: db) else { throw ServiceError.notFound }
        try Policy.decide(actor, action, in: standing).require()
        return OrganizationScope(organization: record, standing: standing)
    }
}
