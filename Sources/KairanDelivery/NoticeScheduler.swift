import Foundation
import KairanCore
import KairanStore
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle

/// Publishes notices whose time has come (scheduled ones, and normal ones held over quiet
/// hours) and escalates urgent notices households have not confirmed in time. Any number
/// of workers may run it: each notice is claimed with SKIP LOCKED and handled in one
/// transaction, so a crash leaves it to the next pass, never half-published.
public struct NoticeScheduler: Service {
    let database: Database
    /// For the LISTEN connection that wakes the scheduler when a notice is scheduled; nil:
    /// the safety timer alone.
    let listenURL: DatabaseURL?
    let clock: any WallClock
    /// Longest sleep: the scheduler sleeps until the earliest release or escalation time,
    /// and a NOTIFY wakes it when that changes.
    let interval: Duration
    /// Urgent mail undelivered this long after publishing is reported.
    let urgentDeadline: TimeInterval
    let logger: Logger
    /// Passes of the run loop, for the idle test.
    public let passes = PassCounter()
    private let published = Counter(label: "kairan_notices_published_total")
    private let escalated = Counter(label: "kairan_notices_escalated_total")
    private let postponeFailures = Counter(label: "kairan_notice_postpone_failures_total")

    public init(database: Database, listenURL: DatabaseURL? = nil, clock: any WallClock, interval: Duration = .seconds(60),
                urgentDeadline: TimeInterval = 900, logger: Logger) {
        self.database = database
        self.listenURL = listenURL
        self.clock = clock
        self.interval = interval
        self.urgentDeadline = urgentDeadline
        self.logger = logger
    }

    public func run() async throws {
        // Graceful shutdown cancels the loop; each notice is its own transaction.
        await cancelWhenGracefulShutdown {
            await runWokenPasses(
                listeningTo: NoticeStore.schedulerChannel, on: listenURL, safetyInterval: interval, firstWaitWithoutListener: .seconds(1),
                clock: clock, logger: logger, passes: passes
            ) {
                let counts = await tick()
                return counts.published + counts.escalated
            } nextDue: {
                await nextDue()
            }
        }
    }

    private func nextDue() async -> Date? {
        do {
            return try await database.withConnection { db in
                try await NoticeStore.nextDue(on: db)
            }
        } catch {
            if !Task.isCancelled {
                logger.warning("reading the next notice due failed; will retry", metadata: ["error_type": "\(type(of: error))"])
            }
            return nil
        }
    }

    /// One pass; public so tests drive it with their own clock. Returns how many notices
    /// were published and escalated.
    @discardableResult
    public func tick() async -> (published: Int, escalated: Int) {
        var counts = (published: 0, escalated: 0)
        for escalation in [false, true] {
            while true {
                let now = clock.now()
                let ids: [NoticeID]
                do {
                    ids = try await database.withConnection { db in
                        escalation ? try await NoticeStore.escalationIDs(now: now, limit: 50, on: db)
                                   : try await NoticeStore.dueIDs(now: now, limit: 50, on: db)
                    }
                } catch {
                    logger.warning("notice pass failed; will retry", metadata: ["error_type": "\(type(of: error))"])
                    return counts
                }
                var handled = 0
                for id in ids where await handle(id, escalation: escalation, now: now) {
                    handled += 1
                    if escalation { counts.escalated += 1 } else { counts.published += 1 }
                }
                // Nothing left, or only notices another worker holds or that failed and
                // were postponed: the next pass looks again.
                if handled == 0 { break }
            }
        }
        return counts
    }

    /// Publishes or escalates one notice in its own transaction. A failure postpones that
    /// notice alone (with a growing pause), so the next pass goes on with the others.
    private func handle(_ id: NoticeID, escalation: Bool, now: Date) async -> Bool {
        do {
            return try await database.withTransaction { db -> Bool in
                // Nil: another worker has it, or it changed meanwhile.
                guard let notice = try await NoticeStore.lockDue(id, escalation: escalation, now: now, on: db) else { return false }
                // Thrown, not skipped: a notice left due that no pass can handle would keep
                // the scheduler backing off and delay every other notice.
                guard let organization = try await OrganizationStore.find(notice.organizationID, on: db) else {
                    throw OrganizationMissing()
                }
                if escalation {
                    try await escalate(notice, organization: organization, now: now, on: db)
                } else {
                    let result = try await NoticeStore.publish(
                        notice, organizationName: organization.name, escalateAfterMinutes: organization.escalateAfterMinutes,
                        urgentDeadline: urgentDeadline, now: now, on: db)
                    published.increment()
                    logger.info("scheduled notice published", metadata: ["notice_id": "\(notice.id)", "guardians": "\(result.guardians)", "mail_jobs": "\(result.mailJobs)"])
                }
                return true
            }
        } catch {
            logger.error("notice could not be handled; postponed", metadata: [
                "notice_id": "\(id)", "escalation": "\(escalation)", "error_type": "\(type(of: error))"])
            do {
                try await database.withTransaction { db in
                    try await NoticeStore.postponeAfterFailure(id, escalation: escalation, now: now, on: db)
                }
            } catch {
                // The notice stays due: the scheduler backs off between fruitless passes, so
                // it is tried again without spinning.
                postponeFailures.increment()
                logger.error("postponing a failed notice failed too", metadata: ["notice_id": "\(id)", "error_type": "\(type(of: error))"])
            }
            return false
        }
    }

    struct OrganizationMissing: Error {}

    private func escalate(_ notice: NoticeRecord, organization: OrganizationRecord, now: Date, on db: DatabaseConnection) async throws {
        let (households, mails) = try await NoticeStore.escalate(notice, organizationName: organization.name, urgentDeadline: urgentDeadline, now: now,
                                                                 on: db)
        let counts = try await NoticeRecipientStore.counts(notice: notice.id, messageID: nil, on: db)
        try await EventStore.append(
            EventStore.noticeStream(notice.id), kind: "notice.escalated",
            payload: NoticeProgressEvent(noticeId: notice.id, householdId: nil, guardianId: nil, households: counts.households,
                                         confirmedHouseholds: counts.confirmedHouseholds, openedGuardians: counts.opened),
            now: now, on: db)
        escalated.increment()
        logger.info("urgent notice escalated", metadata: ["notice_id": "\(notice.id)", "unconfirmed_households": "\(households)", "mails": "\(mails)"])
    }
}
