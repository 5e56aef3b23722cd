import Foundation
import KairanCore
import KairanStore
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// One LISTEN connection per process. Each notification names a stream; the hub reads the
/// rows itself. When the connection drops, it reconnects and wakes every stream, so
/// whatever was committed meanwhile is caught up from the offsets.
public struct NotificationListener: Service {
    let url: DatabaseURL
    let hub: StreamHub
    let clock: any WallClock
    let logger: Logger

    public init(url: DatabaseURL, hub: StreamHub, clock: any WallClock, logger: Logger) {
        self.url = url
        self.hub = hub
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        // Notifications are collected while the hub is busy and handed over together: a
        // transaction that wrote to hundreds of streams (a notice to every guardian) costs
        // one read, not hundreds.
        let pending = PendingStreams()
        let (signals, signal) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in signals {
                        let (names, endedSessions) = pending.take()
                        // Session ends first: an event committed after a logout must not
                        // reach that session's sockets, even when both arrived together.
                        if !endedSessions.isEmpty { await hub.endSessions(endedSessions) }
                        if names.count == 1 { await hub.wake(names[0]) } else if !names.isEmpty { await hub.wake(names) }
                    }
                }
                await url.listenUntilCancelled(on: EventStore.channel, logger: logger) {
                    await hub.recheckSessions(now: clock.now())
                    await hub.wakeAll()
                } onNotification: { payload in
                    if let session = SessionStore.endedSession(in: payload) {
                        pending.endSession(session)
                    } else {
                        pending.add(payload)
                    }
                    signal.yield()
                }
                signal.finish()
                await group.waitForAll()
            }
        }
    }
}

/// Stream names and ended sessions notified but not yet handed to the hub.
private final class PendingStreams: Sendable {
    private let state = Mutex<(names: [String], endedSessions: [Int64])>(([], []))

    func add(_ name: String) { state.withLock { $0.names.append(name) } }

    func endSession(_ id: Int64) { state.withLock { $0.endedSessions.append(id) } }

    func take() -> (names: [String], endedSessions: [Int64]) {
        state.withLock { state in
            defer {
                state.names.removeAll(keepingCapacity: true)
                state.endedSessions.removeAll(keepingCapacity: true)
            }
            return state
        }
    }
}
