import Foundation
import HummingbirdTesting
import KairanCore
import KairanStore
import PostgresNIO
import Testing

@Suite struct GroupFlowTests {
    @Test func approvalFlowWithDenyThenApprove() async throws {
        try await withApp { client, _ in
            let owner = try await client.resident("owner@example.jp")
            let parent = try await client.resident("parent@example.jp", name: "鈴木 一郎")
            let group = try await client.createGroup(by: owner, visibility: "public", joinPolicy: "approval")
            let (thread, _) = try await client.createThread(in: group, by: owner)

            let asked = try await client.send(.post, "/v1/groups/\(group)/join", json: #"{"message":"2歳の子がいます"}"#, token: parent.token)
            #expect(asked.status == .accepted)
            #expect(try asked.json()["status"] as? String == "pending")
            #expect(try await client.send(.post, "/v1/threads/\(thread)/posts", json: #"{"body":"こんにちは"}"#, token: parent.token).status == .forbidden)

            let pending = try await client.send(.get, "/v1/groups/\(group)/join-requests", token: owner.token).items()
            #expect(pending.map { $0["displayName"] as? String } == ["鈴木 一郎"])
            #expect(pending.first?["message"] as? String == "2歳の子がいます")
            #expect(try await client.send(.get, "/v1/groups/\(group)/join-requests", token: parent.token).status == .forbidden)

            #expect(try await client.send(.post, "/v1/groups/\(group)/join-requests/\(parent.id)/deny", token: owner.token).status == .noContent)
            #expect(try await client.send(.get, "/v1/groups/\(group)/join-requests", token: owner.token).items().isEmpty)
            #expect(try await client.send(.get, "/v1/groups/\(group)/join-requests?state=denied", token: owner.token).items().count == 1)

            // A denied request can later be approved.
            #expect(try await client.send(.post, "/v1/groups/\(group)/join-requests/\(parent.id)/approve", token: owner.token).status == .noContent)
            #expect(try await client.send(.get, "/v1/groups/\(group)", token: parent.token).json()["myRole"] as? String == "member")
            try await client.post("こんにちは", in: thread, by: parent)
        }
    }

    @Test func theLastOwnerCannotLeave() async throws {
        try await withApp { client, _ in
            let owner = try await client.resident("owner@example.jp")
            let member = try await client.resident("member@example.jp")
            let group = try await client.createGroup(by: owner)
            #expect(try await client.send(.post, "/v1/groups/\(group)/join", token: member.token).status == .ok)
            let refused = try await client.send(.post, "/v1/groups/\(group)/leave", token: owner.token)
            #expect(refused.status == .conflict)
            #expect(try refused.errorCode() == "last_owner")
            #expect(try await client.send(.put, "/v1/groups/\(group)/members/\(member.id)/role", json: #"{"role":"owner"}"#, token: owner.token).status == .noContent)
            #expect(try await client.send(.post, "/v1/groups/\(group)/leave", token: owner.token).status == .noContent)
            #expect(try await client.send(.post, "/v1/groups/\(group)/leave", token: member.token).status == .conflict)
        }
    }

    @Test func banWithExpiryEnds() async throws {
        let clock = TestClock()
        try await withApp(clock: clock) { client, _ in
            let owner = try await client.resident("owner@example.jp")
            let troll = try await client.resident("troll@example.jp")
            let group = try await client.createGroup(by: owner)
            #expect(try await client.send(.post, "/v1/groups/\(group)/join", token: troll.token).status == .ok)
            let until = ISO8601DateFormatter().string(from: clock.now().addingTimeInterval(86400))
            #expect(try await client.send(.put, "/v1/groups/\(group)/bans/\(troll.id)", json: jsonObject(["reason": "宣伝", "expiresAt": until]), token: owner.token).status == .noContent)
            #expect(try await client.send(.post, "/v1/groups/\(group)/join", token: troll.token).status == .forbidden)
            clock.advance(by: 86401)
            #expect(try await client.send(.post, "/v1/groups/\(group)/join", token: troll.token).status == .ok)
        }
    }

    @Test func keysetPagesStayStableWhilePostsArrive() async throws {
        try await withApp { client, _ in
            let owner = try await client.resident("owner@example.jp")
            let group = try await client.createGroup(by: owner)
            let (thread, first) = try await client.createThread(in: group, by: owner)
            var all = [first]
            for n in 1...24 { all.append(try await client.post("投稿 \(n)", in: thread, by: owner)) }

            let page1 = try await client.send(.get, "/v1/threads/\(thread)/posts?limit=10", token: owner.token)
            let ids1 = try page1.items().compactMap { $0["id"] as? Int }
            #expect(ids1 == Array(all.reversed().prefix(10)))
            let cursor = try #require(page1.json()["nextBefore"] as? Int)

            // New posts land while the reader is on page 1 …
            for n in 1...5 { try await client.post("割り込み \(n)", in: thread, by: owner) }

            // … and the next pages continue exactly where page 1 ended.
            var seen = ids1
            var next: Int? = cursor
            while let before = next {
                let page = try await client.send(.get, "/v1/threads/\(thread)/posts?limit=10&before=\(before)", token: owner.token)
                seen += try page.items().compactMap { $0["id"] as? Int }
                next = try page.json()["nextBefore"] as? Int
            }
            #expect(seen == Array(all.reversed()), "every original post exactly once, in order")
            #expect(try await client.send(.get, "/v1/threads/\(thread)/posts?limit=1000", token: owner.token).status == .badRequest)
            #expect(try await client.send(.get, "/v1/threads/\(thread)/posts?before=abc", token: owner.token).status == .badRequest)
        }
    }

    @Test func japaneseSearchFindsSubstrings() async throws {
        try await withApp { client, _ in
            let owner = try await client.resident("owner@example.jp")
            let group = try await client.createGroup(by: owner)
            let other = try await client.createGroup(by: owner, name: "別の地区")
            let (thread, _) = try await client.createThread(in: group, by: owner)
            let (otherThread, _) = try await client.createThread(in: other, by: owner)
            let hit = try await client.post("来週の土曜日に子育てサロンを公民館で開きます。", in: thread, by: owner)
            try await client.post("ゴミ出しの日が変わりました", in: thread, by: owner)
            try await client.post("子育て支援センターのお知らせ", in: otherThread, by: owner)
            let removed = try await client.post("子育ての悩み（削除予定）", in: thread, by: owner)
            #expect(try await client.send(.delete, "/v1/posts/\(removed)", token: owner.token).status == .noContent)

            func search(_ q: String) async throws -> [Int] {
                let encoded = q.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed)!
                let response = try await client.send(.get, "/v1/groups/\(group)/search?q=\(encoded)", token: owner.token)
                try #require(response.status == .ok, "search \(q): \(response.text)")
                return try response.items().compactMap { $0["id"] as? Int }
            }
            #expect(try await search("子育て") == [hit])
            #expect(try await search("公民") == [hit], "two characters are enough")
            #expect(try await search("%%").isEmpty, "wildcards are matched literally")
            #expect(try await search("__").isEmpty, "wildcards are matched literally")
            let tooShort = try await client.send(.get, "/v1/groups/\(group)/search?q=%E5%AD%90", token: owner.token)
            #expect(tooShort.status == .unprocessableContent)
        }
    }

    @Test func overlongPostIsRefusedNotTruncated() async throws {
        try await withApp { client, _ in
            let owner = try await client.resident("owner@example.jp")
            let group = try await client.createGroup(by: owner)
            let (thread, _) = try await client.createThread(in: group, by: owner)
            let long = String(repeating: "あ", count: Content.postBodyMax + 1)
            let response = try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": long]), token: owner.token)
            #expect(response.status == .unprocessableContent)
            #expect(try response.errorCode() == "too_long")
            #expect(try await client.send(.get, "/v1/threads/\(thread)/posts", token: owner.token).items().count == 1)
            let exact = String(repeating: "あ", count: Content.postBodyMax)
            #expect(try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": exact]), token: owner.token).status == .created)
        }
    }

    @Test func editsKeepHistoryAndDeletesKeepTheThreadsShape() async throws {
        try await withApp { client, _ in
            let owner = try await client.resident("owner@example.jp")
            let member = try await client.resident("member@example.jp")
            let group = try await client.createGroup(by: owner)
            #expect(try await client.send(.post, "/v1/groups/\(group)/join", token: member.token).status == .ok)
            let (thread, _) = try await client.createThread(in: group, by: owner)
            let post = try await client.post("集合は9時です", in: thread, by: member)

            #expect(try await client.send(.patch, "/v1/posts/\(post)", json: #"{"body":"他人が編集"}"#, token: owner.token).status == .forbidden)
            let edited = try await client.send(.patch, "/v1/posts/\(post)", json: #"{"body":"集合は10時です"}"#, token: member.token)
            #expect(edited.status == .ok)
            #expect(try edited.json()["edited"] as? Bool == true)
            let history = try await client.send(.get, "/v1/posts/\(post)/edits", token: owner.token).items()
            #expect(history.map { $0["body"] as? String } == ["集合は9時です"])

            let reply = try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "了解", "replyTo": post]), token: owner.token)
            #expect(try reply.json()["replyTo"] as? Int == post)
            // A moderator (the owner) deletes the member's post: the row stays, the text goes.
            #expect(try await client.send(.delete, "/v1/posts/\(post)", token: owner.token).status == .noContent)
            let posts = try await client.send(.get, "/v1/threads/\(thread)/posts", token: member.token).items()
            #expect(posts.count == 3)
            let deleted = try #require(posts.first { $0["id"] as? Int == post })
            #expect(deleted["deleted"] as? Bool == true)
            #expect(deleted["body"] is NSNull)
            #expect(try await client.send(.get, "/v1/posts/\(post)/edits", token: owner.token).items().isEmpty, "history goes with the text")
        }
    }

    @Test func unreadCountsFollowReadMarkers() async throws {
        try await withApp { client, _ in
            let owner = try await client.resident("owner@example.jp")
            let reader = try await client.resident("reader@example.jp")
            let group = try await client.createGroup(by: owner)
            #expect(try await client.send(.post, "/v1/groups/\(group)/join", token: reader.token).status == .ok)
            let (thread, _) = try await client.createThread(in: group, by: owner)
            var last = 0
            for n in 1...3 { last = try await client.post("お知らせ \(n)", in: thread, by: owner) }

            let threads = try await client.send(.get, "/v1/groups/\(group)/threads", token: reader.token).items()
            #expect(threads.first?["unreadCount"] as? Int == 4)
            #expect(try await client.send(.get, "/v1/groups?mine=true", token: reader.token).items().first?["unreadCount"] as? Int == 4)
            #expect(try await client.send(.get, "/v1/groups/\(group)/threads", token: owner.token).items().first?["unreadCount"] as? Int == 0, "own posts are read")

            // A marker past the thread's posts, at 0, or on another thread's post would make
            // every later post count as read: refused.
            let elsewhere = try await client.createGroup(by: owner, name: "別のグループ")
            let (other, otherPost) = try await client.createThread(in: elsewhere, by: owner, title: "別の話題")
            for bogus in [1_000_000_000_000, -1, 0, otherPost] {
                let refused = try await client.send(.put, "/v1/threads/\(thread)/read", json: jsonObject(["lastReadPostId": bogus]), token: reader.token)
                #expect(try refused.errorCode() == "unknown_post", "\(bogus)")
            }
            _ = other
            #expect(try await client.send(.put, "/v1/threads/\(thread)/read", json: jsonObject(["lastReadPostId": last]), token: reader.token).status == .noContent)
            #expect(try await client.send(.get, "/v1/groups/\(group)/threads", token: reader.token).items().first?["unreadCount"] as? Int == 0)
            #expect(try await client.send(.get, "/v1/groups?mine=true", token: reader.token).items().first?["unreadCount"] as? Int == 0)
        }
    }

    @Test func reactionsCountAndUnknownOnesAreRefused() async throws {
        try await withApp { client, _ in
            let owner = try await client.resident("owner@example.jp")
            let member = try await client.resident("member@example.jp")
            let group = try await client.createGroup(by: owner)
            #expect(try await client.send(.post, "/v1/groups/\(group)/join", token: member.token).status == .ok)
            let (thread, post) = try await client.createThread(in: group, by: owner)
            #expect(try await client.send(.put, "/v1/posts/\(post)/reactions/thanks", token: member.token).status == .noContent)
            #expect(try await client.send(.put, "/v1/posts/\(post)/reactions/thanks", token: member.token).status == .noContent, "idempotent")
            #expect(try await client.send(.put, "/v1/posts/\(post)/reactions/like", token: owner.token).status == .noContent)
            let bad = try await client.send(.put, "/v1/posts/\(post)/reactions/angry", token: owner.token)
            #expect(bad.status == .unprocessableContent)
            let reactions = try await client.send(.get, "/v1/threads/\(thread)/posts", token: owner.token).items().first?["reactions"] as? [String: Int]
            #expect(reactions == ["thanks": 1, "like": 1])
            #expect(try await client.send(.delete, "/v1/posts/\(post)/reactions/thanks", token: member.token).status == .noContent)
            let after = try await client.send(.get, "/v1/threads/\(thread)/posts", token: owner.token).items().first?["reactions"] as? [String: Int]
            #expect(after == ["like": 1])
        }
    }

    @Test func changesAppendEventsInTheSameTransaction() async throws {
        try await withApp { client, url in
            let owner = try await client.resident("owner@example.jp")
            let group = try await client.createGroup(by: owner)
            let (thread, first) = try await client.createThread(in: group, by: owner)
            let second = try await client.post("二件目", in: thread, by: owner)
            #expect(try await client.send(.patch, "/v1/posts/\(second)", json: #"{"body":"二件目（訂正）"}"#, token: owner.token).status == .ok)
            #expect(try await client.send(.delete, "/v1/posts/\(first)", token: owner.token).status == .noContent)
            // A refused change leaves no event behind.
            let tooLong = String(repeating: "x", count: Content.postBodyMax + 1)
            #expect(try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": tooLong]), token: owner.token).status == .unprocessableContent)

            let logger = TestDatabase.logger
            let (threadEvents, groupEvents) = try await url.withSingleConnection(logger: logger) { db in
                (try await EventStore.read(EventStore.threadStream(Int64(thread)), after: 0, limit: 100, on: db),
                 try await EventStore.read(EventStore.groupStream(Int64(group)), after: 0, limit: 100, on: db))
            }
            #expect(threadEvents.map(\.kind) == ["post.created", "post.created", "post.edited", "post.deleted"])
            #expect(threadEvents.map(\.offset) == [1, 2, 3, 4])
            #expect(groupEvents.map(\.kind) == ["thread.created", "post.created", "post.created", "post.edited", "post.deleted"])
            #expect(threadEvents[2].payload.contains("二件目（訂正）"))
            #expect(!threadEvents[3].payload.contains("新しい遊具"), "a deleted post's event carries no text")
        }
    }
}

/// The folded search (NFKC, lower case on both sides) still uses its trigram index: the
/// statement folds the posts exactly as the index's expression does. On a group of 100,000
/// posts a search for a rare word is planned on that index (on a few thousand, scanning the
/// group's posts is cheaper, and the planner rightly does that).
@Suite struct SearchIndexTests {
    @Test func aSearchInALargeGroupUsesTheFoldedTrigramIndex() async throws {
        try await withApp { client, url in
            let owner = try await client.resident("owner@example.jp")
            let group = try await client.createGroup(by: owner)
            let (thread, _) = try await client.createThread(in: group, by: owner)
            try await url.withSingleConnection(logger: TestDatabase.logger) { db in
                try await db.query("""
                    INSERT INTO posts (thread_id, group_id, author_id, body, created_at)
                    SELECT \(thread), \(group), \(owner.id), 'ごみ当番のお知らせ 第' || n || '回 ' || md5(n::text), now()
                    FROM generate_series(1, 100000) AS n
                    """)
                try await db.query("ANALYZE posts")
                let search = ThreadStore.searchQuery(group: GroupID(group), text: "ＰＴＡ総会", before: nil, limit: 20)
                var plan: [String] = []
                for try await line in try await db.query(PostgresQuery(unsafeSQL: "EXPLAIN " + search.sql, binds: search.binds)).decode(String.self) {
                    plan.append(line)
                }
                #expect(plan.contains { $0.contains("Bitmap Index Scan on posts_body_folded_trgm_idx") }, "plan:\n\(plan.joined(separator: "\n"))")
            }
        }
    }
}
