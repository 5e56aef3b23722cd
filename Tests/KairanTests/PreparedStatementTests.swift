import Foundation
import HummingbirdTesting
import KairanCore
import Testing

@testable import KairanServer

/// The statements every request runs are prepared once per connection
/// (KairanStore/PreparedStatements.swift). A parameter's type is fixed by the first
/// execution: here one connection serves every request, so a page asked first without a
/// cursor, by a member (not a moderator), must still answer right when the cursor, another
/// viewer and a moderator come later.
@Suite struct PreparedStatementTests {
    @Test func onePooledConnectionAnswersEveryShapeOfAPageRight() async throws {
        try await withApp(configure: { $0.databasePoolSize = 1 }) { client, _ in
            let owner = try await client.resident("owner@example.jp")
            let member = try await client.resident("member@example.jp")
            let group = try await client.createGroup(by: owner, visibility: "public", joinPolicy: "open")
            #expect(try await client.send(.post, "/v1/groups/\(group)/join", json: "{}", token: member.token).status == .ok)
            let (thread, first) = try await client.createThread(in: group, by: owner)
            var ids = [first]
            for text in ["二件目", "三件目", "四件目"] {
                let posted = try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": text]), token: member.token)
                ids.append(try #require(try posted.json()["id"] as? Int))
            }
            func page(_ query: String, _ who: Resident) async throws -> [Int] {
                let response = try await client.send(.get, "/v1/threads/\(thread)/posts\(query)", token: who.token)
                try #require(response.status == .ok, "\(response.text)")
                return try response.items().compactMap { $0["id"] as? Int }
            }
            // First execution: no cursor, a member.
            #expect(try await page("", member) == ids.reversed())
            // Then a cursor, a limit, and the owner (a moderator of the group).
            #expect(try await page("?before=\(ids[2])&limit=1", owner) == [ids[1]])
            #expect(try await page("?before=\(ids[3])", member) == [ids[2], ids[1], ids[0]])
            // A post the owner hid: gone for others, still there for its author.
            let reader = try await client.resident("reader@example.jp")
            #expect(try await client.send(.post, "/v1/groups/\(group)/join", json: "{}", token: reader.token).status == .ok)
            let flagged = try await client.send(.post, "/v1/posts/\(ids[3])/flags", json: jsonObject(["reason": "personal_info"]), token: reader.token)
            #expect(flagged.status == .created, "\(flagged.text)")
            let item = try #require(try await client.send(.get, "/v1/moderation/items", token: owner.token).items().first?["id"] as? Int)
            #expect(try await client.send(.post, "/v1/moderation/items/\(item)/actions", json: jsonObject(["action": "hide", "reason": "確認中"]),
                                          token: owner.token).status == .ok)
            #expect(try await page("", owner).contains(ids[3]))
            #expect(try await page("", member).contains(ids[3]), "its author still sees it")
            #expect(try await page("", reader) == [ids[2], ids[1], ids[0]])
            // Logged out: the session statement finds nothing for the same token.
            #expect(try await client.send(.delete, "/v1/sessions/current", token: reader.token).status == .noContent)
            #expect(try await client.send(.get, "/v1/threads/\(thread)/posts", token: reader.token).status == .unauthorized)
        }
    }

    /// The post gate's one statement (suspension, sandbox, watched word, the group's approval
    /// rule) and the access check's (thread, standing, a visible post), first run finding
    /// nothing, then finding each thing, on one connection.
    @Test func oneConnectionGatesEveryPostRight() async throws {
        try await withApp(configure: { $0.databasePoolSize = 1 }) { client, url in
            let moderator = try await client.resident("moderator@town.example.jp")
            try await grantRole("town_admin", to: "moderator@town.example.jp", in: url)
            let owner = try await client.resident("owner@example.jp")
            let member = try await client.resident("member@example.jp")
            let group = try await client.createGroup(by: owner, visibility: "public", joinPolicy: "open")
            #expect(try await client.send(.post, "/v1/groups/\(group)/join", json: "{}", token: member.token).status == .ok)
            let (thread, _) = try await client.createThread(in: group, by: owner)
            func post(_ text: String, to thread: Int) async throws -> TestResponse {
                try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": text]), token: member.token)
            }
            // First execution: no watched word, no suspension.
            let plain = try await post("こんにちは", to: thread)
            #expect(plain.status == .created, "\(plain.text)")
            #expect(try plain.json()["body"] as? String == "こんにちは", "the reply answers with the post as written")
            for (pattern, action) in [("禁句", "block"), ("要確認", "hold")] {
                let added = try await client.send(.post, "/v1/moderation/watched-words", json: jsonObject(["pattern": pattern, "action": action]),
                                                  token: moderator.token)
                #expect(added.status == .created, "\(added.text)")
            }
            #expect(try await post("これは禁句です", to: thread).errorCode() == "blocked_word")
            let held = try await post("要確認の話", to: thread)
            #expect(held.status == .created, "\(held.text)")
            #expect(try held.json()["moderation"] as? String == "held")
            // A thread whose only post is held is not there for another member.
            let (heldID, _) = try await client.createThread(in: group, by: member, title: "相談", body: "要確認の件")
            let reader = try await client.resident("reader@example.jp")
            #expect(try await client.send(.post, "/v1/groups/\(group)/join", json: "{}", token: reader.token).status == .ok)
            #expect(try await client.send(.get, "/v1/threads/\(heldID)/posts", token: reader.token).status == .notFound)
            #expect(try await client.send(.get, "/v1/threads/\(thread)/posts", token: reader.token).status == .ok)
            #expect(try await client.send(.get, "/v1/threads/\(heldID)/posts", token: member.token).status == .ok, "its author still sees it")
        }
    }
}
