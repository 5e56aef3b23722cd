import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import KairanAPI

/// The one sweep that watches every running request: what it cancels, what it leaves alone,
/// and that it stops when nothing runs (an idle server sets no timer).
@Suite struct RunningRequestsTests {
    private let running = RunningRequests(interval: .milliseconds(10))

    /// Polls until `condition` holds (the sweep runs in its own time).
    private func eventually(_ what: String, _ condition: () -> Bool) async throws {
        for _ in 0..<500 {
            if condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("never: \(what)")
    }

    /// What a request registered with `connection` saw: whether it was cancelled, and why.
    private func request(deadline: Duration, connection: (any Channel)? = nil, running work: Duration) async -> (cancelled: Bool, verdict: RunningRequests.Verdict?) {
        let running = self.running
        return await Task {
            let id = running.begin(deadline: .now + deadline, connection: connection)
            let cancelled: Bool
            do {
                try await Task.sleep(for: work)
                cancelled = false
            } catch {
                cancelled = true
            }
            return (cancelled, running.end(id))
        }.value
    }

    @Test(.timeLimit(.minutes(1)))
    func aRequestOutOfTimeIsCancelledAndToldWhy() async throws {
        let seen = await request(deadline: .milliseconds(50), running: .seconds(20))
        #expect(seen.cancelled)
        #expect(seen.verdict == .timedOut)
    }

    @Test(.timeLimit(.minutes(1)))
    func aRequestThatEndsInTimeIsLeftAloneAndTheSweepThenStops() async throws {
        // Sweeps run meanwhile (every 10 ms): none may touch a request within its time.
        let seen = await request(deadline: .seconds(120), running: .milliseconds(100))
        #expect(!seen.cancelled)
        #expect(seen.verdict == nil)
        try await eventually("the sweep stops with nothing running") { !running.isSweeping }
        // And starts again for the next request.
        let again = await request(deadline: .milliseconds(30), running: .seconds(20))
        #expect(again.verdict == .timedOut)
        try await eventually("the sweep stops again") { !running.isSweeping }
    }

    @Test(.timeLimit(.minutes(1)))
    func aRequestWhoseClientLeftIsCancelledAndOthersRunOn() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let client = try await ClientBootstrap(group: group).connect(to: server.localAddress!).get()
        let stayed = try await ClientBootstrap(group: group).connect(to: server.localAddress!).get()
        #expect(client.isActive)
        let running = self.running
        let gone = Task { await request(deadline: .seconds(120), connection: client, running: .seconds(20)) }
        let waiting = Task { await request(deadline: .seconds(120), connection: stayed, running: .milliseconds(300)) }
        try await eventually("a request is running") { running.isSweeping }
        try await client.close()
        let seen = await gone.value
        #expect(seen.cancelled)
        #expect(seen.verdict == .clientClosed)
        let other = await waiting.value
        #expect(!other.cancelled, "a request whose client is still there runs to its end")
        #expect(other.verdict == nil)
        try await stayed.close()
        try await server.close()
        try await group.shutdownGracefully()
    }
}
