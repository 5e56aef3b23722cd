import Foundation
import KairanCore
import KairanServices
import KairanStore
import Logging
import ServiceLifecycle

/// Sends group events' day-before reminders when they fall due. Sleeps until the earliest
/// one (or a NOTIFY that an event's reminder time was set), like the other workers; each
/// event is claimed with SKIP LOCKED and sent in one transaction, so several workers never
/// remind twice and a crash leaves the reminder to the next pass.
public struct EventReminderWorker: Service {
    let events: GroupEventService
    let listenURL: DatabaseURL?
    let clock: any WallClock
    let interval: Duration
    let logger: Logger
    /// Passes of the run loop, for the idle test.
    public let passes = PassCounter()

    public init(events: GroupEventService, listenURL: DatabaseURL? = nil, clock: any WallClock, interval: Duration = .seconds(300), logger: Logger) {
        self.events = events
        self.listenURL = listenURL
        self.clock = clock
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await runWokenPasses(
                listeningTo: GroupEventStore.reminderChannel, on: listenURL, safetyInterval: interval, firstWaitWithoutListener: .seconds(1),
                clock: clock, logger: logger, passes: passes
            ) {
                await tick()
            } nextDue: {
                do {
                    return try await events.nextReminder()
                } catch {
                    if !Task.isCancelled { logger.warning("reading the next event reminder failed; will retry", metadata: ["error_type": "\(type(of: error))"]) }
                    return nil
                }
            }
        }
    }

    /// One pass; public so tests drive it with their own clock. Returns how many events'
    /// reminders were handled.
    @discardableResult
    public func tick() async -> Int {
        do {
            return try await events.sendDueReminders(logger: logger)
        } catch {
            // Nothing was marked sent: the next pass (after the loop's back-off) tries again.
            if !Task.isCancelled { logger.error("event reminder pass failed; will retry", metadata: ["error_type": "\(type(of: error))"]) }
            return 0
        }
    }
}
