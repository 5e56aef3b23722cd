import Foundation
import HummingbirdTesting
import HummingbirdWSClient
import NIOWebSocket
import Testing

@testable import KairanServer

/// Logging out ends stream access: the tickets the session took and the sockets it opened.
@Suite struct SessionEndTests {
    @Test func loggingOutClosesTheSessionsSocketsAndVoidsItsTickets() async throws {
        try await withLiveApp { client, _ in
            let port = try #require(client.port)
            let owner = try await client.resident("owner@example.jp")
            let group = try await client.createGroup(by: owner, visibility: "private", joinPolicy: "invite")
            let (thread, _) = try await client.createThread(in: group, by: owner)
            // The same person on a second device: that login stays.
            let otherDevice = try await client.login(email: "owner@example.jp", password: "correct horse battery")

            let ticketResponse = try await client.send(.post, "/v1/stream/tickets", token: owner.token)
            let ticket = try #require(ticketResponse.json()["ticket"] as? String)
            let loggedOut = StreamClient.open(port: port, token: owner.token)
            defer { loggedOut.close() }
            let kept = StreamClient.open(port: port, token: otherDevice)
            defer { kept.close() }
            for socket in [loggedOut, kept] {
                socket.subscribe("thread:\(thread)")
                #expect(try await socket.waitForSubscribed("thread:\(thread)")["type"] as? String == "subscribed")
            }

            #expect(try await client.send(.delete, "/v1/sessions/current", token: owner.token).status == .noContent)
            await loggedOut.ended()
            #expect(loggedOut.closeCode.withLock { $0 } == .policyViolation, "closed with 1008")

            await #expect(throws: WebSocketClientError.self, "a ticket taken before logout no longer opens the stream") {
                try await StreamClient().run(port: port, path: "/v1/stream?ticket=\(ticket)")
            }

            // The other device still gets the private group's posts; the closed socket got
            // nothing after its logout.
            try await client.post("ログアウト後の投稿", in: thread, by: Resident(token: otherDevice, id: owner.id))
            try await kept.wait(for: "the post on the other device") { frames in
                frames.contains { ($0["data"] as? [String: Any])?["body"] as? String == "ログアウト後の投稿" }
            }
            #expect(!loggedOut.events().contains { ($0["data"] as? [String: Any])?["body"] as? String == "ログアウト後の投稿" })
        }
    }

    @Test func aSocketOpenedWithATicketClosesWhenItsSessionEndsOnAnotherInstance() async throws {
        try await TestDatabase.withFreshDatabase { url in
            try await serveLive(url: url) { first in
                try await serveLive(url: url) { second in
                    let owner = try await first.resident("owner@example.jp")
                    let ticket = try #require(try await first.send(.post, "/v1/stream/tickets", token: owner.token).json()["ticket"] as? String)
                    // The socket is on the second instance; the logout goes through the first.
                    let socket = StreamClient.open(port: try #require(second.port), path: "/v1/stream?ticket=\(ticket)")
                    defer { socket.close() }
                    socket.subscribe("user:\(owner.id)")
                    #expect(try await socket.waitForSubscribed("user:\(owner.id)")["type"] as? String == "subscribed")
                    #expect(try await first.send(.delete, "/v1/sessions/current", token: owner.token).status == .noContent)
                    await socket.ended()
                    #expect(socket.closeCode.withLock { $0 } == .policyViolation)
                }
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aSocketClosesWhenItsSessionExpires() async throws {
        // Logins last 2 s here: the socket must not outlive its session.
        try await withLiveApp(configure: { $0.sessionLifetime = 2 }) { client, _ in
            let port = try #require(client.port)
            let resident = try await client.resident("taro@example.jp")
            let socket = StreamClient.open(port: port, token: resident.token)
            defer { socket.close() }
            socket.subscribe("user:\(resident.id)")
            #expect(try await socket.waitForSubscribed("user:\(resident.id)")["type"] as? String == "subscribed")
            await socket.ended()
            #expect(socket.closeCode.withLock { $0 } == .policyViolation, "closed with 1008 at the session's expiry")
        }
    }
}

/// What a bearer token opens, and what ends it.
@Suite struct SessionTokenTests {
    @Test func tokensThatExpiredWereRevokedTruncatedOrAlteredOpenNothing() async throws {
        let clock = TestClock()
        try await withLiveApp(clock: clock) { client, _ in
            let taro = try await client.resident("taro@example.jp", name: "山田 太郎")
            let hanako = try await client.resident("hanako@example.jp", name: "佐藤 花子")
            func me(_ token: String?) async throws -> (status: Int, id: Int?) {
                let response = try await client.send(.get, "/v1/me", token: token)
                return (Int(response.status.code), response.status == .ok ? try response.json()["id"] as? Int : nil)
            }
            #expect(try await me(taro.token) == (200, taro.id))
            #expect(try await me(hanako.token) == (200, hanako.id), "each token is its own person")
            var altered = Array(taro.token)
            altered[altered.count / 2] = altered[altered.count / 2] == "A" ? "B" : "A"
            for (what, token) in [("truncated", String(taro.token.dropLast())), ("one character changed", String(altered)),
                                  ("another's with a suffix", hanako.token + "x"), ("empty", "")] {
                let answer = try await client.send(.get, "/v1/me", token: token)
                #expect(answer.status == .unauthorized, "\(what)")
                #expect(["invalid_token", "unauthenticated"].contains(try answer.errorCode()), "\(what)")
                #expect(answer.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true, "\(what): says how to authenticate")
            }
            // Logged out: gone.
            let second = try await client.login(email: "taro@example.jp", password: "correct horse battery")
            #expect(try await client.send(.delete, "/v1/sessions/current", token: second).status == .noContent)
            #expect(try await me(second).status == 401)
            #expect(try await me(taro.token).status == 200, "the other session of the same person stays")
            // Expired: the default login lasts 30 days.
            clock.advance(by: 30 * 86_400 + 1)
            #expect(try await me(taro.token).status == 401)
            #expect(try await me(hanako.token).status == 401)
        }
    }

    @Test func changingThePasswordEndsEveryOtherSessionItsTicketsAndItsSockets() async throws {
        try await withLiveApp { client, _ in
            let port = try #require(client.port)
            let taro = try await client.resident("taro@example.jp")
            let phone = try await client.login(email: "taro@example.jp", password: "correct horse battery")
            let ticket = try #require(try await client.send(.post, "/v1/stream/tickets", token: phone).json()["ticket"] as? String)
            let socket = StreamClient.open(port: port, token: phone)
            defer { socket.close() }
            socket.subscribe("user:\(taro.id)")
            _ = try await socket.waitForSubscribed("user:\(taro.id)")
            func change(_ current: String, _ new: String, token: String) async throws -> TestResponse {
                try await client.send(.put, "/v1/me/password", json: jsonObject(["currentPassword": current, "newPassword": new]), token: token)
            }

            let wrong = try await change("not my password", "a much better passphrase", token: taro.token)
            #expect(wrong.status == .unprocessableContent)
            #expect(try wrong.errorCode() == "wrong_password")
            #expect(try wrong.json()["error"].flatMap { ($0 as? [String: Any])?["field"] as? String } == "currentPassword")
            let short = try await change("correct horse battery", "short", token: taro.token)
            #expect(try short.errorCode() == "too_short")
            #expect(try short.json()["error"].flatMap { ($0 as? [String: Any])?["field"] as? String } == "newPassword")
            #expect(try await client.send(.get, "/v1/me", token: phone).status == .ok, "a refused change ends nothing")

            #expect(try await change("correct horse battery", "a much better passphrase", token: taro.token).status == .noContent)
            #expect(try await client.send(.get, "/v1/me", token: taro.token).status == .ok, "the session that changed it goes on")
            #expect(try await client.send(.get, "/v1/me", token: phone).status == .unauthorized, "every other session ends")
            await socket.ended()
            #expect(socket.closeCode.withLock { $0 } == .policyViolation, "its socket closes with 1008")
            await #expect(throws: WebSocketClientError.self, "its ticket opens nothing") {
                try await StreamClient().run(port: port, path: "/v1/stream?ticket=\(ticket)")
            }
            let old = try await client.send(.post, "/v1/sessions", json: jsonObject(["email": "taro@example.jp", "password": "correct horse battery"]))
            #expect(old.status == .unauthorized, "the old password no longer logs in")
            let new = try await client.send(.post, "/v1/sessions", json: jsonObject(["email": "taro@example.jp", "password": "a much better passphrase"]))
            #expect(new.status == .created)
        }
    }
}
