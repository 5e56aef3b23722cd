import Foundation
import HummingbirdTesting
import KairanCore
import Testing

@Suite struct MentionParsingTests {
    @Test func namesEndAtSpacesAndJapanesePunctuation() {
        #expect(Mentions.names(in: "@山田太郎 明日の件、@佐藤花子、よろしく") == ["山田太郎", "佐藤花子"])
        #expect(Mentions.names(in: "＠鈴木さん！") == ["鈴木"], "the honorific is not part of the name")
        #expect(Mentions.names(in: "@a @a @b") == ["a", "b"])
        #expect(Mentions.names(in: "mail@example.jp は関係ない").isEmpty, "a mail address is not a mention")
        #expect(Mentions.names(in: "連絡は@山田太郎まで") == ["山田太郎まで"], "after Japanese text it is; only members' names match")
        #expect(Mentions.names(in: "@ だけ").isEmpty)
    }

    @Test(arguments: [
        ("@山田太郎さん、明日の件です", "山田太郎"), ("@佐藤くんもどうぞ", "佐藤"), ("@花子ちゃんのお母さんへ", "花子"),
        ("@田中様にご連絡ください", "田中"), ("@田中さまへ", "田中"), ("@鈴木先生、よろしくお願いします", "鈴木"),
        ("@高橋君が来ます", "高橋"), ("@山田太郎…", "山田太郎"), ("@山田太郎『配布物』", "山田太郎"),
    ])
    func japaneseHonorificsAndPunctuationEndAName(body: String, name: String) {
        #expect(Mentions.names(in: body) == [name])
        let many = (1...30).map { "@n\($0)" }.joined(separator: " ")
        #expect(Mentions.names(in: many).count == Mentions.maxPerPost)
    }
}

@Suite struct MentionNotificationTests {
    @Test func aMentionedMemberIsNotifiedOverRESTAndLive() async throws {
        try await withLiveApp { client, _ in
            let port = try #require(client.port)
            let author = try await client.resident("author@example.jp", name: "佐藤 花子")
            let yamada = try await client.resident("yamada@example.jp", name: "山田 太郎")
            let outsider = try await client.resident("other-yamada@example.jp", name: "山田 太郎")
            let group = try await client.createGroup(by: author)
            #expect(try await client.send(.post, "/v1/groups/\(group)/join", token: yamada.token).status == .ok)
            let (thread, _) = try await client.createThread(in: group, by: author)

            let stream = StreamClient.open(port: port, token: yamada.token)
            defer { stream.close() }
            stream.subscribe("user:\(yamada.id)")
            _ = try await stream.waitForSubscribed("user:\(yamada.id)")

            let post = try await client.post("@山田太郎さん、明日の草刈りに来られますか？ @佐藤花子", in: thread, by: author)

            let live = try await stream.wait(for: "notification") { _ in stream.eventCount == 1 }.filter { $0["type"] as? String == "event" }
            #expect(live.first?["kind"] as? String == "notification.created")
            let data = try #require((live.first?["data"] as? [String: Any])?["data"] as? [String: Any])
            #expect(data["postId"] as? Int == post)
            #expect((data["author"] as? [String: Any])?["displayName"] as? String == "佐藤 花子")

            let listed = try await client.send(.get, "/v1/notifications", token: yamada.token).items()
            #expect(listed.count == 1)
            #expect(listed.first?["read"] as? Bool == false)
            let id = try #require(listed.first?["id"] as? Int)
            #expect(try await client.send(.put, "/v1/notifications/\(id)/read", token: yamada.token).status == .noContent)
            #expect(try await client.send(.get, "/v1/notifications", token: yamada.token).items().first?["read"] as? Bool == true)
            #expect(try await client.send(.put, "/v1/notifications/\(id)/read", token: outsider.token).status == .notFound)

            // Not a member: not notified, even with the same name. Nor is the author.
            #expect(try await client.send(.get, "/v1/notifications", token: outsider.token).items().isEmpty)
            #expect(try await client.send(.get, "/v1/notifications", token: author.token).items().isEmpty)
        }
    }
}
