import Foundation
import KairanCore
import KairanServices
import KairanStore
import Logging
import ServiceLifecycle

/// Periodic housekeeping that any number of worker processes may run at once: each pass
/// claims its rows with SKIP LOCKED, so two workers never fight over the same rows.
public struct MaintenanceWorker: Service {
    let database: Database
    let clock: any WallClock
    let interval: Duration
    let logger: Logger
    /// Ended sessions are kept this long (seconds) so an audit can still see them.
    let sessionRetention: TimeInterval
    /// Live-stream events are kept this long for reconnecting clients; older gaps are
    /// refetched over REST.
    let eventRetention: TimeInterval
    /// Abandoned uploads and stored files nothing uses any more.
    let attachments: AttachmentService?

    public init(database: Database, clock: any WallClock, interval: Duration = .seconds(900),
                sessionRetention: TimeInterval = 7 * 24 * 3600, eventRetention: TimeInterval = 7 * 24 * 3600,
                attachments: AttachmentService? = nil, logger: Logger) {
        self.attachments = attachments
        self.database = database
        self.clock = clock
        self.interval = interval
        self.sessionRetention = sessionRetention
        self.eventRetention = eventRetention
        self.logger = logger
    }

    public func run() async throws {
        await runPeriodically(every: interval) { await runOnce() }
    }

    /// One pass. Public so tests can drive it without waiting for the timer. Returns the
    /// number of sessions deleted.
    @discardableResult
    public func runOnce() async -> Int {
        let now = clock.now()
        let sessionCutoff = now.addingTimeInterval(-sessionRetention)
        let eventCutoff = now.addingTimeInterval(-eventRetention)
        var total = 0
        do {
            while true {
                let deleted = try await database.withTransaction { db in
                    try await SessionStore.deleteEnded(before: sessionCutoff, limit: 1000, on: db)
                }
                total += deleted
                if deleted < 1000 { break }
            }
            if total > 0 { logger.info("deleted ended sessions", metadata: ["count": "\(total)"]) }
            while try await database.withTransaction({ db in
                try await EventStore.deleteOlder(than: eventCutoff, limit: 5000, on: db)
            }) == 5000 {}
            try await database.withTransaction { db in
                try await StreamTicketStore.deleteEnded(before: now, on: db)
            }
            try await database.withTransaction { db in
                try await ModerationStore.deleteRateCounters(before: now.addingTimeInterval(-86400), on: db)
                try await ThrottleStore.deleteOlder(than: now.addingTimeInterval(-86400), on: db)
            }
            _ = try await attachments?.collect(logger: logger)
        } catch {
            logger.warning("maintenance pass failed; will retry", metadata: ["error_type": "\(type(of: error))", "error": "\(String(describing: error).prefix(200))"])
        }
        return total
    }
}
