import Foundation
import HummingbirdTesting
import KairanCore
import KairanStore
import PostgresNIO
import Testing

@Suite struct AdminRolesTests {
    /// Makes `email` a town admin directly in the database, as `kairan user create --admin` does.
    func promote(_ email: String, in url: DatabaseURL) async throws {
        let logger = TestDatabase.logger
        try await url.withSingleConnection(logger: logger) { db in
            try await db.query("""
                INSERT INTO account_roles (account_id, role, granted_at)
                SELECT id, 'town_admin', now() FROM accounts WHERE email = \(email)
                """)
        }
    }

    @Test func anAdminAppointsATownModerator() async throws {
        try await withApp { client, url in
            let admin = try await client.registerAndLogin(email: "admin@town.example.jp")
            try await promote("admin@town.example.jp", in: url)
            let resident = try await client.registerAndLogin(email: "mod@example.jp")
            let residentID = try #require(try await client.send(.get, "/v1/me", token: resident).json()["id"] as? Int)

            let granted = try await client.send(.put, "/v1/admin/accounts/\(residentID)/roles/town_moderator", token: admin)
            #expect(granted.status == .noContent)
            let me = try await client.send(.get, "/v1/me", token: resident)
            #expect(try me.json()["roles"] as? [String] == ["resident", "town_moderator"])

            let revoked = try await client.send(.delete, "/v1/admin/accounts/\(residentID)/roles/town_moderator", token: admin)
            #expect(revoked.status == .noContent)
            #expect(try await client.send(.get, "/v1/me", token: resident).json()["roles"] as? [String] == ["resident"])
        }
    }

    @Test func residentsAndModeratorsCannotGrantRoles() async throws {
        try await withApp { client, _ in
            let resident = try await client.registerAndLogin(email: "r@example.jp")
            let id = try #require(try await client.send(.get, "/v1/me", token: resident).json()["id"] as? Int)
            let response = try await client.send(.put, "/v1/admin/accounts/\(id)/roles/town_admin", token: resident)
            #expect(response.status == .forbidden)
            #expect(try response.errorCode() == "forbidden")
            #expect(try await client.send(.get, "/v1/me", token: resident).json()["roles"] as? [String] == ["resident"])
            let anonymous = try await client.send(.put, "/v1/admin/accounts/\(id)/roles/town_admin")
            #expect(anonymous.status == .unauthorized)
        }
    }

    @Test func unknownAccountsAndRolesAreClearErrors() async throws {
        try await withApp { client, url in
            let admin = try await client.registerAndLogin(email: "admin@town.example.jp")
            try await promote("admin@town.example.jp", in: url)
            let missing = try await client.send(.put, "/v1/admin/accounts/999999/roles/town_moderator", token: admin)
            #expect(missing.status == .notFound)
            let badRole = try await client.send(.put, "/v1/admin/accounts/1/roles/emperor", token: admin)
            #expect(badRole.status == .unprocessableContent)
            #expect(try badRole.errorCode() == "unknown_role")
            let scoped = try await client.send(.put, "/v1/admin/accounts/1/roles/group_moderator", token: admin)
            #expect(scoped.status == .forbidden)
        }
    }

    @Test func anAdminCannotRevokeTheirOwnAdminRole() async throws {
        try await withApp { client, url in
            let admin = try await client.registerAndLogin(email: "admin@town.example.jp")
            try await promote("admin@town.example.jp", in: url)
            let id = try #require(try await client.send(.get, "/v1/me", token: admin).json()["id"] as? Int)
            let response = try await client.send(.delete, "/v1/admin/accounts/\(id)/roles/town_admin", token: admin)
            #expect(response.status == .forbidden)
            #expect(try await client.send(.get, "/v1/me", token: admin).json()["roles"] as? [String] == ["resident", "town_admin"])
        }
    }
}
