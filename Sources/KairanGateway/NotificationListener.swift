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
                        let names = pending.take()
                        if names.count == 1 { await hub.wake(names[0]) } else if !names.isEmpty { await hub.wake(names) }
                    }
                }
                await url.listenUntilCancelled(on: EventStore.channel, logger: logger) {
                    await hub.recheckSessions(now: clock.now())
                    await hub.wakeAll()
                } onNotification: { payload in
                    if let session = SessionStore.endedSession(in: payload) {
                        // At once, not queued behind a wake whose read is in flight: the hub
                        // is reentrant, so its sockets are gone before that read returns
                        // (events committed after the logout are in that read at the
                        // earliest; see README, "Live stream").
                        await hub.endSessions([session])
                    } else {
                        pending.add(payload)
                        signal.yield()
                    }
                }
                signal.finish()
                await group.waitForAll()
            }
        }
    }
}

/// Stream names notified but not yet handed to the hub.
private final class PendingStreams: Sendable {
    private let names = Mutex<[String]>([])

    func add(_ name: String) { names.withLock { $0.append(name) } }

    func take() -> [String] {
        names.withLock { names in
            defer { names.removeAll(keepingCapacity: true) }
            return names
        }
    }
}
