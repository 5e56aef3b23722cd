import Foundation
import KairanCore
import KairanStore
import Logging
import Metrics
import ServiceLifecycle

/// Publishes notices whose time has come (scheduled ones, and normal ones held over quiet
/// hours) and escalates urgent notices households have not confirmed in time. Any number
/// of workers may run it: each notice is claimed with SKIP LOCKED and handled in one
/// transaction, so a crash leaves it to the next pass, never half-published.
public struct NoticeScheduler: Service {
    let database: Database
    let clock: any WallClock
    let interval: Duration
    /// Urgent mail undelivered this long after publishing is reported.
    let urgentDeadline: TimeInterval
    let logger: Logger
    private let published = Counter(label: "kairan_notices_published_total")
    private let escalated = Counter(label: "kairan_notices_escalated_total")

    public init(database: Database, clock: any WallClock, interval: Duration = .seconds(5), urgentDeadline: TimeInterval = 900, logger: Logger) {
        self.database = database
        self.clock = clock
        self.interval = interval
        self.urgentDeadline = urgentDeadline
        self.logger = logger
    }

    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    try await Task.sleep(for: interval)
                    await tick()
                }
            }
        } catch is CancellationError {
            // Graceful shutdown: every notice is handled in its own transaction.
        }
    }

    /// One pass; public so tests drive it with their own clock. Returns how many notices
    /// were published and escalated.
    @discardableResult
    public func tick() async -> (published: Int, escalated: Int) {
        var counts = (published: 0, escalated: 0)
        do {
            while let done = try await publishNext() { counts.published += done }
            while let done = try await escalateNext() { counts.escalated += done }
        } catch {
            logger.warning("notice pass failed; will retry", metadata: ["error_type": "\(type(of: error))", "error": "\(String(describing: error).prefix(200))"])
        }
        return counts
    }

    /// Publishes one due notice; nil when none is due.
    private func publishNext() async throws -> Int? {
        let now = clock.now()
        return try await database.withTransaction { connection -> Int? in
            guard let notice = try await NoticeStore.claimDue(now: now, limit: 1, on: connection, logger: logger).first else { return nil }
            guard let organization = try await OrganizationStore.find(notice.organizationID, on: connection, logger: logger) else { return 0 }
            let result = try await NoticeStore.publish(notice, organizationName: organization.name, escalateAfterMinutes: organization.escalateAfterMinutes,
                                                       urgentDeadline: urgentDeadline, now: now, on: connection, logger: logger)
            published.increment()
            logger.info("scheduled notice published", metadata: ["notice_id": "\(notice.id)", "guardians": "\(result.guardians)", "mail_jobs": "\(result.mailJobs)"])
            return 1
        }
    }

    /// Escalates one urgent notice; nil when none is due.
    private func escalateNext() async throws -> Int? {
        let now = clock.now()
        return try await database.withTransaction { connection -> Int? in
            guard let notice = try await NoticeStore.claimEscalations(now: now, limit: 1, on: connection, logger: logger).first else { return nil }
            let name = try await OrganizationStore.find(notice.organizationID, on: connection, logger: logger)?.name ?? ""
            let (households, mails) = try await NoticeStore.escalate(notice, organizationName: name, urgentDeadline: urgentDeadline, now: now,
                                                                     on: connection, logger: logger)
            let counts = try await NoticeRecipientStore.counts(notice: notice.id, messageID: nil, on: connection, logger: logger)
            try await EventStore.append(
                EventStore.noticeStream(notice.id), kind: "notice.escalated",
                payload: NoticeProgressEvent(noticeId: notice.id, householdId: nil, guardianId: nil, households: counts.households,
                                             confirmedHouseholds: counts.confirmedHouseholds, openedGuardians: counts.opened),
                now: now, on: connection, logger: logger)
            escalated.increment()
            logger.info("urgent notice escalated", metadata: ["notice_id": "\(notice.id)", "unconfirmed_households": "\(households)", "mails": "\(mails)"])
            return 1
        }
    }
}
