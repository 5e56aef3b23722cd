import Foundation
import KairanStore
import PostgresNIO
import HummingbirdTesting
import Testing

/// Residents with names, for group tests.
struct Resident: Sendable {
    let token: String
    let id: Int
}

extension TestClientProtocol {
    func resident(_ email: String, name: String = "テスト 住民") async throws -> Resident {
        let token = try await registerAndLogin(email: email, name: name)
        let id = try #require(try await send(.get, "/v1/me", token: token).json()["id"] as? Int)
        return Resident(token: token, id: id)
    }

    func createGroup(
        by owner: Resident, name: String = "中央地区 子育てひろば", kind: String = "parenting", visibility: String = "public", joinPolicy: String = "open"
    ) async throws -> Int {
        let response = try await send(.post, "/v1/groups", json: jsonObject([
            "kind": kind, "name": name, "description": "地域の子育て情報", "area": "中央", "visibility": visibility, "joinPolicy": joinPolicy,
        ]), token: owner.token)
        try #require(response.status == .created, "create group: \(response.text)")
        return try #require(response.json()["id"] as? Int)
    }

    /// Invites `resident` to a private group and accepts for them.
    func invite(_ resident: Resident, to group: Int, by owner: Resident) async throws {
        let invited = try await send(.post, "/v1/groups/\(group)/invitations", json: jsonObject(["accountId": resident.id]), token: owner.token)
        try #require(invited.status == .noContent, "invite: \(invited.text)")
        let joined = try await send(.post, "/v1/groups/\(group)/join", token: resident.token)
        try #require(joined.status == .ok, "join: \(joined.text)")
    }

    /// Starts a thread; returns (threadID, firstPostID).
    func createThread(in group: Int, by author: Resident, title: String = "公園の遊具", body: String = "新しい遊具が入りました") async throws -> (Int, Int) {
        let response = try await send(.post, "/v1/groups/\(group)/threads", json: jsonObject(["title": title, "body": body]), token: author.token)
        try #require(response.status == .created, "create thread: \(response.text)")
        let json = try response.json()
        let thread = try #require((json["thread"] as? [String: Any])?["id"] as? Int)
        let post = try #require((json["post"] as? [String: Any])?["id"] as? Int)
        return (thread, post)
    }

    @discardableResult
    func post(_ body: String, in thread: Int, by author: Resident) async throws -> Int {
        let response = try await send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": body]), token: author.token)
        try #require(response.status == .created, "post: \(response.text)")
        return try #require(response.json()["id"] as? Int)
    }
}

extension TestResponse {
    func items(_ key: String = "items") throws -> [[String: Any]] {
        try #require(json()[key] as? [[String: Any]], "no \(key) in \(text)")
    }
}

/// Grants a town role directly in the database, as `kairan user create --admin` does.
func grantRole(_ role: String, to email: String, in url: DatabaseURL) async throws {
    let logger = TestDatabase.logger
    try await url.withSingleConnection(logger: logger) { db in
        try await db.query("""
            INSERT INTO account_roles (account_id, role, granted_at)
            SELECT id, \(role), now() FROM accounts WHERE email = \(email)
            """)
    }
}
