import Foundation
import HummingbirdTesting
import KairanCore
import Testing

@Suite struct MentionParsingTests {
    @Test func tokensEndAtSpacesAndJapanesePunctuation() {
        #expect(Mentions.tokens(in: "@山田太郎 明日の件、@佐藤花子、よろしく") == ["山田太郎", "佐藤花子"])
        #expect(Mentions.tokens(in: "＠鈴木さん！") == ["鈴木さん"])
        #expect(Mentions.tokens(in: "@a @a @b") == ["a", "b"])
        #expect(Mentions.tokens(in: "mail@example.jp は関係ない").isEmpty, "a mail address is not a mention")
        #expect(Mentions.tokens(in: "@ だけ").isEmpty)
        let many = (1...30).map { "@n\($0)" }.joined(separator: " ")
        #expect(Mentions.tokens(in: many).count == Mentions.maxPerPost)
        #expect(Mentions.tokens(in: "@" + String(repeating: "名", count: 200)).first?.count == Mentions.maxTokenCharacters)
    }

    /// Members' names (spaces removed) in a group where the tests below are written.
    static let members = ["山田太郎", "佐藤", "花子", "田中", "鈴木", "高橋", "田中君子", "山田"]

    @Test(arguments: [
        ("@山田太郎さん、明日の件です", "山田太郎"), ("@佐藤くんもどうぞ", "佐藤"), ("@花子ちゃんのお母さんへ", "花子"),
        ("@田中様にご連絡ください", "田中"), ("@田中さまへ", "田中"), ("@鈴木先生、よろしくお願いします", "鈴木"),
        ("@高橋君が来ます", "高橋"), ("@山田太郎…", "山田太郎"), ("@山田太郎『配布物』", "山田太郎"),
        ("@田中君子さん、お願いします", "田中君子"), ("@田中君子", "田中君子"), ("@田中殿", "田中"),
    ])
    func japaneseHonorificsAndPunctuationEndAName(body: String, name: String) {
        let tokens = Mentions.tokens(in: body)
        #expect(tokens.count == 1)
        #expect(tokens.flatMap { Mentions.resolve($0, among: Self.members) } == [name])
    }

    @Test func textRightAfterANameWithoutAnHonorificNamesNobody() {
        #expect(Mentions.resolve("山田太郎まで", among: Self.members).isEmpty, "連絡は@山田太郎まで")
        #expect(Mentions.resolve("田中君子", among: ["田中"]) == ["田中"], "without a member 田中君子, 田中 with 君 after it")
        #expect(Mentions.resolve("山田", among: ["山田", "山田", "山田太郎"]) == ["山田"], "namesakes are all meant")
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

    /// Two members whose names begin alike: each mention reaches the one it names.
    @Test func theLongestMembersNameIsTheOneMentioned() async throws {
        try await withApp { client, _ in
            let author = try await client.resident("author@example.jp", name: "佐藤 花子")
            let kimiko = try await client.resident("kimiko@example.jp", name: "田中 君子")
            let tanaka = try await client.resident("tanaka@example.jp", name: "田中")
            let group = try await client.createGroup(by: author)
            for member in [kimiko, tanaka] {
                #expect(try await client.send(.post, "/v1/groups/\(group)/join", token: member.token).status == .ok)
            }
            let (thread, _) = try await client.createThread(in: group, by: author)
            _ = try await client.post("@田中君子さん、名簿をお願いします", in: thread, by: author)
            #expect(try await client.send(.get, "/v1/notifications", token: kimiko.token).items().count == 1)
            #expect(try await client.send(.get, "/v1/notifications", token: tanaka.token).items().isEmpty)
            _ = try await client.post("@田中君が来ます", in: thread, by: author)
            #expect(try await client.send(.get, "/v1/notifications", token: tanaka.token).items().count == 1)
            #expect(try await client.send(.get, "/v1/notifications", token: kimiko.token).items().count == 1)
        }
    }
}
