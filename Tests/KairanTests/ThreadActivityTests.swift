import Foundation
import KairanCore
import Testing

/// A thread's last post time lives in `thread_activity` (migration 0027).
@Suite struct ThreadActivityTests {
    /// During a rolling upgrade an instance of the release before 0027 may create a thread
    /// without a `thread_activity` row: it is listed with its start as its last post time,
    /// and the first reply here moves it up like any other.
    @Test func aThreadCreatedWithoutItsActivityRowShowsItsStartThenMovesWithAReply() async throws {
        let clock = TestClock()
        try await withApp(clock: clock) { client, url in
            let owner = try await client.resident("owner@example.jp")
            let group = try await client.createGroup(by: owner, visibility: "public", joinPolicy: "open")
            let started = clock.now().addingTimeInterval(-3600)
            // What the older release wrote: the thread and its first post, nothing else.
            let thread = try await url.withSingleConnection(logger: TestDatabase.logger) { db -> Int in
                var id = 0
                for try await value in try await db.query("""
                    WITH t AS (
                        INSERT INTO threads (group_id, title, created_by, created_at, last_post_at)
                        VALUES (\(group), '古い版で作った話題', \(owner.id), \(started), \(started)) RETURNING id, group_id
                    )
                    INSERT INTO posts (thread_id, group_id, author_id, body, created_at)
                    SELECT id, group_id, \(owner.id), '最初の投稿', \(started) FROM t RETURNING thread_id
                    """).decode(Int.self) {
                    id = value
                }
                return id
            }
            func lastPostAt() async throws -> String? {
                let response = try await client.send(.get, "/v1/threads/\(thread)", token: owner.token)
                #expect(response.status == .ok, "\(response.text)")
                return try response.json()["lastPostAt"] as? String
            }
            #expect(try await lastPostAt().flatMap(RFC3339.date) == started, "its start stands in")
            clock.advance(by: 60)
            let reply = try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "返信です"]), token: owner.token)
            #expect(reply.status == .created, "\(reply.text)")
            let moved = try #require(try await lastPostAt())
            #expect(RFC3339.date(moved) != started, "the reply moved it up")
            #expect(try RFC3339.date(moved) == (reply.json()["createdAt"] as? String).flatMap(RFC3339.date), "to the reply's time")
        }
    }
}
