import Foundation
import KairanCore
import KairanStore
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Tunables of the mail delivery worker.
public struct MailDeliveryConfiguration: Sendable {
    /// Names this process in leases (host and pid by default).
    public var workerID: String
    public var batchSize = 500
    /// Batches claimed and sent side by side, so claiming overlaps sending.
    public var concurrentBatches = 4
    /// Messages a session may have on the wire (RFC 2920 across transactions: the next
    /// message's commands follow this one's end of data). Two saves a round trip per message
    /// to a distant relay; with a relay on the same host or network the outcome's commit is
    /// the slower step, and one leaves more room for it (see `unsafeAfterKill`).
    public var pipelineDepth = 1
    /// How long a claimed job is ours; a worker killed mid-send loses its jobs to another
    /// worker after this. Short and renewed every third of it while the batch is being
    /// sent: after a SIGKILL in an evacuation alert, the killed worker's unsent jobs go out
    /// from another worker seconds later, not minutes.
    public var lease: TimeInterval = 10
    public var maxAttempts = 8
    /// First retry delay (urgent messages use a quarter of it); doubles per attempt.
    public var retryBase: TimeInterval = 60
    public var retryCap: TimeInterval = 3600
    /// How long jobs wait when the relay cannot be reached at all.
    public var relayRetryDelay: TimeInterval = 15
    /// How long a 421 pauses its destination domain.
    public var domainPause: TimeInterval = 300
    /// Permanent refusals before an address is suppressed.
    public var hardBounceLimit = 3
    public var policies = DomainPolicies.japaneseCarrierDefaults
    /// Longest idle sleep. A NOTIFY wakes the worker as soon as work is committed, and it
    /// sleeps until the earliest retry, lease expiry or domain pause falls due; this timer
    /// only catches what a lost LISTEN connection missed.
    public var pollInterval: Duration = .seconds(60)

    public init(workerID: String) {
        self.workerID = workerID
    }
}

/// Claims due mail jobs, sends them through the transport within each domain's limits, and
/// records what the relay answered. Any number of these may run against one database.
public final class MailDeliveryWorker: Service, Sendable {
    let database: Database
    /// For the LISTEN connection (a dedicated one, outside the pool); nil: poll only.
    let listenURL: DatabaseURL?
    let transport: any MailTransport
    let identity: MailIdentity
    /// Needs the database's VERP key: loaded on first use.
    private let loadedComposer = Mutex<MailComposer?>(nil)
    let configuration: MailDeliveryConfiguration
    let clock: any WallClock
    let logger: Logger
    let gate: DomainGate
    let metrics: DeliveryMetrics
    let recorder: OutcomeRecorder
    /// Time sessions spent waiting for their older outcomes to commit before sending on (the
    /// price of `unsafeAfterKill`).
    let sessionWaitTimer = Metrics.Timer(label: "kairan_mail_session_wait_seconds")
    /// Passes of the run loop (claims attempted), for the idle test.
    public let passes = PassCounter()

    public init(database: Database, listenURL: DatabaseURL? = nil, transport: any MailTransport, identity: MailIdentity,
                configuration: MailDeliveryConfiguration, clock: any WallClock, logger: Logger) {
        self.database = database
        self.listenURL = listenURL
        self.transport = transport
        self.identity = identity
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.gate = DomainGate()
        self.metrics = DeliveryMetrics(policies: configuration.policies)
        self.recorder = OutcomeRecorder(
            database: database, worker: configuration.workerID, hardBounceLimit: configuration.hardBounceLimit, clock: clock,
            metrics: metrics, logger: logger)
    }

    func composer() async throws -> MailComposer {
        if let composer = loadedComposer.withLock({ $0 }) { return composer }
        let composer = try await MailComposer.load(identity: identity, database: database)
        loadedComposer.withLock { $0 = composer }
        return composer
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            // Publishers NOTIFY on commit, so a fresh alert starts going out at once. Deadlines
            // are checked on their own beat: a long send must not hide one.
            await runWokenPasses(
                listeningTo: DeliveryStore.channel, on: self.listenURL, safetyInterval: self.configuration.pollInterval,
                firstWaitWithoutListener: .milliseconds(100), clock: self.clock, logger: self.logger, passes: self.passes,
                alongside: { await self.watchDeadlines() }
            ) {
                let handled = await self.drain()
                if handled > 0 { await self.updateBacklogGauge() }
                return handled
            } nextDue: {
                await self.nextDue()
            }
        }
        await transport.shutdown()
    }

    /// The earliest moment a claim could find something: a queued job's due time (in a
    /// domain not paused), an expired lease to rescue, a pause ending. Nil when the read
    /// fails: the safety timer then tries again.
    private func nextDue() async -> Date? {
        let now = clock.now()
        do {
            return try await database.withConnection { db in
                try await DeliveryStore.nextDue(now: now, on: db)
            }
        } catch {
            if !Task.isCancelled {
                logger.warning("reading the next due delivery failed; will retry", metadata: ["error_type": "\(type(of: error))"])
            }
            return nil
        }
    }

    /// Sleeps until the earliest urgent deadline not yet checked (at most a minute, so a
    /// message published meanwhile is seen), then reports what missed it.
    private func watchDeadlines() async {
        var schedule = IdleSchedule(safetyInterval: configuration.pollInterval)
        while !Task.isCancelled {
            var checked = 0
            var next: Date?
            do {
                next = try await database.withConnection { db in
                    try await DeliveryStore.nextUnreportedDeadline(on: db)
                }
                if let due = next, due < clock.now() {
                    checked = await reportMissedDeadlines()
                    // Progress: read the next deadline at the top of the loop, at once.
                    if checked > 0 { continue }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("reading delivery deadlines failed; will retry", metadata: ["error_type": "\(type(of: error))"])
            }
            // A deadline still past after a check that marked nothing (another worker holds
            // it, or the check failed) is retried with a growing pause, never at once.
            let wait = schedule.wait(handled: checked, nextDue: next, now: clock.now())
            do { try await Task.sleep(for: max(wait, .milliseconds(5))) } catch { return }
        }
    }

    /// Claims and sends until nothing is due. Public so tests (with their own clock) can run
    /// a pass without the timer. Returns the number of jobs processed.
    ///
    /// One claim first: an idle pass costs one query. Only a full batch (more is likely
    /// waiting) opens the other lanes, so claiming overlaps sending when there is a backlog.
    @discardableResult
    public func drain() async -> Int {
        let composer: MailComposer
        do {
            composer = try await self.composer()
        } catch {
            // The database pool starts alongside this service; the next pass tries again.
            logger.debug("cannot read the VERP key yet; will retry", metadata: ["error_type": "\(type(of: error))"])
            return 0
        }
        guard let first = await claimBatch() else { return 0 }
        if first.count < configuration.batchSize {
            return await batchLoop(first: first, composer: composer)
        }
        return await withTaskGroup(of: Int.self) { group in
            group.addTask { await self.batchLoop(first: first, composer: composer) }
            for _ in 1..<max(1, configuration.concurrentBatches) {
                group.addTask { await self.batchLoop(first: nil, composer: composer) }
            }
            return await group.reduce(0, +)
        }
    }

    /// One claim; nil when nothing was due or the claim failed.
    private func claimBatch() async -> [ClaimedDelivery]? {
        let now = clock.now()
        do {
            // One statement: it commits on its own.
            let claimed = try await database.withConnection { db in
                try await DeliveryStore.claim(
                    worker: configuration.workerID, limit: configuration.batchSize, lease: configuration.lease, now: now,
                    on: db)
            }
            return claimed.isEmpty ? nil : claimed
        } catch {
            if !Task.isCancelled {
                logger.warning("claiming deliveries failed; will retry", metadata: ["error_type": "\(type(of: error))"])
            }
            return nil
        }
    }

    private func batchLoop(first: [ClaimedDelivery]?, composer: MailComposer) async -> Int {
        var total = 0
        var next = first
        while !Task.isCancelled {
            let claimed: [ClaimedDelivery]
            if let first = next {
                claimed = first
                next = nil
            } else if let more = await claimBatch() {
                claimed = more
            } else {
                return total
            }
            metrics.inFlight(claimed.count)
            let renewal = renewLeases(on: claimed.map(\.id))
            // Returns once every outcome of the batch is recorded (each soon after the relay
            // answered it); the lease is renewed until then.
            await send(claimed, composer: composer)
            renewal.cancel()
            metrics.inFlight(-claimed.count)
            total += claimed.count
            // A partial batch took everything that was due.
            if claimed.count < configuration.batchSize { return total }
        }
        return total
    }

    /// Keeps the batch's lease alive while it is being sent (every third of the lease).
    private func renewLeases(on ids: [Int64]) -> Task<Void, Never> {
        renewingLease(configuration.lease, logger: logger) { [database, clock, configuration] in
            let until = clock.now().addingTimeInterval(configuration.lease)
            try await database.withConnection { db in
                try await DeliveryStore.renewLease(ids: ids, worker: configuration.workerID, until: until, on: db)
            }
        }
    }

    /// Sends one batch: per domain, sessions of at most the domain's message cap, at most
    /// the domain's session count at once. Returns when every job's outcome is recorded.
    func send(_ jobs: [ClaimedDelivery], composer: MailComposer) async {
        let byDomain = Dictionary(grouping: jobs, by: \.domain)
        let results = BatchOutcomes(recorder: recorder)
        await withDiscardingTaskGroup { group in
            for (domain, domainJobs) in byDomain {
                let policy = configuration.policies.policy(for: domain)
                let queue = JobQueue(domainJobs)
                let sessions = min(policy.maxSessions, (domainJobs.count + policy.messagesPerSession - 1) / policy.messagesPerSession)
                for _ in 0..<max(1, sessions) {
                    group.addTask {
                        await self.runSessions(domain: domain, policy: policy, queue: queue, results: results, composer: composer)
                    }
                }
            }
        }
        // Recorded even when shutdown has begun: these messages went out, and an unrecorded
        // one would be sent again after the lease. A job no session reached (cancelled
        // mid-batch) goes back untouched.
        await Task {
            for job in jobs where !results.has(job.id) { await results.set(job, .release) }
            await results.waitRecorded()
        }.value
    }

    struct JobResult: Sendable {
        let outcome: DeliveryOutcome
        /// A permanent refusal of the address (counts towards suppression).
        let hardBounce: Bool
    }

    /// The outcomes of one batch, handed to the recorder as they come.
    final class BatchOutcomes: Sendable {
        private let recorder: OutcomeRecorder
        private let state = Mutex<(ids: Set<Int64>, lastTicket: Int)>(([], -1))

        init(recorder: OutcomeRecorder) { self.recorder = recorder }

        /// Returns the ticket to wait on for this outcome to be recorded.
        @discardableResult
        func set(_ job: ClaimedDelivery, _ outcome: DeliveryOutcome, hardBounce: Bool = false) async -> Int {
            state.withLock { _ = $0.ids.insert(job.id) }
            let ticket = await recorder.add(job, JobResult(outcome: outcome, hardBounce: hardBounce))
            state.withLock { $0.lastTicket = max($0.lastTicket, ticket) }
            return ticket
        }

        func has(_ id: Int64) -> Bool { state.withLock { $0.ids.contains(id) } }

        func waitRecorded() async {
            await recorder.waitRecorded(state.withLock { $0.lastTicket })
        }
    }

    private func runSessions(domain: String, policy: DomainPolicy, queue: JobQueue, results: BatchOutcomes, composer: MailComposer) async {
        while !queue.isEmpty {
            await gate.acquire(domain, limit: policy.maxSessions)
            let session: any MailSession
            do {
                session = try await transport.checkout()
            } catch {
                // The relay is unreachable: nothing was tried, so no attempt is used up; every
                // job left in this domain waits a little and goes again.
                let reply = "451 relay unreachable (\(type(of: error)))"
                let until = clock.now().addingTimeInterval(configuration.relayRetryDelay)
                while let job = queue.next() { await results.set(job, .postpone(reply: reply, until: until)) }
                await gate.release(domain)
                return
            }
            var reusable = true
            // At most `3 - pipelineDepth` accepted messages per session wait to be recorded
            // while the next ones are sent, and at most `pipelineDepth` are on the wire: if
            // this process dies, what the relay took and we did not record (and so sends
            // again) is at most their sum.
            var unrecorded: [Int] = []
            var inFlight: [(job: ClaimedDelivery, pending: PendingSend)] = []
            /// Waits for the oldest message's outcome and hands it to the recorder; false when
            /// the session must not carry more.
            func settleOldest() async -> Bool {
                let (job, pending) = inFlight.removeFirst()
                let result: MailSendResult
                do {
                    result = try await pending.outcome()
                } catch {
                    // We cannot know whether the relay took it: retry (a duplicate beats a loss).
                    await results.set(job, retryOrDead(job, reply: "451 connection lost: \(error)"))
                    return false
                }
                switch result {
                case .accepted(let reply):
                    unrecorded.append(await results.set(job, .sent(reply: reply)))
                case .temporary(let code, let reply):
                    unrecorded.append(await results.set(job, retryOrDead(job, reply: reply)))
                    if code == 421 {
                        // The relay is shedding this domain: stop, pause it for every worker.
                        await pause(domain, reply: reply)
                        while let rest = queue.next() { await results.set(rest, .release) }
                        return false
                    }
                case .permanent(_, let reply):
                    unrecorded.append(await results.set(job, .failed(reply: reply)))
                case .recipientRefused(_, let reply):
                    unrecorded.append(await results.set(job, .failed(reply: reply), hardBounce: true))
                }
                return true
            }
            let depth = min(session.pipelineDepth, configuration.pipelineDepth)
            let unrecordedAllowed = Self.unsafeAfterKill - depth
            while reusable, session.messagesSent(to: domain) < policy.messagesPerSession, let job = queue.next() {
                if unrecorded.count > unrecordedAllowed {
                    // Timed only when a commit was really waited for (usually the older
                    // outcomes are already recorded and this returns at once).
                    let started = DispatchTime.now()
                    var waited = false
                    while unrecorded.count > unrecordedAllowed {
                        if await recorder.waitRecorded(unrecorded.removeFirst()) { waited = true }
                    }
                    if waited { sessionWaitTimer.recordInterval(since: started) }
                }
                session.noteSent(to: domain)
                // A job rescued again and again (its workers keep dying on it) stops here.
                if job.attempts > configuration.maxAttempts {
                    await results.set(job, .dead(reply: "451 abandoned after \(job.attempts - 1) attempts without an answer"))
                    continue
                }
                // Addresses are checked when stored; one that no longer parses (a rule
                // tightened since) fails visibly in the delivery record, not silently.
                guard let recipient = try? EmailAddress(job.address) else {
                    await results.set(job, .failed(reply: "550 address is not valid"))
                    continue
                }
                let message = composer.render(job, recipient: recipient, eightBitAllowed: session.eightBitAllowed)
                inFlight.append((job, session.start(deliveryID: job.id, reversePath: composer.returnPath(deliveryID: job.id),
                                                    recipient: recipient, message: message)))
                if inFlight.count >= depth {
                    reusable = await settleOldest()
                }
            }
            // Every message started gets its outcome, whatever ended the session.
            while !inFlight.isEmpty {
                if !(await settleOldest()) { reusable = false }
            }
            // A session that reached the domain's cap is closed, so the next one is new.
            await transport.checkin(session, reusable: reusable && session.messagesSent(to: domain) < policy.messagesPerSession)
            await gate.release(domain)
        }
    }

    /// What a SIGKILL may make a session send twice: messages accepted but not yet recorded,
    /// plus those on the wire. A session keeps `3 - pipelineDepth` outcomes unrecorded while
    /// it sends on: two when it waits for each answer (room for one commit while the next
    /// gathers; one stalled every session on each commit, a third less mail per second).
    public static let unsafeAfterKill = 3

    func retryOrDead(_ job: ClaimedDelivery, reply: String) -> DeliveryOutcome {
        if job.attempts >= configuration.maxAttempts { return .dead(reply: reply) }
        let base = job.urgent ? configuration.retryBase / 4 : configuration.retryBase
        let delay = min(configuration.retryCap, base * pow(2, Double(job.attempts - 1)))
        // Full jitter on the upper half: retries from one failed burst do not arrive together.
        let jittered = delay * Double.random(in: 0.5...1.0)
        return .retry(reply: reply, retryAt: clock.now().addingTimeInterval(jittered))
    }

    private func pause(_ domain: String, reply: String) async {
        let until = clock.now().addingTimeInterval(configuration.domainPause)
        logger.warning("relay answered 421; pausing domain", metadata: ["domain": "\(domain)", "seconds": "\(Int(configuration.domainPause))"])
        do {
            try await database.withTransaction { db in
                try await DeliveryStore.pauseDomain(domain, until: until, reason: reply, on: db)
            }
        } catch {
            logger.warning("could not record domain pause", metadata: ["error_type": "\(type(of: error))"])
        }
    }

    /// Missed urgent deadlines and the backlog gauge, as one pass. Public so tests run it
    /// with their own clock.
    public func housekeeping() async {
        await reportMissedDeadlines()
        await updateBacklogGauge()
    }

    /// Marks the messages whose deadline has passed as checked (missed or not). Returns how
    /// many it checked.
    @discardableResult
    private func reportMissedDeadlines() async -> Int {
        let now = clock.now()
        do {
            let (checked, missed) = try await database.withTransaction { db in
                try await DeliveryStore.reportMissedDeadlines(now: now, on: db)
            }
            for (message, outstanding) in missed {
                logger.error("urgent message missed its delivery deadline", metadata: ["message_id": "\(message)", "outstanding": "\(outstanding)"])
                metrics.deadlineMissed()
            }
            return checked
        } catch is CancellationError {
            return 0
        } catch {
            logger.warning("checking delivery deadlines failed", metadata: ["error_type": "\(type(of: error))"])
            return 0
        }
    }

    /// The backlog only changes when work is enqueued (which wakes a pass) or sent, so it is
    /// read after passes that sent something, not on a timer.
    private func updateBacklogGauge() async {
        do {
            let queued = try await database.withConnection { db in
                try await DeliveryStore.queuedByDomain(on: db)
            }
            metrics.queued(queued)
        } catch is CancellationError {
            return
        } catch {
            logger.warning("reading the delivery backlog failed", metadata: ["error_type": "\(type(of: error))"])
        }
    }
}

/// The jobs of one domain in one batch, taken one at a time by that domain's sessions.
final class JobQueue: Sendable {
    private let state: Mutex<(jobs: [ClaimedDelivery], next: Int)>
    init(_ jobs: [ClaimedDelivery]) { state = Mutex((jobs, 0)) }
    func next() -> ClaimedDelivery? {
        state.withLock { state in
            guard state.next < state.jobs.count else { return nil }
            defer { state.next += 1 }
            return state.jobs[state.next]
        }
    }
    var isEmpty: Bool { state.withLock { $0.next >= $0.jobs.count } }
}

/// Counts sessions per destination domain across all of this worker's batches.
actor DomainGate {
    private var active: [String: Int] = [:]
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    func acquire(_ domain: String, limit: Int) async {
        while active[domain, default: 0] >= limit {
            await withCheckedContinuation { waiters[domain, default: []].append($0) }
        }
        active[domain, default: 0] += 1
    }

    func release(_ domain: String) {
        active[domain, default: 1] -= 1
        if var queue = waiters[domain], !queue.isEmpty {
            queue.removeFirst().resume()
            waiters[domain] = queue
        }
    }
}
