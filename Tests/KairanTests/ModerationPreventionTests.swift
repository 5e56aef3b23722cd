import Foundation
import Hummingbird
import HummingbirdTesting
import KairanCore
import KairanStore
import Testing

@testable import KairanServer

/// Watched words, the new-account sandbox and rate limits.
@Suite struct ModerationPreventionTests {
    @Test func normalizationMakesWidthCaseAndKanaVariantsOneWord() {
        #expect(WatchedWords.normalize("ｂａｄ") == WatchedWords.normalize("BAD"))
        // Compared as code points: the database compares bytes, where Swift's == would
        // accept a decomposed バ.
        for variant in ["ﾊﾞｶ", "バカ", "ハ\u{3099}カ"] {
            #expect(Array(WatchedWords.normalize(variant).unicodeScalars) == Array("\u{30D0}\u{30AB}".unicodeScalars), "\(variant)")
        }
        for variant in ["ﾊﾞｶ", "ばか", "バカ", "ハ\u{3099}カ", "は\u{3099}か"] {
            #expect(Array(WatchedWords.normalize(variant, foldingKana: true).unicodeScalars) == Array("\u{30D0}\u{30AB}".unicodeScalars), "\(variant)")
        }
        #expect(Array(WatchedWords.normalize("は\u{3099}か").unicodeScalars) == Array("\u{3070}\u{304B}".unicodeScalars), "hiragana stays, composed")
        #expect(Sandbox.linkCount(in: "see https://a.example and http://b.example or www.c.example, https://www.d.example") == 4)
    }

    func withGroup(
        _ body: @escaping @Sendable (any TestClientProtocol, TestClock, Resident, Resident, Resident, Int, Int) async throws -> Void
    ) async throws {
        let clock = TestClock()
        try await withApp(clock: clock, configure: { $0.role = .api }) { client, url in
            let moderator = try await client.resident("moderator@town.example.jp")
            try await grantRole("town_admin", to: "moderator@town.example.jp", in: url)
            let owner = try await client.resident("owner@example.jp")
            let group = try await client.createGroup(by: owner)
            let (thread, _) = try await client.createThread(in: group, by: owner, title: "雑談", body: "どうぞ")
            // Old enough not to be new (7 days), young enough for the login to last (30 days).
            clock.advance(by: 10 * 86400)
            let member = try await client.resident("member@example.jp")
            let join = try await client.send(.post, "/v1/groups/\(group)/join", json: "{}", token: member.token)
            try #require(join.status == .ok, "\(join.text)")
            try await body(client, clock, moderator, owner, member, group, thread)
        }
    }

    func post(_ client: any TestClientProtocol, _ text: String, in thread: Int, by resident: Resident) async throws -> TestResponse {
        try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": text]), token: resident.token)
    }

    @Test func watchedWordsBlockHoldAndFlagWhateverTheWidth() async throws {
        try await withGroup { client, clock, moderator, owner, member, group, thread in
            for (pattern, action, fold) in [("ばか", "block", true), ("ＳＡＬＥ", "hold", false), ("ｸﾚｰﾑ", "flag", false)] {
                let added = try await client.send(.post, "/v1/moderation/watched-words", json: jsonObject(["pattern": pattern, "action": action, "foldKana": fold]), token: moderator.token)
                #expect(added.status == .created, "\(added.text)")
            }
            #expect(try await client.send(.post, "/v1/moderation/watched-words", json: jsonObject(["pattern": "x", "action": "block"]), token: owner.token).status == .forbidden)
            for (pattern, action) in [("死*ね", "block"), ("100%_off", "block")] {
                #expect(try await client.send(.post, "/v1/moderation/watched-words", json: jsonObject(["pattern": pattern, "action": action]), token: moderator.token).status == .created)
            }
            clock.advance(by: 8 * 86400) // the member is no longer new: only the words apply

            // block: refused with a clear message, in any width or script.
            for text in ["ﾊﾞｶじゃないの", "お前はバカだ", "ばかばかしい"] {
                let refused = try await post(client, text, in: thread, by: member)
                #expect(try refused.errorCode() == "blocked_word", "\(text)")
                #expect(try (refused.json()["error"] as? [String: Any])?["message"] as? String ?? "" != "")
            }
            // `*` is any run of characters; LIKE's own % and _ are plain characters in a word.
            #expect(try await post(client, "死んでくれね", in: thread, by: member).errorCode() == "blocked_word")
            #expect(try await post(client, "しんでしまえ", in: thread, by: member).status == .created, "死 is not し")
            #expect(try await post(client, "１００％＿ＯＦＦ セール", in: thread, by: member).errorCode() == "blocked_word", "full-width, matched after NFKC")
            #expect(try await post(client, "100 percent off", in: thread, by: member).status == .created, "% and _ match only themselves")
            // The strongest action wins: a hold word and a flag word together hold the post.
            #expect(try await post(client, "ｸﾚｰﾑ覚悟の sale", in: thread, by: member).json()["moderation"] as? String == "held")

            // hold: only the author (and moderators) see it until it is approved.
            let before = try #require(try await client.send(.get, "/v1/threads/\(thread)", token: owner.token).json()["lastPostAt"] as? String)
            let held = try await post(client, "週末 sale やります", in: thread, by: member)
            #expect(try await client.send(.get, "/v1/threads/\(thread)", token: owner.token).json()["lastPostAt"] as? String == before,
                    "a held post does not move its thread up")
            #expect(held.status == .created)
            let heldID = try #require(try held.json()["id"] as? Int)
            #expect(try held.json()["moderation"] as? String == "held")
            #expect(try held.json()["heldReason"] as? String == "watched_word")
            let asSeenByAuthor = try await client.send(.get, "/v1/threads/\(thread)/posts", token: member.token).items().first { $0["id"] as? Int == heldID }
            #expect(asSeenByAuthor?["heldReason"] as? String == "watched_word")
            let ownerView = try await client.send(.get, "/v1/threads/\(thread)/posts", token: owner.token).items()
            #expect(ownerView.contains { $0["id"] as? Int == heldID }, "the owner moderates the group and sees it")
            let stranger = try await client.resident("stranger@example.jp")
            #expect(try await client.send(.get, "/v1/threads/\(thread)/posts", token: stranger.token).items().contains { $0["id"] as? Int == heldID } == false)
            #expect(try await client.send(.get, "/v1/threads/\(thread)/posts", token: member.token).items().contains { $0["id"] as? Int == heldID })
            let queue = try await client.send(.get, "/v1/moderation/items?state=pending", token: owner.token).items()
            let heldItem = try #require(queue.first { $0["postId"] as? Int == heldID })
            clock.advance(by: 60)
            let approve = try await client.send(.post, "/v1/moderation/items/\(try #require(heldItem["id"] as? Int))/actions",
                                                json: jsonObject(["action": "keep", "reason": "問題なし"]), token: owner.token)
            #expect(approve.status == .ok, "\(approve.text)")
            func lastPostAt() async throws -> String? {
                try await client.send(.get, "/v1/threads/\(thread)", token: owner.token).json()["lastPostAt"] as? String
            }
            let approvedAt = try #require(try await lastPostAt())
            #expect(approvedAt != before, "an approved post moves its thread up, as of its approval")
            clock.advance(by: 60)
            #expect(try await post(client, "来週もやります", in: thread, by: member).status == .created)
            #expect(try await lastPostAt() != approvedAt, "a visible reply moves its thread up")
            #expect(try await client.send(.get, "/v1/threads/\(thread)/posts", token: stranger.token).items().contains { $0["id"] as? Int == heldID })
            let approvedNotice = try await client.send(.get, "/v1/notifications", token: member.token).items().first { $0["kind"] as? String == "moderation.approved" }
            #expect((approvedNotice?["data"] as? [String: Any])?["postId"] as? Int == heldID, "the author is told it is up")
            #expect(try await client.send(.get, "/v1/threads/\(thread)/posts", token: member.token).items().first { $0["id"] as? Int == heldID }?["heldReason"] == nil)

            // A held thread's title is not there for others either.
            let heldThread = try await client.send(.post, "/v1/groups/\(group)/threads", json: jsonObject(["title": "SALE のお知らせ", "body": "詳細は後で"]), token: member.token)
            let heldThreadID = try #require((try heldThread.json()["thread"] as? [String: Any])?["id"] as? Int)
            #expect(try await client.send(.get, "/v1/threads/\(heldThreadID)", token: stranger.token).status == .notFound)
            #expect(try await client.send(.get, "/v1/threads/\(heldThreadID)", token: member.token).status == .ok)
            #expect(try await client.send(.get, "/v1/groups/\(group)/threads", token: stranger.token).items().contains { $0["id"] as? Int == heldThreadID } == false)
            #expect(try await client.send(.get, "/v1/groups/\(group)/threads", token: owner.token).items().contains { $0["id"] as? Int == heldThreadID },
                    "its moderators see it")
            #expect(try await client.send(.post, "/v1/groups/\(group)/join", json: "{}", token: stranger.token).status == .ok)
            let heldAgain = try #require(try await post(client, "sale 第二弾", in: thread, by: member).json()["id"] as? Int)
            let heldPostReply = try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "返信", "replyTo": heldAgain]), token: stranger.token)
            #expect(try heldPostReply.errorCode() == "invalid_reply", "no reply to a post one cannot see")
            // Removed instead of approved: its author is told that too, with the reason.
            let heldAgainItem = try #require(try await client.send(.get, "/v1/moderation/items?state=pending", token: owner.token).items()
                .first { $0["postId"] as? Int == heldAgain }?["id"] as? Int)
            #expect(try await client.send(.post, "/v1/moderation/items/\(heldAgainItem)/actions",
                                          json: jsonObject(["action": "delete", "reason": "商用の宣伝"]), token: owner.token).status == .ok)
            let removedNotice = try await client.send(.get, "/v1/notifications", token: member.token).items().first {
                $0["kind"] as? String == "moderation.removed" && ($0["data"] as? [String: Any])?["postId"] as? Int == heldAgain
            }
            #expect((removedNotice?["data"] as? [String: Any])?["reason"] as? String == "商用の宣伝")
            #expect(try await client.send(.post, "/v1/threads/\(heldThreadID)/posts", json: jsonObject(["body": "x"]), token: stranger.token).status == .notFound)
            let lengthened = try await client.send(.post, "/v1/moderation/watched-words", json: jsonObject(["pattern": String(repeating: "\u{FDFA}", count: 20), "action": "block"]), token: moderator.token)
            #expect(try lengthened.errorCode() == "too_long")

            // flag: posted for everyone, and in the queue.
            let flagged = try await post(client, "クレームを入れたい", in: thread, by: member)
            let flaggedID = try #require(try flagged.json()["id"] as? Int)
            #expect(try flagged.json()["moderation"] == nil)
            #expect(try await client.send(.get, "/v1/moderation/items", token: owner.token).items().contains { $0["postId"] as? Int == flaggedID })
            _ = group

            // CSV: export, then import into the same list (formula-looking patterns survive the round trip).
            let csv = try await client.send(.get, "/v1/moderation/watched-words.csv", token: moderator.token)
            #expect(csv.text.hasPrefix("pattern,action,kana\r\n"))
            #expect(csv.text.contains("ばか,block,fold\r\n"))
            #expect(csv.text.contains("ｸﾚｰﾑ,flag,\r\n"))
            let imported = try await client.execute(uri: "/v1/moderation/watched-words.csv", method: .post,
                                                    headers: [.contentType: "text/csv", .authorization: "Bearer \(moderator.token)"],
                                                    body: ByteBuffer(string: "pattern,action\r\n\"=1+1\",flag\r\nspam,hold\r\nＳＰＡＭ,block\r\nﾊﾞｶ,block,fold\r\n"))
            #expect(imported.status == .ok, "\(String(buffer: imported.body))")
            let words = try await client.send(.get, "/v1/moderation/watched-words", token: moderator.token).items()
            #expect(words.count == 7, "ＳＰＡＭ is spam and ﾊﾞｶ is ばか: one word each, updated")
            #expect(words.contains { $0["pattern"] as? String == "ﾊﾞｶ" && $0["foldKana"] as? Bool == true })
            #expect(words.contains { $0["pattern"] as? String == "ＳＰＡＭ" && $0["action"] as? String == "block" })
            let bad = try await client.execute(uri: "/v1/moderation/watched-words.csv", method: .post,
                                               headers: [.contentType: "text/csv", .authorization: "Bearer \(moderator.token)"],
                                               body: ByteBuffer(string: "word,explode\r\n"))
            #expect(bad.status == .unprocessableContent)
            let badKana = try await client.execute(uri: "/v1/moderation/watched-words.csv", method: .post,
                                                   headers: [.contentType: "text/csv", .authorization: "Bearer \(moderator.token)"],
                                                   body: ByteBuffer(string: "word,block,yes\r\n"))
            #expect(badKana.status == .unprocessableContent, "only fold or nothing")
            for nothing in ["", "pattern,action,kana\r\n"] {
                let empty = try await client.execute(uri: "/v1/moderation/watched-words.csv", method: .post,
                                                     headers: [.contentType: "text/csv", .authorization: "Bearer \(moderator.token)"],
                                                     body: ByteBuffer(string: nothing))
                #expect(try empty.errorCode() == "empty", "an empty file is a mistake, not an import of nothing")
            }
            let export = try await client.send(.get, "/v1/moderation/watched-words.csv", token: moderator.token)
            #expect(export.text.contains("'=1+1,flag"), "formulas defused on the way out")
        }
    }

    /// Short kana words are matched as written unless the moderator asks for kana folding:
    /// everyday words that contain them in the other script go through, the written
    /// variants (half-width, the same script) are still caught, and a word that folds
    /// catches both scripts.
    @Test func kanaFoldingIsAPerWordChoiceOffByDefault() async throws {
        try await withGroup { client, clock, moderator, _, member, _, thread in
            for (pattern, fold) in [("バカ", false), ("シカ", false), ("きもい", true)] {
                let added = try await client.send(.post, "/v1/moderation/watched-words",
                                                  json: jsonObject(["pattern": pattern, "action": "block", "foldKana": fold]), token: moderator.token)
                #expect(added.status == .created, "\(added.text)")
                #expect(try added.json()["foldKana"] as? Bool == fold)
            }
            clock.advance(by: 8 * 86400)
            for everyday in ["うちの子は生まれたばかりです", "ばかり", "ばかばかしい話", "しかし雨でした", "鹿（しか）を見ました"] {
                #expect(try await post(client, everyday, in: thread, by: member).status == .created, "\(everyday)")
            }
            for variant in ["お前はバカだ", "ﾊﾞｶじゃないの", "シカトするな", "ｼｶﾄ", "きもいんだよ", "キモい", "ｷﾓｲ"] {
                #expect(try await post(client, variant, in: thread, by: member).errorCode() == "blocked_word", "\(variant)")
            }
        }
    }

    @Test func theWatchedWordListHasACeilingAndSaysSo() async throws {
        try await withApp(configure: { $0.role = .api }) { client, url in
            let moderator = try await client.resident("moderator@town.example.jp")
            try await grantRole("town_moderator", to: "moderator@town.example.jp", in: url)
            try await url.withSingleConnection(logger: TestDatabase.logger) { db in
                try await db.query("""
                    INSERT INTO watched_words (pattern, normalized, action, created_at)
                    SELECT 'w' || n, 'w' || n, 'flag', now() FROM generate_series(1, 10000) AS n
                    """)
            }
            let one = try await client.send(.post, "/v1/moderation/watched-words", json: jsonObject(["pattern": "もう一つ", "action": "flag"]), token: moderator.token)
            #expect(try one.errorCode() == "too_many")
            let changed = try await client.send(.post, "/v1/moderation/watched-words", json: jsonObject(["pattern": "w1", "action": "block"]), token: moderator.token)
            #expect(changed.status == .created, "changing a word already watched is not adding one")
            let imported = try await client.execute(uri: "/v1/moderation/watched-words.csv", method: .post,
                                                    headers: [.contentType: "text/csv", .authorization: "Bearer \(moderator.token)"],
                                                    body: ByteBuffer(string: "新しい語,hold\r\n"))
            #expect(try imported.errorCode() == "too_many")
            #expect(try await client.send(.get, "/v1/moderation/watched-words", token: moderator.token).items().count == 10000)
        }
    }

    /// A held reply is written by the transaction after the one-statement path has read the
    /// gate: its use of the rate limit is counted once, not twice.
    @Test func aHeldReplyUsesTheRateLimitOnce() async throws {
        try await withGroup { client, _, moderator, owner, member, group, thread in
            #expect(try await client.send(.put, "/v1/moderation/settings", json: jsonObject(["newAccountPostsPerHour": 3]),
                                          token: moderator.token).status == .ok)
            #expect(try await client.send(.patch, "/v1/groups/\(group)", json: jsonObject(["approveNewAccounts": true]), token: owner.token).status == .ok)
            for index in 1...3 {
                let held = try await post(client, "承認待ち \(index)", in: thread, by: member)
                #expect(held.status == .created, "\(held.text)")
                #expect(try held.json()["moderation"] as? String == "held")
            }
            let limited = try await post(client, "承認待ち 4", in: thread, by: member)
            #expect(limited.status == .tooManyRequests, "\(limited.text)")
        }
    }

    @Test func newAccountsAreSandboxedAndEveryoneIsRateLimited() async throws {
        try await withGroup { client, clock, moderator, owner, member, group, thread in
            // The sandbox as shipped (the test database relaxes the posting rate).
            let settings = try await client.send(.put, "/v1/moderation/settings", json: jsonObject(["newAccountPostsPerHour": 5]), token: moderator.token)
            #expect(try settings.json()["newAccountPostsPerHour"] as? Int == 5)
            // The member is new (joined just now, after the group's creation).
            let links = try await post(client, "https://a.example https://b.example https://c.example", in: thread, by: member)
            #expect(try links.errorCode() == "too_many_links")
            for index in 1...5 {
                #expect(try await post(client, "投稿 \(index)", in: thread, by: member).status == .created)
            }
            let limited = try await post(client, "投稿 6", in: thread, by: member)
            #expect(limited.status == .tooManyRequests)
            #expect(try limited.errorCode() == "rate_limited")
            let page = try await client.send(.get, "/v1/threads/\(thread)/posts", token: owner.token)
            #expect(try page.items().compactMap { $0["body"] as? String }.filter { $0.hasPrefix("投稿") }.count == 5, "the refused reply was not written")
            let retry = try #require(limited.headers[.retryAfter].flatMap { Int($0) })
            #expect(retry > 0 && retry <= 3600)
            clock.advance(by: TimeInterval(retry))
            #expect(try await post(client, "投稿 7", in: thread, by: member).status == .created, "the window has passed")

            // A group that asks for it: new accounts' posts wait for approval.
            #expect(try await client.send(.patch, "/v1/groups/\(group)", json: jsonObject(["approveNewAccounts": true]), token: owner.token).status == .ok)
            let waiting = try await post(client, "はじめまして", in: thread, by: member)
            #expect(try waiting.json()["moderation"] as? String == "held")
            #expect(try waiting.json()["heldReason"] as? String == "new_account", "the author is told why it waits")
            clock.advance(by: 8 * 86400)
            #expect(try await post(client, "一週間たちました", in: thread, by: member).json()["moderation"] == nil, "no longer new")

            // Flags and joins are limited too; the town's moderators are not.
            let flagger = try await client.resident("flagger@example.jp")
            var last: TestResponse?
            for index in 0..<6 {
                let target = try await post(client, "対象 \(index)", in: thread, by: owner)
                let targetID = try #require(try target.json()["id"] as? Int)
                last = try await client.send(.post, "/v1/posts/\(targetID)/flags", json: jsonObject(["reason": "spam"]), token: flagger.token)
            }
            #expect(last?.status == .tooManyRequests, "a new account flags at most 5 times an hour")
            #expect(last?.headers[.retryAfter] != nil)
            _ = moderator
        }
    }
}
