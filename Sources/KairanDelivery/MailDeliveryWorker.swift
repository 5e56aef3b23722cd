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
    /// How long a claimed job is ours; a worker killed mid-send loses its jobs to another
    /// worker after this.
    public var lease: TimeInterval = 120
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
    /// Passes of the run loop (claims attempted), for the idle test.
    public let passes = PassCounter()
    /// Wakes the run loop early (a NOTIFY arrived).
    let wake: AsyncStream<Void>.Continuation
    private let wakes: Mutex<AsyncStream<Void>?>

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
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.wake = continuation
        self.wakes = Mutex(stream)
    }

    func composer() async throws -> MailComposer {
        if let composer = loadedComposer.withLock({ $0 }) { return composer }
        let composer = try await MailComposer.load(identity: identity, database: database)
        loadedComposer.withLock { $0 = composer }
        return composer
    }

    /// Lets the run loop go round now instead of at the next poll.
    public func poke() { wake.yield() }

    public func run() async throws {
        guard let wakes = wakes.withLock({ value -> AsyncStream<Void>? in
            let stream = value
            value = nil
            return stream
        }) else { return }
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.listenForWork() }
                // Deadlines are checked on their own beat: a long send must not hide one.
                group.addTask { await self.watchDeadlines() }
                var iterator = wakes.makeAsyncIterator()
                var schedule = IdleSchedule(safetyInterval: self.configuration.pollInterval)
                // The first pass comes with the LISTEN connection (or the timer): the pool
                // starts alongside this service.
                let firstWait = self.listenURL == nil ? Duration.milliseconds(100) : self.configuration.pollInterval
                await waitForWake(&iterator, timeout: firstWait, wake: self.wake)
                while !Task.isCancelled {
                    self.passes.increment()
                    let handled = await self.drain()
                    if handled > 0 { await self.updateBacklogGauge() }
                    let wait = schedule.wait(handled: handled, nextDue: await self.nextDue(), now: self.clock.now())
                    if wait > .zero { await waitForWake(&iterator, timeout: wait, wake: self.wake) }
                }
                group.cancelAll()
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
            return try await database.withConnection { connection in
                try await DeliveryStore.nextDue(now: now, on: connection, logger: logger)
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
                next = try await database.withConnection { connection in
                    try await DeliveryStore.nextUnreportedDeadline(on: connection, logger: logger)
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

    /// One LISTEN connection: publishers NOTIFY on commit, so a fresh alert starts going
    /// out at once rather than at the next poll.
    private func listenForWork() async {
        guard let listenURL else { return }
        await listenURL.listenUntilCancelled(on: DeliveryStore.channel, logger: logger) {
            self.wake.yield()
        } onNotification: { _ in
            self.wake.yield()
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
            let claimed = try await database.withConnection { connection in
                try await DeliveryStore.claim(
                    worker: configuration.workerID, limit: configuration.batchSize, lease: configuration.lease, now: now,
                    on: connection, logger: logger)
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
            let outcomes = await send(claimed, composer: composer)
            // Recorded even when shutdown has begun: these messages went out, and an
            // unrecorded one would be sent again after the lease. The lease is renewed until
            // the record lands.
            await Task { await self.record(outcomes, claimed: claimed) }.value
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
        Task {
            let interval = Duration.milliseconds(Int64(configuration.lease * 1000 / 3))
            while !Task.isCancelled {
                // Cancelled when the batch is done: the check below ends the loop then.
                try? await Task.sleep(for: interval)
                if Task.isCancelled { return }
                let until = clock.now().addingTimeInterval(configuration.lease)
                do {
                    try await database.withConnection { connection in
                        try await DeliveryStore.renewLease(ids: ids, worker: configuration.workerID, until: until, on: connection, logger: logger)
                    }
                } catch {
                    logger.warning("could not renew a delivery lease", metadata: ["error_type": "\(type(of: error))"])
                }
            }
        }
    }

    /// Sends one batch: per domain, sessions of at most the domain's message cap, at most
    /// the domain's session count at once.
    func send(_ jobs: [ClaimedDelivery], composer: MailComposer) async -> [Int64: JobResult] {
        let byDomain = Dictionary(grouping: jobs, by: \.domain)
        let results = Results()
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
        return results.all
    }

    struct JobResult: Sendable {
        let outcome: DeliveryOutcome
        /// A permanent refusal of the address (counts towards suppression).
        let hardBounce: Bool
    }

    final class Results: Sendable {
        private let values = Mutex<[Int64: JobResult]>([:])
        func set(_ id: Int64, _ outcome: DeliveryOutcome, hardBounce: Bool = false) {
            values.withLock { $0[id] = JobResult(outcome: outcome, hardBounce: hardBounce) }
        }
        var all: [Int64: JobResult] { values.withLock { $0 } }
    }

    private func runSessions(domain: String, policy: DomainPolicy, queue: JobQueue, results: Results, composer: MailComposer) async {
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
                while let job = queue.next() { results.set(job.id, .postpone(reply: reply, until: until)) }
                await gate.release(domain)
                return
            }
            var reusable = true
            while session.messagesSent(to: domain) < policy.messagesPerSession, let job = queue.next() {
                session.noteSent(to: domain)
                // A job rescued again and again (its workers keep dying on it) stops here.
                if job.attempts > configuration.maxAttempts {
                    results.set(job.id, .dead(reply: "451 abandoned after \(job.attempts - 1) attempts without an answer"))
                    continue
                }
                // Addresses are checked when stored; one that no longer parses (a rule
                // tightened since) fails visibly in the delivery record, not silently.
                guard let recipient = try? EmailAddress(job.address) else {
                    results.set(job.id, .failed(reply: "550 address is not valid"))
                    continue
                }
                let message = composer.render(job, recipient: recipient, eightBitAllowed: session.eightBitAllowed)
                let result: MailSendResult
                do {
                    result = try await session.send(deliveryID: job.id, reversePath: composer.returnPath(deliveryID: job.id),
                                                    recipient: recipient, message: message)
                } catch {
                    // We cannot know whether the relay took it: retry (a duplicate beats a loss).
                    results.set(job.id, retryOrDead(job, reply: "451 connection lost: \(error)"))
                    reusable = false
                    break
                }
                switch result {
                case .accepted(let reply):
                    results.set(job.id, .sent(reply: reply))
                case .temporary(let code, let reply):
                    results.set(job.id, retryOrDead(job, reply: reply))
                    if code == 421 {
                        // The relay is shedding this domain: stop, pause it for every worker.
                        await pause(domain, reply: reply)
                        reusable = false
                        while let rest = queue.next() { results.set(rest.id, .release) }
                    }
                case .permanent(_, let reply):
                    results.set(job.id, .failed(reply: reply))
                case .recipientRefused(_, let reply):
                    results.set(job.id, .failed(reply: reply), hardBounce: true)
                }
                if !reusable { break }
            }
            // A session that reached the domain's cap is closed, so the next one is new.
            await transport.checkin(session, reusable: reusable && session.messagesSent(to: domain) < policy.messagesPerSession)
            await gate.release(domain)
        }
    }

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
            try await database.withTransaction { connection in
                try await DeliveryStore.pauseDomain(domain, until: until, reason: reply, on: connection, logger: logger)
            }
        } catch {
            logger.warning("could not record domain pause", metadata: ["error_type": "\(type(of: error))"])
        }
    }

    private func record(_ results: [Int64: JobResult], claimed: [ClaimedDelivery]) async {
        var outcomes: [(id: Int64, outcome: DeliveryOutcome)] = []
        outcomes.reserveCapacity(claimed.count)
        var bounceKeys: [String] = [], bounceReplies: [String] = []
        for job in claimed {
            // A job no session reached (cancelled mid-batch) goes back untouched.
            let result = results[job.id] ?? JobResult(outcome: .release, hardBounce: false)
            let outcome = result.outcome
            outcomes.append((job.id, outcome))
            metrics.count(outcome, domain: job.domain)
            // The address parsed when this job was sent (above), so it parses here.
            if result.hardBounce, case .failed(let reply) = outcome, let address = try? EmailAddress(job.address) {
                bounceKeys.append(address.comparisonKey)
                bounceReplies.append(reply)
            }
        }
        let now = clock.now()
        // Retried until it lands: the jobs were sent, and losing the record would send them twice.
        for attempt in 1... {
            do {
                let suppressed = try await database.withTransaction { connection in
                    try await DeliveryStore.record(outcomes, worker: configuration.workerID, now: now, on: connection, logger: logger)
                    return try await DeliveryStore.recordHardBounces(
                        emailKeys: bounceKeys, reply: bounceReplies, limit: configuration.hardBounceLimit, now: now,
                        on: connection, logger: logger)
                }
                if !suppressed.isEmpty { logger.info("addresses suppressed after hard bounces", metadata: ["count": "\(suppressed.count)"]) }
                return
            } catch {
                logger.warning("recording delivery outcomes failed", metadata: ["attempt": "\(attempt)", "error_type": "\(type(of: error))"])
                // Keep trying through a database restart: giving up would resend the batch.
                // Not even shutdown stops it (a cancelled sleep returns at once, and the next
                // try may still land before the process ends).
                try? await Task.sleep(for: .milliseconds(min(200 * attempt, 5000)))
            }
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
            let (checked, missed) = try await database.withTransaction { connection in
                try await DeliveryStore.reportMissedDeadlines(now: now, on: connection, logger: logger)
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
            let queued = try await database.withConnection { connection in
                try await DeliveryStore.queuedByDomain(on: connection, logger: logger)
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
