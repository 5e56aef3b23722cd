import Foundation
import Hummingbird
import HummingbirdTesting
import KairanServices
import Testing

@testable import KairanServer

/// The web pages' sessions and form tokens, through the router (the browser tests in
/// tests-web drive the same pages in Chromium).
@Suite struct WebPagesTests {
    /// A browser's cookie jar and its form token, by hand.
    struct Browser {
        var cookies: [String: String] = [:]
        var token = ""

        var cookieHeader: String { cookies.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; ") }

        mutating func get(_ path: String, _ client: any TestClientProtocol) async throws -> TestResponse {
            var headers: HTTPFields = [:]
            if !cookies.isEmpty { headers[.cookie] = cookieHeader }
            let response = try await client.execute(uri: path, method: .get, headers: headers, body: nil)
            take(response)
            if let range = response.text.range(of: #"name="csrf-token" content="([^"]+)""#, options: .regularExpression) {
                token = String(response.text[range].split(separator: "\"")[3])
            }
            return response
        }

        mutating func post(_ path: String, _ fields: [(String, String)], _ client: any TestClientProtocol, withToken: Bool = true) async throws -> TestResponse {
            var headers: HTTPFields = [:]
            headers[.contentType] = "application/x-www-form-urlencoded"
            if !cookies.isEmpty { headers[.cookie] = cookieHeader }
            let all = (withToken ? [("csrf", token)] : []) + fields
            let body = all.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }.joined(separator: "&")
            let response = try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body))
            take(response)
            return response
        }

        mutating func take(_ response: TestResponse) {
            for header in response.headers[values: .setCookie] {
                let pair = header.split(separator: ";")[0].split(separator: "=", maxSplits: 1)
                cookies[String(pair[0])] = pair.count > 1 ? String(pair[1]) : ""
                if header.contains("Max-Age=0") { cookies[String(pair[0])] = nil }
            }
        }
    }

    @Test func behindHTTPSCookiesAreSecureAndTheCookieIsTheSameSessionAsABearerToken() async throws {
        try await withApp(configure: { $0.mail.identity.publicURL = "https://kairan.town.example.jp" }) { client, _ in
            _ = try await client.registerAndLogin(email: "web@example.jp", name: "ウェブ 太郎")
            var browser = Browser()
            let page = try await browser.get("/login", client)
            #expect(page.status == .ok)
            // Behind https the cookies carry the __Host- prefix (this host only, https only).
            #expect(page.headers[values: .setCookie].first { $0.hasPrefix("__Host-kairan_csrf=") }?.contains("Secure") == true)
            let login = try await browser.post("/login", [("email", "web@example.jp"), ("password", "correct horse battery"), ("next", "/me")], client)
            #expect(login.status == .seeOther)
            #expect(login.headers[.location] == "/me")
            let cookie = try #require(login.headers[values: .setCookie].first { $0.hasPrefix("__Host-kairan_session=") })
            for flag in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] { #expect(cookie.contains(flag), "\(flag) missing: \(cookie)") }

            let me = try await browser.get("/me", client)
            #expect(me.status == .ok)
            #expect(me.text.contains("ウェブ 太郎"))
            // The cookie holds the session itself: the API takes it as a bearer token.
            let api = try await client.send(.get, "/v1/me", token: browser.cookies["__Host-kairan_session"])
            #expect(api.status == .ok)

            // Logging out on the web ends that session for the API too.
            let session = try #require(browser.cookies["__Host-kairan_session"])
            let seedBefore = browser.cookies["__Host-kairan_csrf"]
            let out = try await browser.post("/logout", [], client)
            #expect(out.status == .seeOther)
            #expect(browser.cookies["__Host-kairan_session"] == nil)
            #expect(browser.cookies["__Host-kairan_csrf"] != seedBefore, "the form cookie is replaced at logout")
            #expect(try await client.send(.get, "/v1/me", token: session).status == .unauthorized)
        }
    }

    @Test func formsWithoutTheTokenOrFromAnotherSiteAreRefusedAndNothingIsWritten() async throws {
        try await withApp { client, _ in
            var browser = Browser()
            _ = try await browser.get("/signup", client)
            let fields = [("displayName", "偽 太郎"), ("email", "forged@example.jp"), ("password", "correct horse battery")]
            let withoutToken = try await browser.post("/signup", fields, client, withToken: false)
            #expect(withoutToken.status == .forbidden)
            #expect(withoutToken.text.contains("送信できませんでした"))
            var otherBrowser = Browser()
            _ = try await otherBrowser.get("/signup", client)
            // A token made for another browser's cookie does not fit this one.
            browser.token = otherBrowser.token
            #expect(try await browser.post("/signup", fields, client).status == .forbidden)

            var headers: HTTPFields = [:]
            headers[.contentType] = "application/x-www-form-urlencoded"
            headers[.cookie] = otherBrowser.cookieHeader
            headers[.origin] = "https://evil.example"
            let crossSite = try await client.execute(uri: "/signup", method: .post, headers: headers,
                                                     body: ByteBuffer(string: "csrf=\(otherBrowser.token)&displayName=x&email=cross%40example.jp&password=correct+horse+battery"))
            #expect(crossSite.status == .forbidden)

            // None of them made an account.
            for email in ["forged@example.jp", "cross@example.jp"] {
                let login = try await client.send(.post, "/v1/sessions", json: jsonObject(["email": email, "password": "correct horse battery"]))
                #expect(login.status == .unauthorized)
            }
        }
    }

    @Test func loginNeverRedirectsToAnotherSite() async throws {
        try await withApp { client, _ in
            _ = try await client.registerAndLogin(email: "redirect@example.jp")
            // A tab or newline is dropped by browsers before they read a URL: "/\t/evil" is "//evil".
            for next in ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "/\t/evil.example", "/\n/evil.example"] {
                var browser = Browser()
                _ = try await browser.get("/login", client)
                let login = try await browser.post("/login", [("email", "redirect@example.jp"), ("password", "correct horse battery"), ("next", next)], client)
                #expect(login.status == .seeOther)
                #expect(login.headers[.location] == "/", "next=\(next) led to \(login.headers[.location] ?? "nil")")
            }
        }
    }

    @Test func aFormTokenShownToOneLoginDoesNotFitAnother() async throws {
        try await withApp { client, _ in
            _ = try await client.registerAndLogin(email: "first@example.jp")
            var browser = Browser()
            _ = try await browser.get("/login", client)
            let anonymousToken = browser.token
            _ = try await browser.post("/login", [("email", "first@example.jp"), ("password", "correct horse battery")], client)
            // The login replaced the form cookie: a token from before it no longer fits.
            browser.token = anonymousToken
            #expect(try await browser.post("/groups", [("name", "古いトークン"), ("kind", "community")], client).status == .forbidden)
            _ = try await browser.get("/groups/new", client)
            #expect(try await browser.post("/groups", [("name", "新しいトークン"), ("kind", "community")], client).status == .seeOther)
        }
    }

    @Test func aResidentGetsNoAlertComposerNotEvenItsPreview() async throws {
        try await withApp { client, _ in
            _ = try await client.registerAndLogin(email: "jumin@example.jp")
            var browser = Browser()
            _ = try await browser.get("/login", client)
            _ = try await browser.post("/login", [("email", "jumin@example.jp"), ("password", "correct horse battery")], client)
            #expect(try await browser.get("/alerts/new", client).status == .forbidden)
            _ = try await browser.get("/", client)
            let preview = try await browser.post("/alerts", [("preview", "1"), ("category", "disaster"), ("subject", "偽"), ("body", "偽の警報")], client)
            #expect(preview.status == .forbidden)
            #expect(!preview.text.contains("プレビュー"))
        }
    }

    @Test func aRefusedReplyComesBackWithWhatWasWrittenAndWhy() async throws {
        try await withApp { client, url in
            let owner = try await client.resident("owner@example.jp")
            let group = try await client.createGroup(by: owner)
            let (thread, _) = try await client.createThread(in: group, by: owner)
            _ = try await client.resident("mod@example.jp")
            try await grantRole("town_moderator", to: "mod@example.jp", in: url)
            let moderator = try await client.login(email: "mod@example.jp", password: "correct horse battery")
            let word = try await client.send(.post, "/v1/moderation/watched-words", json: #"{"pattern":"激安","action":"block"}"#, token: moderator)
            try #require(word.status == .created, "\(word.text)")

            var browser = Browser()
            _ = try await browser.get("/login", client)
            _ = try await browser.post("/login", [("email", "owner@example.jp"), ("password", "correct horse battery")], client)
            _ = try await browser.get("/threads/\(thread)", client)
            // A rule of the input (empty) and a rule of the use case (a blocked word): both keep the text.
            let empty = try await browser.post("/threads/\(thread)/posts", [("body", "   ")], client)
            #expect(empty.status == .unprocessableContent)
            #expect(empty.text.contains("「本文」を入力してください"))
            let blocked = try await browser.post("/threads/\(thread)/posts", [("body", "激安の屋根修理")], client)
            #expect(blocked.status == .unprocessableContent)
            #expect(blocked.text.contains("この内容は投稿できません"))
            #expect(blocked.text.contains(">激安の屋根修理</textarea>"))
            let posts = try await client.send(.get, "/v1/threads/\(thread)/posts", token: owner.token)
            #expect((try posts.json()["items"] as? [Any])?.count == 1, "nothing was posted")
        }
    }

    @Test func pagesNeedALoginAndSayRefusalsInJapanese() async throws {
        try await withApp { client, _ in
            var browser = Browser()
            let groups = try await browser.get("/groups", client)
            #expect(groups.status == .seeOther)
            #expect(groups.headers[.location] == "/login?next=%2Fgroups")
            let token = try await client.registerAndLogin(email: "owner@example.jp")
            let created = try await client.send(.post, "/v1/groups", json: #"{"kind":"community","name":"非公開の会","visibility":"private","joinPolicy":"invite"}"#, token: token)
            let id = try #require(created.json()["id"] as? Int)

            _ = try await client.registerAndLogin(email: "outsider@example.jp")
            _ = try await browser.get("/login", client)
            _ = try await browser.post("/login", [("email", "outsider@example.jp"), ("password", "correct horse battery")], client)
            let hidden = try await browser.get("/groups/\(id)", client)
            #expect(hidden.status == .notFound)
            #expect(hidden.text.contains("ページが見つかりません"))
            #expect(hidden.headers[.contentType] == "text/html; charset=utf-8")
            let csp = try #require(hidden.headers[.init("Content-Security-Policy")!])
            #expect(!csp.contains("unsafe-inline"))
            // Not a number where an id belongs: the same page, not the API's JSON 400.
            let junk = try await browser.get("/groups/abc", client)
            #expect(junk.status == .notFound)
            #expect(junk.headers[.contentType] == "text/html; charset=utf-8")
            // An address that does not exist is a page too, but the API's own stay JSON.
            let nowhere = try await browser.get("/no/such/page", client)
            #expect(nowhere.status == .notFound)
            #expect(nowhere.text.contains("ページが見つかりません"))
            let api = try await client.send(.get, "/v1/no-such-route")
            #expect(api.status == .notFound)
            #expect(try api.errorCode() == "not_found")
        }
    }
}
