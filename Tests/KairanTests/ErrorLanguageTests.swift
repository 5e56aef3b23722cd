import Foundation
import Hummingbird
import HummingbirdTesting
import KairanCore
import Testing

/// The API's refusals speak the client's language: Japanese unless it prefers English, with
/// the same stable code either way.
@Suite struct ErrorLanguageTests {
    @Test(arguments: [
        (nil, MessageLanguage.ja),
        ("", .ja),
        ("en", .en),
        ("en-US,en;q=0.9", .en),
        ("ja-JP", .ja),
        ("ja,en;q=0.8", .ja),
        ("en;q=0.5, ja;q=0.9", .ja),
        ("fr-FR, en;q=0.3", .en),
        ("fr-FR, de;q=0.5", .ja),
        ("*", .ja),
        ("ja;q=0, *", .en),
        ("en;q=0", .ja),
        ("EN-gb;Q=1", .en),
        ("en;q=garbage", .en),
    ] as [(String?, MessageLanguage)])
    func acceptLanguageChoosesAmongJapaneseAndEnglish(header: String?, expected: MessageLanguage) {
        #expect(MessageLanguage.negotiate(header) == expected)
    }

    /// Every code a refusal is raised with in the sources has words of its own in the
    /// catalogue, so a Japanese client never falls back to the catch-all sentence.
    @Test func everyErrorCodeTheServerRaisesHasJapaneseWords() throws {
        let sources = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appending(path: "Sources")
        let pattern = try Regex(#"(?:\bcode: |sendError\(|\.conflict\(|\.invalid\(code: |\.refused\(code: |\.missing\(code: )"([a-z][a-z_0-9]*)""#)
        var codes: Set<String> = []
        let files = try #require(FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil))
        for case let file as URL in files where file.pathExtension == "swift" {
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in text.matches(of: pattern) {
                if let code = match.output[1].substring { codes.insert(String(code)) }
            }
        }
        #expect(codes.count > 80, "the scan found \(codes.count) codes; has the way errors are raised changed?")
        for code in codes.sorted() {
            #expect(ErrorText.knows(code), "no Japanese words for error code \(code)")
        }
    }

    @Test func aRefusalIsJapaneseByDefaultAndEnglishOnRequest() async throws {
        try await withApp { client, _ in
            let body = jsonObject(["email": "not an address", "password": "correct horse battery", "displayName": "山田"])
            func signUp(_ language: String?) async throws -> (code: String, message: String, field: String?, contentLanguage: String?, vary: String?) {
                var headers: HTTPFields = [.contentType: "application/json"]
                if let language { headers[.acceptLanguage] = language }
                let response = try await client.execute(uri: "/v1/accounts", method: .post, headers: headers, body: ByteBuffer(string: body))
                SpecConformance.check(.post, "/v1/accounts", response, sourceLocation: #_sourceLocation)
                #expect(response.status == .unprocessableContent)
                let error = try #require(try response.json()["error"] as? [String: Any])
                return (try #require(error["code"] as? String), try #require(error["message"] as? String), error["field"] as? String,
                        response.headers[.contentLanguage], response.headers[.vary])
            }
            let japanese = try await signUp(nil)
            #expect(japanese.code == "invalid_email" && japanese.field == "email")
            #expect(japanese.message == "メールアドレスの形式が正しくありません（例：name@example.jp）。")
            #expect(japanese.contentLanguage == "ja" && japanese.vary == "Accept-Language")
            let english = try await signUp("en-US,en;q=0.9,ja;q=0.5")
            #expect(english.code == "invalid_email" && english.field == "email")
            #expect(english.message == "email must be a mail address such as name@example.jp")
            #expect(english.contentLanguage == "en")
            #expect(try await signUp("ja-JP").message == japanese.message)
        }
    }

    /// The limit a person must keep to, a field that is missing from the body, and an
    /// unknown route are told in Japanese with their specifics.
    @Test func japaneseMessagesKeepTheSpecifics() async throws {
        try await withApp { client, _ in
            let long = String(repeating: "あ", count: Limits.displayNameMaxCharacters + 1)
            let tooLong = try await client.send(.post, "/v1/accounts", json: jsonObject(["email": "a@example.jp", "password": "correct horse battery", "displayName": long]))
            #expect(try tooLong.errorCode() == "too_long")
            #expect((try tooLong.json()["error"] as? [String: Any])?["message"] as? String == "表示名は \(Limits.displayNameMaxCharacters) 文字以内にしてください。")

            let token = try await client.registerAndLogin(email: "owner@example.jp")
            let title = String(repeating: "題", count: Content.groupNameMax + 5)
            let group = try await client.send(.post, "/v1/groups", json: jsonObject(["name": title, "kind": "community", "visibility": "public", "joinPolicy": "open"]), token: token)
            #expect(try group.errorCode() == "too_long", "\(group.text)")
            #expect((try group.json()["error"] as? [String: Any])?["message"] as? String
                    == "「名前」は \(Content.groupNameMax) 文字以内にしてください（いま \(Content.groupNameMax + 5) 文字）。")

            let missing = try await client.send(.post, "/v1/accounts", json: #"{"email": "a@example.jp"}"#)
            let error = try #require(try missing.json()["error"] as? [String: Any])
            #expect(error["code"] as? String == "bad_request" && error["field"] as? String == "password")
            #expect(error["message"] as? String == "「パスワード」がありません。指定してください。")

            let route = try await client.send(.get, "/v1/no-such-thing")
            #expect(try route.errorCode() == "not_found")
            #expect((try route.json()["error"] as? [String: Any])?["message"] as? String == "見つかりません。存在しないか、見る権限がありません。")
        }
    }
}
