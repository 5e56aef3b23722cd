import Foundation
import KairanCore
import PostgresNIO
import Testing

@testable import KairanStore

/// A page of posts costs the same in a thread of 20 posts and in one of 2,000.
@Suite struct ThreadPagePlanTests {
    /// A town has many short threads and a few long ones. The page statement's plan is made
    /// once per connection for any thread (a generic plan, from the average thread's size);
    /// a page of the long thread must still read its newest posts from the thread's index,
    /// not every post of the thread followed by a sort. (Found by hand with `pgbench` on such
    /// data: a variant of the statement whose plan read the whole thread of 3,831 posts took
    /// 6.6 ms a page, against about 0.3 ms from the index. Ordering by anything the index
    /// does not hold fails this test.)
    @Test(.timeLimit(.minutes(2)))
    func aPageOfALongThreadAmongManyShortOnesReadsOnlyThatPage() async throws {
        try await withApp { client, url in
            let owner = try await client.resident("owner@example.jp")
            let group = try await client.createGroup(by: owner, visibility: "public", joinPolicy: "open")
            let (thread, _) = try await client.createThread(in: group, by: owner)
            let plan = try await url.withSingleConnection(logger: TestDatabase.logger) { db -> String in
                try await db.query("""
                    INSERT INTO threads (group_id, title, created_by, created_at, last_post_at)
                    SELECT group_id, 'short ' || n, created_by, created_at, created_at FROM threads, generate_series(1, 1000) n WHERE id = \(thread)
                    """)
                // The long thread's posts first: its newest are not the table's newest either.
                try await db.query("""
                    INSERT INTO posts (thread_id, group_id, author_id, body, created_at)
                    SELECT t.id, t.group_id, t.created_by, 'long ' || n, t.created_at FROM threads t, generate_series(1, 2000) n WHERE t.id = \(thread)
                    """)
                try await db.query("""
                    INSERT INTO posts (thread_id, group_id, author_id, body, created_at)
                    SELECT t.id, t.group_id, t.created_by, 'short', t.created_at FROM threads t, generate_series(1, 5) n WHERE t.id <> \(thread)
                    """)
                try await db.query("ANALYZE posts")
                // What a pooled connection does after its fifth page: run the cached generic plan.
                try await db.query("SET plan_cache_mode = force_generic_plan")
                try await db.query(PostgresQuery(unsafeSQL: "PREPARE page AS " + ThreadStore.PostsPageStatement.sql))
                // thread, before, moderator, viewer, limit
                var plan = ""
                for try await text in try await db.query(PostgresQuery(unsafeSQL: "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE page(\(thread), NULL, false, NULL, 50)")).decode(String.self) {
                    plan += text
                }
                return plan
            }
            let json = try #require(try JSONSerialization.jsonObject(with: Data(plan.utf8)) as? [[String: Any]])
            let top = try #require(json.first?["Plan"] as? [String: Any])
            #expect(top["Actual Rows"] as? Int == 50, "the page has 50 posts")
            var postsRead: [Int] = []
            func walk(_ node: [String: Any]) {
                if node["Relation Name"] as? String == "posts", let rows = node["Actual Rows"] as? Int {
                    postsRead.append(rows + (node["Rows Removed by Filter"] as? Int ?? 0))
                }
                for child in node["Plans"] as? [[String: Any]] ?? [] { walk(child) }
            }
            walk(top)
            #expect(!postsRead.isEmpty, "\(plan)")
            #expect(postsRead.allSatisfy { $0 <= 50 }, "read \(postsRead) posts of the 2,001 in the thread for a page of 50: \(plan)")
        }
    }
}
