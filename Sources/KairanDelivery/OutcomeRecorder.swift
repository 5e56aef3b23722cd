import Foundation
import KairanCore
import KairanStore
import Logging
import Metrics

/// Records what the relay answered, message by message, a few milliseconds after it
/// answered: outcomes that arrive while one write is in flight go together in the next
/// (a group commit), so the database sees one transaction per handful of messages, not one
/// per message, and not one per 500-message batch.
///
/// Why it matters: a message the relay accepted but we have not recorded is sent again if
/// this worker dies. Recording at the end of a batch left up to a whole batch per lane in
/// that state; here it is at most `MailDeliveryWorker.unsafeAfterKill` messages per
/// session (see `runSessions`, which waits for older outcomes before it sends another).
actor OutcomeRecorder {
    struct Outcome: Sendable {
        let job: ClaimedDelivery
        let result: MailDeliveryWorker.JobResult
    }

    private let database: Database
    private let worker: String
    private let hardBounceLimit: Int
    private let clock: any WallClock
    private let metrics: DeliveryMetrics
    private let logger: Logger
    /// Alerts' open progress pages hear about what was recorded.
    private let announcer: ProgressAnnouncer

    private var pending: [Outcome] = []
    /// The write the next outcome goes into; `recorded` is the last one that committed.
    private var collecting = 0
    private var recorded = -1
    private var writing = false
    private var waiters: [(ticket: Int, continuation: CheckedContinuation<Void, Never>)] = []
    /// How long one write takes from its start to its commit, and how many outcomes the
    /// writes carried: a session may not run more than a few messages ahead of the last
    /// commit (`MailDeliveryWorker.unsafeAfterKill`), so a write's time bounds each
    /// session's rate.
    private let writeTimer = Metrics.Timer(label: "kairan_mail_outcome_write_seconds")
    private let recordedCounter = Counter(label: "kairan_mail_outcomes_recorded_total")

    init(database: Database, worker: String, hardBounceLimit: Int, clock: any WallClock, metrics: DeliveryMetrics, logger: Logger) {
        self.database = database
        self.worker = worker
        self.hardBounceLimit = hardBounceLimit
        self.clock = clock
        self.metrics = metrics
        self.logger = logger
        self.announcer = ProgressAnnouncer(database: database, clock: clock, logger: logger)
    }

    /// Queues one outcome; returns the ticket to wait on for it to be recorded.
    @discardableResult
    func add(_ job: ClaimedDelivery, _ result: MailDeliveryWorker.JobResult) -> Int {
        pending.append(Outcome(job: job, result: result))
        if !writing {
            writing = true
            // Its own task: the writer keeps going while the sessions that queued outcomes
            // carry on sending. Not at a higher priority: measured, it started writes sooner
            // with fewer outcomes each (more commits, more CPU, less mail a second).
            Task { await self.writeLoop() }
        }
        return collecting
    }

    /// Returns once the outcome with `ticket` (and every earlier one) is recorded: true when
    /// it had to wait for a write, false when the ticket was already recorded.
    @discardableResult
    func waitRecorded(_ ticket: Int) async -> Bool {
        guard ticket > recorded else { return false }
        await withCheckedContinuation { waiters.append((ticket, $0)) }
        return true
    }

    private func writeLoop() async {
        while !pending.isEmpty {
            let batch = pending
            pending = []
            let ticket = collecting
            collecting += 1
            await write(batch)
            recorded = ticket
            let ready = waiters.filter { $0.ticket <= ticket }
            waiters.removeAll { $0.ticket <= ticket }
            for waiter in ready { waiter.continuation.resume() }
        }
        writing = false
        // Everything queued went into a write that committed (or there was nothing): a
        // ticket handed out after the last write (nothing pending) is already satisfied.
        recorded = collecting - 1
        let rest = waiters
        waiters = []
        for waiter in rest { waiter.continuation.resume() }
    }

    /// Retried until it lands: the messages were sent, and losing the record would send them
    /// twice. Not even shutdown stops it (a cancelled sleep returns at once, and the next
    /// try may still land before the process ends).
    private func write(_ batch: [Outcome]) async {
        var outcomes: [(id: Int64, outcome: DeliveryOutcome)] = []
        outcomes.reserveCapacity(batch.count)
        var bounceKeys: [String] = [], bounceReplies: [String] = []
        for item in batch {
            outcomes.append((item.job.id, item.result.outcome))
            metrics.count(item.result.outcome, domain: item.job.domain)
            // The address parsed when this job was sent, so it parses here.
            if item.result.hardBounce, case .failed(let reply) = item.result.outcome, let address = try? EmailAddress(item.job.address) {
                bounceKeys.append(address.comparisonKey)
                bounceReplies.append(reply)
            }
        }
        let now = clock.now()
        let (database, worker, limit, logger) = (self.database, self.worker, self.hardBounceLimit, self.logger)
        // The usual write (every message accepted) is one statement: sent without BEGIN and
        // COMMIT, it costs one round trip and one commit instead of three round trips.
        let oneStatement = bounceKeys.isEmpty && DeliveryStore.recordsInOneStatement(outcomes)
        let started = DispatchTime.now()
        defer {
            writeTimer.recordInterval(since: started)
            recordedCounter.increment(by: batch.count)
        }
        for attempt in 1... {
            do {
                let suppressed = oneStatement
                    ? try await database.withConnection { db -> [String] in
                        try await DeliveryStore.record(outcomes, worker: worker, now: now, on: db)
                        return []
                    }
                    : try await database.withTransaction { db in
                        try await DeliveryStore.record(outcomes, worker: worker, now: now, on: db)
                        return try await DeliveryStore.recordHardBounces(
                            emailKeys: bounceKeys, reply: bounceReplies, limit: limit, now: now, on: db)
                    }
                if !suppressed.isEmpty { logger.info("addresses suppressed after hard bounces", metadata: ["count": "\(suppressed.count)"]) }
                await announcer.touch(batch.map(\.job.messageID))
                return
            } catch {
                logger.warning("recording delivery outcomes failed", metadata: ["attempt": "\(attempt)", "error_type": "\(type(of: error))"])
                try? await Task.sleep(for: .milliseconds(min(200 * attempt, 5000)))
            }
        }
    }
}
