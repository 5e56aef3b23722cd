import Foundation
import KairanCore
import KairanGateway
import KairanStore
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// The hub driven by hand, so the order of notifications is the test's to choose: no
/// listener runs, and each `wake` stands for a NOTIFY arriving. The database is real; only
/// the sockets are recording stand-ins.
@Suite struct StreamHubOrderingTests {
    final class RecordingConnection: StreamConnection {
        let eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let frames = Mutex<[String]>([])
        func encode(_ text: ByteBuffer) -> ByteBuffer { text }
        func writeOnLoop(_ encoded: ByteBuffer) { frames.withLock { $0.append(String(buffer: encoded)) } }
        func flushOnLoop() {}
        func closeOnLoop(code: UInt16, reason: String) {}

        /// Everything written so far (writes hop to the event loop; a round trip there
        /// flushes them).
        func written() async throws -> [String] {
            try await eventLoop.submit {}.get()
            return frames.withLock { $0 }
        }
    }

    /// A removal whose notification is still queued when another client starts the hub
    /// following the group itself (at a head past the removal): the group's next event must
    /// not carry the hub's membership state past the removal it never applied, and the
    /// removed member's thread gets nothing after it.
    @Test func aRemovalSkippedByAStreamStartedPastItStillEndsTheMembersThread() async throws {
        try await withApp { client, url in
            let owner = try await client.resident("owner@example.jp")
            let member = try await client.resident("member@example.jp")
            let latecomer = try await client.resident("latecomer@example.jp")
            let group = try await client.createGroup(by: owner, visibility: "private", joinPolicy: "invite")
            try await client.invite(member, to: group, by: owner)
            let (thread, _) = try await client.createThread(in: group, by: owner)

            try await TestDatabase.withClient(url) { database in
                let hub = StreamHub(database: database, clock: TestClock(), logger: TestDatabase.logger)
                let memberSocket = RecordingConnection()
                let memberSubscriber = StreamSubscriber(actor: Actor(accountID: Int64(member.id), roles: [.resident]), sessionID: 1, connection: memberSocket)
                #expect(await hub.subscribe(memberSubscriber, to: try #require(StreamName("thread:\(thread)")), after: nil) != .notFound)

                // Removed; the hub is not told yet (its notification is queued).
                #expect(try await client.send(.delete, "/v1/groups/\(group)/members/\(member.id)", token: owner.token).status == .noContent)
                // The owner's client subscribes to the group: the hub starts it at today's head.
                let ownerSubscriber = StreamSubscriber(actor: Actor(accountID: Int64(owner.id), roles: [.resident]), sessionID: 2, connection: RecordingConnection())
                _ = await hub.subscribe(ownerSubscriber, to: try #require(StreamName("group:\(group)")), after: nil)
                // Another event on the group, then its notification; then a post, and its.
                try await client.invite(latecomer, to: group, by: owner)
                await hub.wake("group:\(group)")
                try await client.post("メンバー以外には見せない", in: thread, by: owner)
                await hub.wake("thread:\(thread)")

                var frames: [String] = []
                for _ in 0..<100 {
                    frames = try await memberSocket.written()
                    if frames.contains(where: { $0.contains("\"revoked\"") }) { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(frames.contains { $0.contains("\"revoked\"") }, "the member's thread was revoked: \(frames)")
                #expect(!frames.contains { $0.contains("メンバー以外には見せない") }, "no post after the removal")
            }
        }
    }
}
