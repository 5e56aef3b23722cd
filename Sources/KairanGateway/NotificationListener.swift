import Foundation
import KairanStore
import Logging
import PostgresNIO
import ServiceLifecycle

/// One LISTEN connection per process. Each notification names a stream; the hub reads the
/// rows itself. When the connection drops, it reconnects and wakes every stream, so
/// whatever was committed meanwhile is caught up from the offsets.
public struct NotificationListener: Service {
    let url: DatabaseURL
    let hub: StreamHub
    let logger: Logger

    public init(url: DatabaseURL, hub: StreamHub, logger: Logger) {
        self.url = url
        self.hub = hub
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await url.listenUntilCancelled(on: EventStore.channel, logger: logger) {
                await hub.wakeAll()
            } onNotification: { stream in
                await hub.wake(stream)
            }
        }
    }
}
