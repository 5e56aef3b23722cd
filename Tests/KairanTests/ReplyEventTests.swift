import Foundation
import KairanCore
import Testing

/// A reply's `post.created` event says what the reply's answer says, whichever way it was
/// written: most replies in one statement (`ThreadStore.insertAndPublishReply`, the event
/// encoded before the post had its id), one that mentions someone in a transaction.
@Suite struct ReplyEventTests {
    /// One JSON text per value: keys sorted.
    func canonical(_ value: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self)
    }

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
}
