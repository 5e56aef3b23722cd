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
            var backoff: Duration = .milliseconds(200)
            while !Task.isCancelled {
                do {
                    let connection = try await PostgresConnection.connect(configuration: url.connectionConfiguration(), id: 0, logger: logger)
                    backoff = .milliseconds(200)
                    defer { Task { try? await connection.close() } }
                    try await connection.listen(on: EventStore.channel) { notifications in
                        // Listening now: anything committed while we were away is read once.
                        await hub.wakeAll()
                        for try await notification in notifications {
                            await hub.wake(notification.payload)
                        }
                    }
                } catch {
                    if Task.isCancelled { return }
                    logger.warning("event listener connection lost; reconnecting", metadata: ["error_type": "\(type(of: error))"])
                }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }
}
