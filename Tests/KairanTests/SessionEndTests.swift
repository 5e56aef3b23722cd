import Foundation
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
