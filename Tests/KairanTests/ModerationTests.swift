import Foundation
import Hummingbird
import HummingbirdTesting
import KairanCore
import KairanStore
import PostgresNIO
import Testing

@testable import KairanServer

/// Moderation against a real PostgreSQL and the live WebSocket stream: flags, the weighted
/// auto-hide, the queue and its scope, escalation, outcomes, appeals, suspensions and the
/// append-only log.
@Suite struct ModerationTests {
    struct Town {
        let client: any TestClientProtocol
        let url: DatabaseURL
        let clock: TestClock
        let admin: Resident
        let townModerator: Resident
    }

    func withTown(_ body: @escaping @Sendable (Town) async throws -> Void) async throws {
        let clock = TestClock()
        try await withLiveApp(clock: clock, configure: { $0.role = .api }) { client, url in
            let admin = try await client.resident("soumu@town.example.jp", name: "総務 担当")
            try await grantRole("town_admin", to: "soumu@town.example.jp", in: url)
            let moderator = try await client.resident("moderator@town.example.jp", name: "町 モデレーター")
            try await grantRole("town_moderator", to: "moderator@town.example.jp", in: url)
            try await body(Town(client: client, url: url, clock: clock, admin: admin, townModerator: moderator))
        }
    }

    func join(_ client: any TestClientProtocol, _ group: Int, _ resident: Resident) async throws {
        let response = try await client.send(.post, "/v1/groups/\(group)/join", json: "{}", token: resident.token)
        try #require(response.status == .ok || response.status == .created, "join: \(response.text)")
    }

    func flag(_ client: any TestClientProtocol, _ post: Int, by resident: Resident, reason: String = "harassment", note: String? = nil) async throws -> TestResponse {
        var body: [String: Any] = ["reason": reason]
        if let note { body["note"] = note }
        return try await client.send(.post, "/v1/posts/\(post)/flags", json: jsonObject(body), token: resident.token)
    }

    func act(_ client: any TestClientProtocol, _ item: Int, _ action: String, by resident: Resident, extra: [String: Any] = [:]) async throws -> TestResponse {
        var body: [String: Any] = ["action": action, "reason": "ガイドライン第3条"]
        body.merge(extra) { $1 }
        return try await client.send(.post, "/v1/moderation/items/\(item)/actions", json: jsonObject(body), token: resident.token)
    }

    func postIDs(_ client: any TestClientProtocol, thread: Int, as resident: Resident) async throws -> [Int] {
        try await client.send(.get, "/v1/threads/\(thread)/posts", token: resident.token).items().compactMap { $0["id"] as? Int }
    }

    @Test func flagsPastTheThresholdHideAPostAndAModeratorsKeepRestoresIt() async throws {
        try await withTown { town in
            let client = town.client
            let owner = try await client.resident("owner@example.jp", name: "世話 役")
            let author = try await client.resident("author@example.jp", name: "投稿 者")
            let reporters = [try await client.resident("a@example.jp"), try await client.resident("b@example.jp"), try await client.resident("c@example.jp")]
            let reader = try await client.resident("reader@example.jp")
            let group = try await client.createGroup(by: owner)
            for member in [author, reader] + reporters { try await join(client, group, member) }
            let (thread, _) = try await client.createThread(in: group, by: author, title: "公園", body: "最初の投稿")
            let post = try await client.post("あの家の人は最低だ", in: thread, by: author)
            let queue = try await townStream(town, owner)

            // New accounts weigh half: two new flaggers do not reach the default threshold of 3.
            #expect(try await flag(client, post, by: reporters[0]).status == .created)
            #expect(try await flag(client, post, by: reporters[0]).errorCode() == "already_flagged")
            #expect(try await flag(client, post, by: author).status == .forbidden, "not one's own post")
            #expect(try await flag(client, post, by: reporters[1], reason: "other").errorCode() == "required", "other needs a note")
            #expect(try await flag(client, post, by: reporters[1], reason: "spam").status == .created)
            try await queue.wait(for: "the queue event") { _ in queue.events("user:\(owner.id)").contains { $0["kind"] as? String == "moderation.item" } }
            let items = try await client.send(.get, "/v1/moderation/items", token: owner.token).items()
            #expect(items.count == 1)
            let item = try #require(items.first)
            let itemID = try #require(item["id"] as? Int)
            #expect(item["score"] as? Double == 1.0)
            #expect(item["autoHidden"] as? Bool == false)
            #expect(try await postIDs(client, thread: thread, as: reader).contains(post))

            // Established accounts weigh one: the third flag passes 3 and hides the post.
            town.clock.advance(by: 8 * 86400)
            #expect(try await flag(client, post, by: reporters[2], reason: "harassment").status == .created)
            let hidden = try await client.send(.get, "/v1/moderation/items/\(itemID)", token: owner.token).json()
            #expect(hidden["score"] as? Double == 2.0, "0.5 + 0.5 + 1")
            #expect(try await client.send(.put, "/v1/moderation/settings", json: jsonObject(["autoHideScore": 2, "newAccountDays": 7]), token: town.townModerator.token).status == .forbidden)
            #expect(try await client.send(.put, "/v1/moderation/settings", json: jsonObject(["autoHideScore": 2, "newAccountDays": 7]), token: town.admin.token).status == .ok)
            let late = try await client.resident("d@example.jp")
            town.clock.advance(by: 8 * 86400)
            #expect(try await flag(client, post, by: late, reason: "harassment").status == .created)
            let autoHidden = try await client.send(.get, "/v1/moderation/items/\(itemID)", token: owner.token).json()
            #expect(autoHidden["autoHidden"] as? Bool == true)
            #expect(autoHidden["postModeration"] as? String == "hidden")
            #expect(try await postIDs(client, thread: thread, as: reader).contains(post) == false, "hidden from readers")
            #expect(try await postIDs(client, thread: thread, as: author).contains(post), "its author still sees it")
            #expect(try await client.send(.get, "/v1/groups/\(group)/search?q=\("最低".addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed)!)", token: reader.token).items().isEmpty)
            #expect(try await client.send(.put, "/v1/posts/\(post)/reactions/like", token: reader.token).status == .notFound)
            let edit = try await client.send(.patch, "/v1/posts/\(post)", json: jsonObject(["body": "言い直します"]), token: author.token)
            #expect(try edit.errorCode() == "under_review", "a hidden post cannot be rewritten behind the moderators' backs")
            let combining = "a" + String(repeating: "\u{0301}", count: 600)
            #expect(try await flag(client, post, by: reader, reason: "other", note: combining).errorCode() == "too_long", "counted as the database counts")

            // The owner keeps it: restored for everyone; every reporter learns "kept", not who decided.
            #expect(try await act(client, itemID, "keep", by: owner, extra: ["reason": ""]).errorCode() == "required", "every action takes a reason")
            let kept = try await act(client, itemID, "keep", by: owner)
            #expect(try kept.json()["state"] as? String == "kept", "\(kept.text)")
            #expect(try await postIDs(client, thread: thread, as: reader).contains(post))
            for reporter in reporters {
                let outcomes = try await client.send(.get, "/v1/me/flags", token: reporter.token).items()
                #expect(outcomes.map { $0["outcome"] as? String } == ["kept"])
                let notes = try await client.send(.get, "/v1/notifications", token: reporter.token).items().filter { $0["kind"] as? String == "flag.outcome" }
                #expect(notes.count == 1)
                let data = try #require(notes.first?["data"] as? [String: Any])
                #expect(data["outcome"] as? String == "kept")
                #expect(data["author"] == nil && data["reason"] == nil, "nothing about who decided or why")
            }
            let history = try #require(try await client.send(.get, "/v1/moderation/items/\(itemID)", token: owner.token).json()["history"] as? [[String: Any]])
            #expect(history.compactMap { $0["action"] as? String }.reversed() == ["flag", "flag", "flag", "flag", "auto_hide", "keep"])

            // Kept, then edited: the item opens again with the new text for the moderators.
            #expect(try await client.send(.patch, "/v1/posts/\(post)", json: jsonObject(["body": "やっぱり最低だ"]), token: author.token).status == .ok)
            let reopened = try await client.send(.get, "/v1/moderation/items/\(itemID)", token: owner.token).json()
            #expect(reopened["state"] as? String == "pending")
            #expect(reopened["postBody"] as? String == "やっぱり最低だ")
            queue.close()
        }
    }

    /// A group (owned by `owner`) where `author` started a thread and `reporter` flagged its
    /// opening post. Returns them with the thread and the queue item.
    func flaggedThread(
        _ town: Town, body: String, reason: String, note: String? = nil
    ) async throws -> (owner: Resident, author: Resident, reporter: Resident, thread: Int, item: Int) {
        let client = town.client
        let owner = try await client.resident("owner@example.jp")
        let author = try await client.resident("author@example.jp")
        let reporter = try await client.resident("reporter@example.jp")
        let group = try await client.createGroup(by: owner)
        for member in [author, reporter] { try await join(client, group, member) }
        let (thread, post) = try await client.createThread(in: group, by: author, title: "相談", body: body)
        #expect(try await flag(client, post, by: reporter, reason: reason, note: note).status == .created)
        let item = try #require(try await client.send(.get, "/v1/moderation/items", token: owner.token).items().first?["id"] as? Int)
        return (owner, author, reporter, thread, item)
    }

    /// The owner's own stream, where queue events arrive.
    func townStream(_ town: Town, _ resident: Resident) async throws -> StreamClient {
        let stream = StreamClient.open(port: try #require(town.client.port), token: resident.token)
        stream.subscribe("user:\(resident.id)")
        #expect(try await stream.waitForSubscribed("user:\(resident.id)")["type"] as? String == "subscribed")
        return stream
    }

    @Test func groupModeratorsActOnlyInTheirGroupAndEscalateToTheTown() async throws {
        try await withTown { town in
            let client = town.client
            let owner = try await client.resident("owner1@example.jp", name: "北 世話役")
            let otherOwner = try await client.resident("owner2@example.jp", name: "南 世話役")
            let author = try await client.resident("author@example.jp", name: "投稿 者")
            let reporter = try await client.resident("reporter@example.jp", name: "通報 者")
            let mentioned = try await client.resident("hanako@example.jp", name: "山田 花子")
            let reader = try await client.resident("reader@example.jp")
            let group = try await client.createGroup(by: owner, name: "北地区")
            let otherGroup = try await client.createGroup(by: otherOwner, name: "南地区")
            for member in [author, reporter, mentioned, reader] { try await join(client, group, member) }
            let (thread, _) = try await client.createThread(in: group, by: author, title: "相談", body: "はじめまして")
            let secret = "山田さんの電話番号は090-1234-5678"
            let post = try await client.post("@山田花子 \(secret)", in: thread, by: author)
            #expect(try await client.send(.get, "/v1/notifications", token: mentioned.token).text.contains("090-1234-5678"), "the mention quoted it")
            #expect(try await flag(client, post, by: reporter, reason: "personal_info").status == .created)
            let itemID = try #require(try await client.send(.get, "/v1/moderation/items", token: owner.token).items().first?["id"] as? Int)

            // Another group's moderator: nothing to see, nothing to do.
            #expect(try await client.send(.get, "/v1/moderation/items/\(itemID)", token: otherOwner.token).status == .notFound)
            #expect(try await act(client, itemID, "delete", by: otherOwner).status == .notFound)
            #expect(try await client.send(.get, "/v1/moderation/items", token: otherOwner.token).items().isEmpty)
            #expect(try await client.send(.get, "/v1/moderation/items", token: reader.token).status == .forbidden)
            _ = otherGroup

            // Escalated: the town's moderators are told live, and only they act on it now.
            let townQueue = try await townStream(town, town.townModerator)
            let escalated = try await act(client, itemID, "escalate", by: owner)
            #expect(try escalated.json()["state"] as? String == "escalated")
            try await townQueue.wait(for: "the escalation") { _ in
                townQueue.events("user:\(town.townModerator.id)").contains { ($0["data"] as? [String: Any])?["state"] as? String == "escalated" }
            }
            #expect(try await act(client, itemID, "delete", by: owner).status == .forbidden)
            let removed = try await act(client, itemID, "delete", by: town.townModerator)
            #expect(try removed.json()["state"] as? String == "removed", "\(removed.text)")
            #expect(try await act(client, itemID, "keep", by: owner).status == .forbidden, "the group cannot overturn the town")

            // A moderator's own post is judged by the town, not by the moderator.
            let ownPost = try await client.post("世話役の投稿", in: thread, by: owner)
            #expect(try await flag(client, ownPost, by: reporter, reason: "spam").status == .created)
            #expect(try await client.send(.get, "/v1/moderation/items", token: owner.token).items().contains { $0["postId"] as? Int == ownPost } == false)
            #expect(try await client.send(.get, "/v1/moderation/items", token: town.townModerator.token).items().contains { $0["postId"] as? Int == ownPost })
            let reported = try await client.send(.get, "/v1/me/flags", token: reporter.token).items().first { $0["postId"] as? Int == post }
            #expect(reported?["outcome"] as? String == "removed")
            // The reporter can tell which post it was: its thread and its start as flagged,
            // in the list and in the outcome's notification, and never who decided.
            #expect(reported?["threadId"] as? Int == thread && (reported?["excerpt"] as? String)?.isEmpty == false)
            let outcome = try await client.send(.get, "/v1/notifications", token: reporter.token).items().first { $0["kind"] as? String == "flag.outcome" }
            let told = try #require(outcome?["data"] as? [String: Any])
            #expect(told["outcome"] as? String == "removed" && told["threadId"] as? Int == thread && told["excerpt"] as? String == reported?["excerpt"] as? String)
            #expect(told["author"] == nil && told["itemId"] == nil)

            // Removed posts never reappear: not in the list, search, notifications, or a
            // reconnecting client's replay.
            #expect(try await postIDs(client, thread: thread, as: reader).contains(post) == false)
            #expect(try await postIDs(client, thread: thread, as: author).contains(post) == false)
            let search = try await client.send(.get, "/v1/groups/\(group)/search?q=\("090".addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed)!)", token: reader.token)
            #expect(try search.items().isEmpty)
            #expect(!(try await client.send(.get, "/v1/notifications", token: mentioned.token).text.contains("090-1234-5678")))
            let replay = StreamClient.open(port: try #require(client.port), token: reader.token)
            replay.subscribe("thread:\(thread)", after: 0)
            _ = try await replay.waitForSubscribed("thread:\(thread)")
            let frames = replay.frames.withLock { $0 }
            #expect(frames.contains { $0.contains("post.created") }, "the replay ran")
            #expect(!frames.contains { $0.contains("090-1234-5678") }, "but without the removed text")
            replay.close()
            let mentionReplay = StreamClient.open(port: try #require(client.port), token: mentioned.token)
            mentionReplay.subscribe("user:\(mentioned.id)", after: 0)
            _ = try await mentionReplay.waitForSubscribed("user:\(mentioned.id)")
            #expect(!mentionReplay.frames.withLock { $0 }.contains { $0.contains("090-1234-5678") })
            mentionReplay.close()

            // One appeal, by the author only; reversing restores the post.
            #expect(try await client.send(.post, "/v1/moderation/items/\(itemID)/appeal", json: jsonObject(["text": "本人の許可を得ていました"]), token: reader.token).status == .notFound)
            let appeal = try await client.send(.post, "/v1/moderation/items/\(itemID)/appeal", json: jsonObject(["text": "本人の許可を得ていました"]), token: author.token)
            #expect(appeal.status == .created, "\(appeal.text)")
            #expect(try await client.send(.post, "/v1/moderation/items/\(itemID)/appeal", json: jsonObject(["text": "もう一度"]), token: author.token).errorCode() == "already_appealed")
            let appealID = try #require(try appeal.json()["id"] as? Int)
            #expect(try await client.send(.post, "/v1/moderation/appeals/\(appealID)/decision", json: jsonObject(["decision": "reverse", "reason": "確認済み"]), token: owner.token).status == .forbidden)
            let reversed = try await client.send(.post, "/v1/moderation/appeals/\(appealID)/decision", json: jsonObject(["decision": "reverse", "reason": "確認済み"]), token: town.townModerator.token)
            #expect(try reversed.json()["state"] as? String == "reversed", "\(reversed.text)")
            let again = try await client.send(.post, "/v1/moderation/appeals/\(appealID)/decision", json: jsonObject(["decision": "uphold", "reason": "再考"]), token: town.townModerator.token)
            #expect(try again.errorCode() == "already_decided")
            let restored = try await client.send(.get, "/v1/threads/\(thread)/posts", token: reader.token).items().first { $0["id"] as? Int == post }
            #expect((restored?["body"] as? String)?.contains(secret) == true)
            townQueue.close()
        }
    }

    @Test func suspensionsStopPostingUntilTheyEnd() async throws {
        try await withTown { town in
            let client = town.client
            let (owner, author, _, thread, itemID) = try await flaggedThread(town, body: "格安で売ります", reason: "spam")

            #expect(try await act(client, itemID, "suspend", by: owner).errorCode() == "required", "a suspension needs its length")
            #expect(try await act(client, itemID, "suspend", by: owner, extra: ["durationHours": 24, "scope": "town"]).status == .forbidden)
            #expect(try await act(client, itemID, "suspend", by: owner, extra: ["durationHours": 24]).status == .ok)
            #expect(try await act(client, itemID, "warn", by: owner).status == .ok)
            let refused = try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "まだ売ります"]), token: author.token)
            #expect(try refused.errorCode() == "suspended")
            let kinds = try await client.send(.get, "/v1/notifications", token: author.token).items().compactMap { $0["kind"] as? String }
            #expect(Set(kinds).isSuperset(of: ["moderation.suspended", "moderation.warning"]))
            town.clock.advance(by: 24 * 3600 + 1)
            #expect(try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "反省しました"]), token: author.token).status == .created)

            // A ban takes them out of the group.
            #expect(try await act(client, itemID, "ban", by: owner).status == .ok)
            #expect(try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "x"]), token: author.token).status == .forbidden)
        }
    }

    /// A mistaken year-long suspension is corrected: the group's owner finds it, shortens it
    /// and lifts it, with reasons; the author posts again at once and is told each time; the
    /// town's moderators see every suspension, members who do not moderate none; each change
    /// is in the moderation log.
    @Test func aSuspensionIsListedShortenedAndLifted() async throws {
        try await withTown { town in
            let client = town.client
            let (owner, author, reporter, thread, itemID) = try await flaggedThread(town, body: "格安で売ります", reason: "spam")
            #expect(try await act(client, itemID, "suspend", by: owner, extra: ["durationHours": 8760]).status == .ok)
            let group = try #require(try await client.send(.get, "/v1/threads/\(thread)", token: owner.token).json()["groupId"] as? Int)

            let listed = try await client.send(.get, "/v1/moderation/suspensions?groupId=\(group)", token: owner.token).items()
            #expect(listed.count == 1)
            let suspension = try #require(listed.first)
            #expect(suspension["accountId"] as? Int == author.id && suspension["scope"] as? String == "group" && suspension["active"] as? Bool == true)
            let id = try #require(suspension["id"] as? Int)
            #expect(try await client.send(.get, "/v1/moderation/suspensions?groupId=\(group)", token: reporter.token).status == .forbidden)
            #expect(try await client.send(.get, "/v1/moderation/suspensions", token: owner.token).status == .forbidden, "every suspension: the town's moderators")
            #expect(try await client.send(.get, "/v1/moderation/suspensions", token: town.townModerator.token).items().count == 1)
            #expect(try await client.send(.post, "/v1/moderation/suspensions/\(id)/lift", json: jsonObject(["reason": "x"]), token: reporter.token).status == .forbidden)

            // Shortened to a day: still suspended.
            let formatter = ISO8601DateFormatter()
            let tomorrow = town.clock.now().addingTimeInterval(86400)
            let shortened = try await client.send(.patch, "/v1/moderation/suspensions/\(id)",
                                                  json: jsonObject(["until": formatter.string(from: tomorrow), "reason": "期間の入力ミス"]), token: owner.token)
            #expect(shortened.status == .ok, "\(shortened.text)")
            let until = try #require((try shortened.json()["until"] as? String).flatMap(formatter.date(from:)))
            #expect(abs(until.timeIntervalSince(tomorrow)) < 1)
            for (when, code) in [(-60.0, "in_the_past"), (400.0 * 86400, "out_of_range")] {
                let moved = try await client.send(.patch, "/v1/moderation/suspensions/\(id)",
                                                  json: jsonObject(["until": formatter.string(from: town.clock.now().addingTimeInterval(when)), "reason": "x"]), token: owner.token)
                #expect(try moved.errorCode() == code)
            }
            #expect(try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "まだですか"]), token: author.token).errorCode() == "suspended")

            // Lifted: the author posts again at once.
            let lifted = try await client.send(.post, "/v1/moderation/suspensions/\(id)/lift", json: jsonObject(["reason": "誤って停止しました"]), token: owner.token)
            #expect(lifted.status == .ok, "\(lifted.text)")
            #expect(try lifted.json()["active"] as? Bool == false)
            #expect(try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "ありがとうございます"]), token: author.token).status == .created)
            #expect(try await client.send(.post, "/v1/moderation/suspensions/\(id)/lift", json: jsonObject(["reason": "再度"]), token: owner.token).errorCode() == "not_active")
            #expect(try await client.send(.get, "/v1/moderation/suspensions?groupId=\(group)", token: owner.token).items().isEmpty)
            #expect(try await client.send(.get, "/v1/moderation/suspensions?groupId=\(group)&ended=true", token: owner.token).items().count == 1)
            #expect(try await client.send(.get, "/v1/moderation/suspensions?groupId=\(group)&ended=maybe", token: owner.token).status == .badRequest)

            let notifications = try await client.send(.get, "/v1/notifications", token: author.token).items()
            let kinds = notifications.compactMap { $0["kind"] as? String }
            #expect(Set(kinds).isSuperset(of: ["moderation.suspended", "moderation.suspension_changed", "moderation.suspension_lifted"]))
            let liftNotice = try #require(notifications.first { $0["kind"] as? String == "moderation.suspension_lifted" }?["data"] as? [String: Any])
            #expect(liftNotice["reason"] as? String == "誤って停止しました" && liftNotice["groupId"] as? Int == group)
            let log = try await client.send(.get, "/v1/moderation/log", token: town.townModerator.token).items()
            let actions = log.compactMap { $0["action"] as? String }
            #expect(actions.starts(with: ["suspension_lifted", "suspension_changed"]), "\(actions)")
            #expect(log.first?["reason"] as? String == "誤って停止しました" && log.first?["subjectId"] as? Int == author.id)
        }
    }

    @Test func theModerationLogIsAppendOnlyAndExportable() async throws {
        try await withTown { town in
            let client = town.client
            let (owner, _, _, _, itemID) = try await flaggedThread(town, body: "=HYPERLINK(\"x\")", reason: "other", note: "=cmd|' /C calc'!A0")
            #expect(try await act(client, itemID, "hide", by: owner, extra: ["reason": "=SUM(A1)"]).status == .ok)

            #expect(try await client.send(.get, "/v1/moderation/log", token: owner.token).status == .forbidden, "the town's moderators and admins only")
            let log = try await client.send(.get, "/v1/moderation/log", token: town.townModerator.token).items()
            #expect(log.compactMap { $0["action"] as? String } == ["hide", "flag"])
            let csv = try await client.send(.get, "/v1/moderation/log.csv", token: town.admin.token)
            #expect(csv.headers[.contentType] == "text/csv; charset=utf-8")
            let lines = csv.text.split(separator: "\r\n")
            #expect(lines.count == 3)
            #expect(lines.first == "id,at,action,actor_id,item_id,post_id,group_id,subject_id,reason,detail")
            #expect(csv.text.contains("'=SUM(A1)"), "formula-looking fields are defused")
            #expect(!csv.text.contains("cmd|"), "a flag's note stays out of the permanent log")

            try await town.url.withSingleConnection(logger: TestDatabase.logger) { db in
                await #expect(throws: (any Error).self) {
                    try await db.query("UPDATE moderation_log SET reason = 'rewritten'")
                }
                await #expect(throws: (any Error).self) {
                    try await db.query("DELETE FROM moderation_log")
                }
                await #expect(throws: (any Error).self) {
                    try await db.query("TRUNCATE moderation_log")
                }
            }
            #expect(try await client.send(.get, "/v1/moderation/log", token: town.townModerator.token).items().count == 2)
        }
    }
}
