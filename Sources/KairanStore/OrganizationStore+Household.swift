import Foundation
import KairanCore
import Logging
import PostgresNIO

extension OrganizationStore {
    /// A household's children at one organization (a mail link's guardian may have no
    /// account to look them up by).
    public static func children(household: Int64, organization: OrganizationID, on db: DatabaseConnection) async throws -> [ChildRecord] {
        var result: [ChildRecord] = []
        let query = ("""
            SELECT \(unescaped: childColumns) \(unescaped: childJoins)
            WHERE c.household_id = \(household) AND c.organization_id = \(organization) ORDER BY c.name, c.id
            """ as PostgresQuery)
        for try await row in try await db.query(query).decode(ChildRow.self) { result.append(child(row)) }
        return result
    }
}
