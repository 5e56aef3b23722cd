import Foundation
import KairanCore
import KairanStore
import Logging
import Metrics
import NIOCore

/// Delivers committed events to this process's subscribers.
///
/// The event log in PostgreSQL is the source; a NOTIFY (from any instance) only says
/// "stream X has something new". The hub then reads past the last offset it dispatched for
/// X, encodes each event once, and queues the same frame for every live subscriber of X.
/// Each subscription has its own cursor, so a client that reconnects with `after` gets
/// exactly what it missed, in order, and then the live events, with no gap or duplicate.
public actor StreamHub {
    public enum SubscribeOutcome: Sendable, Equatable {
        /// Live from `offset` on (everything up to it has been queued).
        case subscribed(offset: Int64)
        /// The requested events are gone (retention) or too many to replay: the client must
        /// refetch over REST; live delivery continues from `offset`.
        case gap(offset: Int64)
        case denied(String)
        /// The database could not be asked (or read) just now: nothing was decided, and
        /// subscribing again may work. Not a refusal.
        case unavailable
        case notFound
        case tooManySubscriptions
    }

    struct Subscription {
        var cursor: Int64
        var live: Bool
        /// The stream whose membership events re-check this subscription.
        let watch: String?
    }

    struct StreamState {
        /// The last offset this hub read and dispatched.
        var offset: Int64
        var subscriptions: [StreamSubscriber: Subscription] = [:]
        /// The live subscribers' connections, grouped by event loop, kept up to date as
        /// subscriptions come and go, so a broadcast costs one hop per loop and no per-socket
        /// bookkeeping. A live subscription's cursor is the stream's `offset`.
        var liveByLoop: [ObjectIdentifier: LoopBatch] = [:]
        var fetching = false
        var dirty = false
    }

    struct LoopBatch {
        let loop: any EventLoop
        var connections: [ObjectIdentifier: any StreamConnection] = [:]
    }

    let database: Database
    let authorizer: StreamAuthorizer
    let logger: Logger
    /// Longest replay on subscribe; further behind is a gap (refetch over REST).
    public nonisolated let maxReplay: Int
    public nonisolated let maxSubscriptionsPerClient: Int
    private var streams: [String: StreamState] = [:]
    private var bySubscriber: [StreamSubscriber: Set<String>] = [:]
    /// Every connected client by the login it came with, subscribed to anything or not.
    private var bySession: [Int64: Set<StreamSubscriber>] = [:]
    /// Sessions ended lately, for clients whose handshake raced the logout (`register`).
    private var recentlyEnded: [Int64: ContinuousClock.Instant] = [:]
    /// Longer than any handshake: a ticket lives 60 s, a bearer check milliseconds.
    static let endedSessionMemory: Duration = .seconds(300)
    /// Streams whose membership events some local subscription depends on (a group's for
    /// the group and its threads, an organization's for its notices), with the offset read
    /// so far: membership changes there re-check those subscriptions even when nobody here
    /// subscribes to the watched stream itself.
    private var watched: [String: (offset: Int64, subscriptions: Int)] = [:]

    private let framesSent = Counter(label: "kairan_ws_frames_queued_total")
    private let readErrors = Counter(label: "kairan_ws_event_read_errors_total")
    private let sessionsEnded = Counter(label: "kairan_ws_closed_session_ended_total")
    private let recheckErrors = Counter(label: "kairan_ws_recheck_errors_total")

    public init(database: Database, clock: any WallClock, logger: Logger, maxReplay: Int = 500, maxSubscriptionsPerClient: Int = 100) {
        self.database = database
        self.authorizer = StreamAuthorizer(database: database, clock: clock)
        self.logger = logger
        self.maxReplay = maxReplay
        self.maxSubscriptionsPerClient = maxSubscriptionsPerClient
    }

    // MARK: - Subscribing

    public func subscribe(_ subscriber: StreamSubscriber, to stream: StreamName, after: Int64?) async -> SubscribeOutcome {
        let name = stream.description
        if bySubscriber[subscriber]?.contains(name) == true {
            return .subscribed(offset: streams[name]?.offset ?? 0)
        }
        guard (bySubscriber[subscriber]?.count ?? 0) < maxSubscriptionsPerClient else { return .tooManySubscriptions }
        let verdict: StreamAuthorizer.Verdict
        let head: Int64
        do {
            verdict = try await authorizer.check(subscriber.actor, stream, logger: logger)
            head = try await database.withConnection { try await EventStore.head(name, on: $0, logger: logger) }
        } catch {
            logger.warning("subscribe failed", metadata: ["stream": "\(name)", "error_type": "\(type(of: error))"])
            return .unavailable
        }
        let watch: String?
        switch verdict {
        case .allowed(let value): watch = value
        case .denied(let reason): return .denied(reason)
        case .notFound: return .notFound
        }

        if let watch {
            if let current = watched[watch] {
                watched[watch] = (current.offset, current.subscriptions + 1)
            } else {
                // Read, not guessed: an offset of 0 would replay the stream's whole history of
                // membership changes as if they were new, revoking people who rejoined long ago.
                let watchHead: Int64
                do {
                    watchHead = try await database.withConnection { connection in
                        try await EventStore.head(watch, on: connection, logger: logger)
                    }
                } catch {
                    readErrors.increment()
                    logger.warning("subscribe failed reading a watched stream", metadata: ["stream": "\(watch)", "error_type": "\(type(of: error))"])
                    return .unavailable
                }
                if let current = watched[watch] {
                    watched[watch] = (current.offset, current.subscriptions + 1)
                } else {
                    watched[watch] = (watchHead, 1)
                }
            }
        }
        // The hub's offset for a stream it already follows is authoritative: events past it
        // reach live subscribers through `wake`. Only a new stream starts at the log's head.
        if streams[name] == nil { streams[name] = StreamState(offset: head) }
        var start = min(after ?? streams[name]!.offset, head)
        if start > streams[name]!.offset {
            // The client has seen more than this hub has dispatched (another instance served
            // it): let the hub catch up first, so nothing is sent twice.
            await wake(name)
            for _ in 0..<100 where (streams[name]?.offset ?? start) < start {
                // A cancelled sleep (the socket closed) just ends the wait sooner.
                try? await Task.sleep(for: .milliseconds(20))
            }
            guard streams[name] != nil else { return .subscribed(offset: start) }
            start = min(start, streams[name]!.offset)
        }
        var gap = false
        if streams[name]!.offset - start > Int64(maxReplay) {
            start = streams[name]!.offset
            gap = true
        }
        streams[name]!.subscriptions[subscriber] = Subscription(cursor: start, live: false, watch: watch)
        bySubscriber[subscriber, default: []].insert(name)

        // Replay from the log up to what the hub has dispatched, until the cursor meets the
        // hub's offset; only then does the subscription go live. Check and switch happen
        // without suspending, so no event can fall between replay and live delivery, and
        // none comes twice; the acknowledgement is sent at that same moment, so it precedes
        // every live event.
        while true {
            guard let subscription = streams[name]?.subscriptions[subscriber] else { return .subscribed(offset: start) }
            let target = streams[name]!.offset
            if subscription.cursor >= target {
                streams[name]!.subscriptions[subscriber]!.live = true
                let loop = subscriber.connection.eventLoop
                streams[name]!.liveByLoop[ObjectIdentifier(loop), default: LoopBatch(loop: loop)]
                    .connections[ObjectIdentifier(subscriber.connection)] = subscriber.connection
                if gap { subscriber.send(#"{"type":"gap","stream":"\#(name)","offset":\#(target)}"#) }
                subscriber.send(#"{"type":"subscribed","stream":"\#(name)","offset":\#(target)}"#)
                break
            }
            let events: [EventStore.StoredEvent]
            do {
                events = try await database.withConnection { connection in
                    try await EventStore.read(name, after: subscription.cursor, through: target, limit: 200, on: connection, logger: logger)
                }
            } catch {
                readErrors.increment()
                unsubscribe(subscriber, from: stream)
                return .unavailable
            }
            guard streams[name]?.subscriptions[subscriber] != nil else { return .subscribed(offset: start) }
            if events.first.map({ $0.offset > subscription.cursor + 1 }) ?? true {
                // Some of what the client missed was deleted by retention: it refetches over
                // REST, and live delivery starts from the hub's offset.
                gap = true
                streams[name]!.subscriptions[subscriber]!.cursor = target
                continue
            }
            for event in events where event.offset > streams[name]!.subscriptions[subscriber]!.cursor {
                streams[name]!.subscriptions[subscriber]!.cursor = event.offset
                subscriber.send(Self.frame(for: event))
            }
        }
        let offset = streams[name]?.offset ?? start
        return gap ? .gap(offset: offset) : .subscribed(offset: offset)
    }

    public func unsubscribe(_ subscriber: StreamSubscriber, from stream: StreamName) {
        drop(subscriber, from: stream.description)
        bySubscriber[subscriber]?.remove(stream.description)
    }

    /// A client connected: it is closed when its session ends (`endSessions`). A logout
    /// handled between the handshake's check and this moment found nobody to close, so the
    /// sessions ended lately are remembered and a client of one is closed here, with no
    /// query (a reconnect storm after an alert must not cost one per socket).
    public func register(_ subscriber: StreamSubscriber) {
        bySession[subscriber.sessionID, default: []].insert(subscriber)
        if recentlyEnded[subscriber.sessionID] != nil { endSessions([subscriber.sessionID]) }
    }

    /// Forgets a disconnected client.
    public func remove(_ subscriber: StreamSubscriber) {
        for name in bySubscriber[subscriber] ?? [] { drop(subscriber, from: name) }
        bySubscriber[subscriber] = nil
        bySession[subscriber.sessionID]?.remove(subscriber)
        if bySession[subscriber.sessionID]?.isEmpty == true { bySession[subscriber.sessionID] = nil }
    }

    /// Sessions ended (logout, revocation): their clients are dropped from every stream at
    /// once, without suspending, so no event dispatched after this reaches them, and their
    /// sockets are closed with 1008.
    public func endSessions(_ ids: some Collection<Int64>) {
        let now = ContinuousClock.now
        recentlyEnded = recentlyEnded.filter { now - $0.value < Self.endedSessionMemory }
        for id in ids {
            recentlyEnded[id] = now
            guard let subscribers = bySession.removeValue(forKey: id) else { continue }
            for subscriber in subscribers {
                remove(subscriber)
                subscriber.close(code: 1008, reason: "session ended; log in again")
            }
            sessionsEnded.increment(by: subscribers.count)
        }
    }

    /// After the notification connection was lost, session ends may have been missed too:
    /// the sessions of connected clients are checked against the table.
    public func recheckSessions(now: Date) async {
        let ids = Array(bySession.keys)
        guard !ids.isEmpty else { return }
        do {
            let ended = try await database.withConnection { connection in
                try await SessionStore.ended(among: ids, now: now, on: connection, logger: logger)
            }
            endSessions(ended)
        } catch {
            // Kept open rather than closed on a guess; the next reconnect checks again.
            logger.warning("could not recheck stream sessions", metadata: ["error_type": "\(type(of: error))"])
        }
    }

    private func drop(_ subscriber: StreamSubscriber, from name: String) {
        guard let subscription = streams[name]?.subscriptions.removeValue(forKey: subscriber) else { return }
        if subscription.live {
            let loop = ObjectIdentifier(subscriber.connection.eventLoop)
            streams[name]!.liveByLoop[loop]?.connections[ObjectIdentifier(subscriber.connection)] = nil
            if streams[name]!.liveByLoop[loop]?.connections.isEmpty == true { streams[name]!.liveByLoop[loop] = nil }
        }
        if streams[name]?.subscriptions.isEmpty == true { streams[name] = nil }
        if let watch = subscription.watch, let current = watched[watch] {
            watched[watch] = current.subscriptions > 1 ? (current.offset, current.subscriptions - 1) : nil
        }
    }

    // MARK: - Waking

    /// Something was committed to `stream` (a NOTIFY arrived).
    public func wake(_ name: String) async {
        if streams[name] == nil, watched[name] != nil {
            await watchMembership(of: name)
            return
        }
        guard streams[name] != nil else { return }
        if streams[name]!.fetching {
            streams[name]!.dirty = true
            return
        }
        streams[name]!.fetching = true
        defer { streams[name]?.fetching = false }
        while let state = streams[name] {
            streams[name]!.dirty = false
            let events: [EventStore.StoredEvent]
            do {
                events = try await database.withConnection { connection in
                    try await EventStore.read(name, after: state.offset, limit: Self.readBatch, on: connection, logger: logger)
                }
            } catch {
                readErrors.increment()
                logger.warning("reading events failed; the next notification retries", metadata: ["stream": "\(name)"])
                return
            }
            guard streams[name] != nil else { return }
            logger.debug("wake read", metadata: ["stream": "\(name)", "after": "\(state.offset)", "count": "\(events.count)", "last": "\(events.last?.offset ?? -1)"])
            for event in events { dispatch(event) }
            if events.count < Self.readBatch && !(streams[name]?.dirty ?? false) { return }
        }
    }

    /// Several streams were committed to at once (a notice reaching hundreds of guardians'
    /// own streams): the new events of all of them are read in one query instead of one
    /// query per stream, then dispatched exactly as `wake` would. Streams already being
    /// read, watched-only streams and streams with more than one batch pending take the
    /// one-stream path.
    public func wake(_ names: some Collection<String>) async {
        // Partitioned and marked without suspending, so no one-stream read can start on a
        // batched stream while the batch is being read.
        var batch: [(String, Int64)] = []
        var others: [String] = []
        for name in Set(names) {
            if let state = streams[name], !state.fetching {
                batch.append((name, state.offset))
            } else {
                others.append(name)
            }
        }
        if batch.count == 1 { others.append(batch.removeFirst().0) }
        for (name, _) in batch {
            streams[name]?.fetching = true
            streams[name]?.dirty = false
        }
        guard !batch.isEmpty else {
            for name in others { await wake(name) }
            return
        }
        let events: [EventStore.StoredEvent]
        do {
            events = try await database.withConnection { connection in
                try await EventStore.read(batch, limitEach: Self.readBatch, on: connection, logger: logger)
            }
        } catch {
            // Each stream tries again on its own: a failed batch must not strand hundreds
            // of guardians' streams until their next notification.
            readErrors.increment()
            logger.warning("reading events failed; retrying stream by stream", metadata: ["streams": "\(batch.count)"])
            for (name, _) in batch { streams[name]?.fetching = false }
            for name in batch.map(\.0) + others { await wake(name) }
            return
        }
        var read: [String: Int] = [:]
        for event in events {
            read[event.stream, default: 0] += 1
            dispatch(event)
        }
        for (name, _) in batch {
            streams[name]?.fetching = false
            // More than one batch waiting, or a notification arrived meanwhile: the
            // one-stream loop reads on until it has everything.
            if (read[name] ?? 0) >= Self.readBatch || streams[name]?.dirty == true { await wake(name) }
        }
        for name in others { await wake(name) }
    }

    /// Sends an event past the hub's offset for its stream to every live subscriber (the
    /// frame encoded once), and moves the offset on.
    private func dispatch(_ event: EventStore.StoredEvent) {
        guard let state = streams[event.stream], event.offset > state.offset else { return }
        let batches = state.liveByLoop
        broadcast(Self.frame(for: event), to: batches.values)
        framesSent.increment(by: batches.values.reduce(0) { $0 + $1.connections.count })
        streams[event.stream]!.offset = event.offset
        if Self.membershipKinds.contains(event.kind) { scheduleRecheck(after: event) }
        if let current = watched[event.stream], current.offset < event.offset {
            watched[event.stream] = (event.offset, current.subscriptions)
        }
    }

    /// After the notification connection was lost: every stream may have missed wake-ups.
    public func wakeAll() async {
        for name in streams.keys { await wake(name) }
    }

    // MARK: - Membership changes

    /// Events read per query when woken. Well under a client's queue capacity, so a burst
    /// never overflows a client that keeps up.
    static let readBatch = 100

    static let membershipKinds: Set<String> = [
        "member.removed", "member.banned", "member.left", "group.updated", "staff.removed", "staff.changed", "teacher.removed",
    ]

    private struct MembershipPayload: Decodable {
        let accountId: AccountID?
    }

    /// Reads a watched stream for membership changes only.
    private func watchMembership(of name: String) async {
        guard let current = watched[name] else { return }
        let events: [EventStore.StoredEvent]
        do {
            events = try await database.withConnection { connection in
                try await EventStore.read(name, after: current.offset, limit: Self.readBatch, on: connection, logger: logger)
            }
        } catch {
            // The offset stays where it was: the next notification for this stream (or the
            // reconnect's wakeAll) reads the same events again.
            readErrors.increment()
            logger.warning("reading membership events failed; the next notification retries", metadata: [
                "stream": "\(name)", "error_type": "\(type(of: error))"])
            return
        }
        for event in events {
            guard let current = watched[name], event.offset > current.offset else { continue }
            watched[name] = (event.offset, current.subscriptions)
            if Self.membershipKinds.contains(event.kind) { scheduleRecheck(after: event) }
        }
        if events.count == Self.readBatch { await watchMembership(of: name) }
    }

    /// Someone left or was removed, or the group's visibility changed: subscriptions that
    /// the policy no longer allows are revoked.
    private func scheduleRecheck(after event: EventStore.StoredEvent) {
        var account: AccountID?
        if event.kind != "group.updated" {
            do {
                account = try JSONDecoder().decode(MembershipPayload.self, from: Data(event.payload.utf8)).accountId
            } catch {
                // Whose membership ended is unreadable: every subscription on the stream is
                // checked rather than none (checking a member who still belongs costs a query).
                logger.warning("membership event without a readable account; re-checking every subscription", metadata: [
                    "stream": "\(event.stream)", "kind": "\(event.kind)"])
            }
        }
        let watch = event.stream
        Task { await self.recheck(watch: watch, account: account) }
    }

    func recheck(watch: String, account: AccountID?) async {
        var affected: [(StreamSubscriber, String)] = []
        for (name, state) in streams {
            for (subscriber, subscription) in state.subscriptions
            where subscription.watch == watch && (account == nil || subscriber.actor.accountID == account) {
                affected.append((subscriber, name))
            }
        }
        for (subscriber, name) in affected {
            guard let stream = StreamName(name) else { continue }
            let verdict = await checkWithRetries(subscriber, stream)
            if case .allowed? = verdict { continue }
            unsubscribe(subscriber, from: stream)
            if verdict == nil {
                // The database stayed away through every retry: closed rather than left open
                // on a guess (this re-check exists because access may have ended), but not
                // called a revocation, which a client shows as "you no longer belong". The
                // client subscribes again and is checked afresh.
                logger.warning("could not recheck a subscription; unsubscribed until the client subscribes again", metadata: ["stream": "\(name)"])
                subscriber.send(#"{"type":"error","code":"recheck_failed","stream":"\#(name)","message":"the server could not confirm this subscription; subscribe again"}"#)
            } else {
                subscriber.send(#"{"type":"revoked","stream":"\#(name)"}"#)
            }
        }
    }

    /// The policy's verdict, tried a few times over about three seconds: a moment's database
    /// error must not revoke a member who still belongs. Nil when every try failed.
    private func checkWithRetries(_ subscriber: StreamSubscriber, _ stream: StreamName) async -> StreamAuthorizer.Verdict? {
        var delay: Duration = .milliseconds(100)
        for attempt in 1...5 {
            do {
                return try await authorizer.check(subscriber.actor, stream, logger: logger)
            } catch {
                recheckErrors.increment()
                logger.warning("subscription recheck failed; retrying", metadata: [
                    "stream": "\(stream)", "attempt": "\(attempt)", "error_type": "\(type(of: error))"])
                if attempt == 5 { break }
                do { try await Task.sleep(for: delay) } catch { return nil }
                delay = delay * 2
            }
        }
        return nil
    }

    // MARK: - Frames

    /// The wire form of an event, built once and shared by every recipient. `payload` is
    /// JSON produced by PostgreSQL from our own encoder; stream and kind are identifiers.
    static func frame(for event: EventStore.StoredEvent) -> ByteBuffer {
        ByteBuffer(string: #"{"type":"event","stream":"\#(event.stream)","offset":\#(event.offset),"kind":"\#(event.kind)","data":\#(event.payload)}"#)
    }
}
