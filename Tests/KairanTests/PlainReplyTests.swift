import Foundation
import KairanCore
import KairanStore
import PostgresNIO
import Testing

@testable import KairanServer

/// Most replies are written in one statement that commits on its own
/// (`ThreadStore.insertAndPublishReply`, the event encoded before the post had its id);
/// one that mentions someone, carries files or waits for moderation in a transaction.
@Suite struct PlainReplyTests {
    /// One JSON text per value: keys sorted.
    func canonical(_ value: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self)
    }

    /// A reply's `post.created` event says what the reply's answer says, whichever way it
    /// was written.
    @Test func aReplysEventOnItsThreadAndGroupIsThePostAsAnswered() async throws {
        try await withApp { client, url in
            let owner = try await client.resident("owner@example.jp", name: "山田 花子")
            let member = try await client.resident("member@example.jp", name: "佐藤 次郎")
            let group = try await client.createGroup(by: owner)
            #expect(try await client.send(.post, "/v1/groups/\(group)/join", json: "{}", token: member.token).status == .ok)
            let (thread, first) = try await client.createThread(in: group, by: owner)

            var answers: [[String: Any]] = []
            for (body, replyTo) in [("一つの文で書く返信", first), ("@山田花子 さん、名前を呼ぶ返信", first), ("返信先のない返信", 0)] {
                var fields: [String: Any] = ["body": body]
                if replyTo != 0 { fields["replyTo"] = replyTo }
                let reply = try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(fields), token: member.token)
                try #require(reply.status == .created, "\(reply.text)")
                answers.append(try reply.json())
            }
            #expect(answers[0]["replyTo"] as? Int == first && answers[2]["replyTo"] is NSNull)

            // The events as stored, the newest three on each stream.
            let events = try await url.withSingleConnection(logger: TestDatabase.logger) { db -> [String: [String]] in
                var payloads: [String: [String]] = [:]
                for stream in ["thread:\(thread)", "group:\(group)"] {
                    for try await payload in try await db.query("""
                        SELECT payload::text FROM events WHERE stream = \(stream) AND kind = 'post.created' ORDER BY seq DESC LIMIT 3
                        """).decode(String.self) {
                        payloads[stream, default: []].insert(payload, at: 0)
                    }
                }
                return payloads
            }
            for (stream, payloads) in events {
                try #require(payloads.count == 3, "\(stream): \(payloads)")
                for (payload, answer) in zip(payloads, answers) {
                    let event = try JSONSerialization.jsonObject(with: Data(payload.utf8))
                    #expect(try canonical(event) == canonical(answer), "\(stream)")
                }
            }
            let author = try #require(answers[0]["author"] as? [String: Any])
            #expect(author["displayName"] as? String == "佐藤 次郎" && author["id"] as? Int == member.id)
        }
    }

    /// A plain reply commits on its own, in one statement. Held up in it (here by a lock on
    /// its thread's stream head) past the request's deadline, the resident is answered 503
    /// and the reply is not kept: the connection is closed and PostgreSQL aborts the
    /// statement rather than commit it once the lock goes.
    @Test(.timeLimit(.minutes(2)))
    func aPlainReplyAnswered503AtItsDeadlineIsNotStored() async throws {
        try await TestDatabase.withFreshDatabase { url in
            try await serveLive(url: url, configure: { $0.requestTimeout = .seconds(2) }) { client in
                let owner = try await client.resident("owner@example.jp")
                let group = try await client.createGroup(by: owner)
                let (thread, _) = try await client.createThread(in: group, by: owner)
                let blocker = try await PostgresConnection.connect(configuration: url.connectionConfiguration(), id: 9, logger: TestDatabase.logger)
                try await blocker.query("BEGIN", logger: TestDatabase.logger)
                try await blocker.query("SELECT 1 FROM stream_heads WHERE stream = \("thread:\(thread)") FOR UPDATE", logger: TestDatabase.logger)
                let late = try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "待たされた返信"]), token: owner.token)
                #expect(late.status == .serviceUnavailable, "\(late.text)")
                // Longer than the server's check for a connection nobody reads.
                try await Task.sleep(for: .seconds(2))
                try await blocker.query("ROLLBACK", logger: TestDatabase.logger)
                try await blocker.close()
                try await Task.sleep(for: .milliseconds(500))
                let after = try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "次の返信"]), token: owner.token)
                #expect(after.status == .created, "\(after.text)")
                let page = try await client.send(.get, "/v1/threads/\(thread)/posts", token: owner.token)
                let bodies = try page.items().compactMap { $0["body"] as? String }
                #expect(bodies.contains("次の返信"))
                #expect(!bodies.contains("待たされた返信"), "the reply answered 503 was not kept: \(bodies)")
            }
        }
    }
}
