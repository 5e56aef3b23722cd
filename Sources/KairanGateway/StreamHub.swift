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
        enum Phase {
            /// Being sent what it missed, from the log; not yet among the stream's live sockets.
            case replaying
            /// Among the live sockets: gets every dispatched frame, its cursor is the stream's offset.
            case live
            /// A membership change may have ended its access: it gets nothing until the
            /// policy is asked again, then catches up from `cursor` or is revoked.
            case paused
        }

        /// Unique in this hub, so a re-check of an earlier subscription by the same client to
        /// the same stream never acts on this one.
        let id: Int
        var phase: Phase = .replaying
        /// The last offset sent to this client (while not live).
        var cursor: Int64
        /// The stream whose membership events re-check this subscription.
        let watch: String?
        /// The membership changes of `watch` up to this offset were seen by its last check.
        var checkedThrough: Int64
        /// The newest membership change that paused it: a check that saw less is repeated.
        var pausedBy: Int64 = 0
        /// Renewed (from the hub's serial) at each pause, so a catch-up begun before it stops
        /// sending.
        var epoch: Int
        /// A re-check task is looking after it.
        var rechecking = false
        /// `subscribed` has been sent.
        var acknowledged = false
        /// Some of what it missed is gone: `gap` is sent before it goes live.
        var gap = false
    }

    struct StreamState {
        /// The last offset this hub read and dispatched.
        var offset: Int64
        var subscriptions: [StreamSubscriber: Subscription] = [:]
        /// The live subscribers' connections, grouped by event loop, kept up to date as
        /// subscriptions come and go, so a broadcast costs one hop per loop and no per-socket
        /// bookkeeping. A live subscription's cursor is the stream's `offset`.
        var liveByLoop: [ObjectIdentifier: LoopBatch] = [:]
        /// The watched streams of its subscriptions, with how many depend on each.
        var watches: [String: Int] = [:]
        var fetching = false
        var dirty = false
    }

    struct LoopBatch {
        let loop: any EventLoop
        var connections: [ObjectIdentifier: any StreamConnection] = [:]
    }

    /// A stream whose membership changes some local subscriptions depend on (a group's for
    /// the group and its threads, an organization's for its notices).
    struct Watch {
        /// A watch dropped and created again is another watch: a read begun for the old one
        /// is not applied to the new one.
        let generation: Int
        /// Membership changes up to here have been applied (subscriptions paused).
        var offset: Int64
        var subscriptions: Int
        /// The latest changes applied, for a subscription whose check began before them
        /// and that registers after (`nil` account: everyone's access may have changed).
        var recent: [(offset: Int64, account: AccountID?)] = []
        /// Changes up to here are no longer in `recent`.
        var forgottenThrough: Int64

        static let memory = 64

        mutating func remember(_ offset: Int64, _ account: AccountID?) {
            recent.append((offset, account))
            if recent.count > Self.memory {
                forgottenThrough = recent.removeFirst().offset
            }
        }

        /// The newest applied change after `checked` that may concern `account`, if any
        /// (when some were forgotten, the newest of all, to be safe).
        func change(after checked: Int64, for account: AccountID) -> Int64? {
            if forgottenThrough > checked { return offset }
            return recent.last { $0.offset > checked && ($0.account == nil || $0.account == account) }?.offset
        }
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
    /// Streams whose membership events some local subscription depends on: membership
    /// changes there pause and re-check those subscriptions, even when nobody here
    /// subscribes to the watched stream itself.
    private var watched: [String: Watch] = [:]
    private var serial = 0

    private func nextSerial() -> Int {
        serial += 1
        return serial
    }

    private let framesSent = Counter(label: "kairan_ws_frames_queued_total")
    private let readErrors = Counter(label: "kairan_ws_event_read_errors_total")
    private let sessionsEnded = Counter(label: "kairan_ws_closed_session_ended_total")
    private let recheckErrors = Counter(label: "kairan_ws_recheck_errors_total")

    public init(database: Database, clock: any WallClock, logger: Logger, maxReplay: Int = 500, maxSubscriptionsPerClient: Int = 100) {
        self.database = database
        self.authorizer = StreamAuthorizer(clock: clock)
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
        let checked: Checked
        do {
            checked = try await check(subscriber, stream)
        } catch {
            logger.warning("subscribe failed", metadata: ["stream": "\(name)", "error_type": "\(type(of: error))"])
            return .unavailable
        }
        let watch: String?
        switch checked.verdict {
        case .allowed(let value): watch = value
        case .denied(let reason): return .denied(reason)
        case .notFound: return .notFound
        }
        // Two subscribe messages for one stream may both have been checked.
        if bySubscriber[subscriber]?.contains(name) == true {
            return .subscribed(offset: streams[name]?.offset ?? 0)
        }

        // The hub's offset for a stream it already follows is authoritative: events past it
        // reach live subscribers through `wake`. Only a new stream starts at the log's head.
        if streams[name] == nil { streams[name] = StreamState(offset: checked.head) }
        if let watch {
            // A watch new to this hub starts where the check looked: the changes before it
            // are in the verdict, and replaying them would revoke people who rejoined since.
            if watched[watch] == nil {
                watched[watch] = Watch(generation: nextSerial(), offset: checked.watchHead, subscriptions: 0, forgottenThrough: checked.watchHead)
            }
            watched[watch]!.subscriptions += 1
            streams[name]!.watches[watch, default: 0] += 1
        }
        var start = min(after ?? streams[name]!.offset, checked.head)
        var gap = false
        if streams[name]!.offset - start > Int64(maxReplay) {
            start = streams[name]!.offset
            gap = true
        }
        let id = nextSerial()
        streams[name]!.subscriptions[subscriber] = Subscription(id: id, cursor: start, watch: watch, checkedThrough: checked.watchHead, epoch: id, gap: gap)
        bySubscriber[subscriber, default: []].insert(name)

        // A membership change this hub applied while the check was on its way may not be in
        // the verdict: the subscription waits for a fresh one before it is sent anything.
        if let watch, let change = watched[watch]?.change(after: checked.watchHead, for: subscriber.actor.accountID) {
            if pause(subscriber, on: name, by: change) { startRechecks([(subscriber, name)]) }
            return .subscribed(offset: start)
        }
        if start > streams[name]!.offset {
            // The client has seen more than this hub has dispatched (another instance served
            // it): let the hub catch up first, so nothing is sent twice.
            await wake(name)
            for _ in 0..<100 where (streams[name]?.offset ?? start) < start {
                // A cancelled sleep (the socket closed) just ends the wait sooner.
                try? await Task.sleep(for: .milliseconds(20))
            }
            guard let offset = streams[name]?.offset, streams[name]?.subscriptions[subscriber]?.phase == .replaying else {
                return .subscribed(offset: start)
            }
            if offset < start { streams[name]!.subscriptions[subscriber]!.cursor = offset }
        }
        switch await catchUp(subscriber, on: name) {
        case .live, .interrupted:
            let offset = streams[name]?.offset ?? start
            return gap ? .gap(offset: offset) : .subscribed(offset: offset)
        case .unavailable:
            unsubscribe(subscriber, from: stream)
            return .unavailable
        }
    }

    struct Checked {
        let verdict: StreamAuthorizer.Verdict
        /// The stream's head and its watched stream's, in the same snapshot as the verdict.
        let head: Int64
        let watchHead: Int64
    }

    /// The policy's verdict and, from the same snapshot, the heads it has seen.
    private func check(_ subscriber: StreamSubscriber, _ stream: StreamName) async throws -> Checked {
        let name = stream.description
        let authorizer = self.authorizer
        return try await database.withReadSnapshot { db in
            let verdict = try await authorizer.check(subscriber.actor, stream, on: db)
            // Both heads in one read when the subscription watches another stream (a
            // thread watches its group): a subscribe is a handful of round trips, and a
            // reconnect storm multiplies each.
            if case .allowed(let watch?) = verdict, watch != name {
                let (head, watchHead) = try await EventStore.heads(name, watch, on: db)
                return Checked(verdict: verdict, head: head, watchHead: watchHead)
            }
            let head = try await EventStore.head(name, on: db)
            let watchHead: Int64 = if case .allowed(let watch?) = verdict, watch == name { head } else { 0 }
            return Checked(verdict: verdict, head: head, watchHead: watchHead)
        }
    }

    enum CatchUpResult {
        case live
        /// Paused or unsubscribed meanwhile: whoever did that carries on.
        case interrupted
        case unavailable
    }

    /// Sends a replaying subscription what it missed, from the log, up to what the hub has
    /// dispatched, until the cursor meets the hub's offset; only then does it go live. Check
    /// and switch happen without suspending, so no event can fall between replay and live
    /// delivery, and none comes twice; `subscribed` is sent at that same moment, so it
    /// precedes every live event. Like `wake`, each read also brings the membership changes
    /// of the subscription's watched stream from the same snapshot, applied before anything
    /// is sent: a stream the hub started following at a check's head (another client's) may
    /// hold events its membership state has not caught up with, and a replayed post that
    /// committed after a removal is never sent to the removed member.
    private func catchUp(_ subscriber: StreamSubscriber, on name: String) async -> CatchUpResult {
        guard let epoch = streams[name]?.subscriptions[subscriber]?.epoch else { return .interrupted }
        while true {
            guard let subscription = streams[name]?.subscriptions[subscriber], subscription.epoch == epoch, subscription.phase == .replaying else {
                return .interrupted
            }
            let target = streams[name]!.offset
            if subscription.cursor >= target {
                goLive(subscriber, on: name)
                return .live
            }
            let cursors = subscription.watch.flatMap { watch in watched[watch].map { [WatchCursor(stream: watch, watch: $0)] } } ?? []
            let read: EventStore.ReadWithMembership
            do {
                read = try await database.withConnection { db in
                    try await EventStore.read(
                        name, after: subscription.cursor, through: target, limit: 200, membershipOf: cursors.map { ($0.stream, $0.after) },
                        kinds: Self.membershipKindList, limitEach: Self.readBatch, on: db)
                }
            } catch {
                readErrors.increment()
                return .unavailable
            }
            let moreMembership = apply(read, cursors: cursors)
            guard let current = streams[name]?.subscriptions[subscriber], current.epoch == epoch, current.phase == .replaying else {
                return .interrupted
            }
            if moreMembership { continue }
            let events = read.events
            if events.first.map({ $0.offset > current.cursor + 1 }) ?? true {
                // Some of what the client missed was deleted by retention: it refetches over
                // REST, and live delivery starts from the hub's offset.
                streams[name]!.subscriptions[subscriber]!.gap = true
                streams[name]!.subscriptions[subscriber]!.cursor = target
                continue
            }
            for event in events where event.offset > streams[name]!.subscriptions[subscriber]!.cursor {
                streams[name]!.subscriptions[subscriber]!.cursor = event.offset
                subscriber.send(Self.frame(for: event))
            }
        }
    }

    private func goLive(_ subscriber: StreamSubscriber, on name: String) {
        guard var subscription = streams[name]?.subscriptions[subscriber] else { return }
        let target = streams[name]!.offset
        subscription.phase = .live
        let loop = subscriber.connection.eventLoop
        streams[name]!.liveByLoop[ObjectIdentifier(loop), default: LoopBatch(loop: loop)]
            .connections[ObjectIdentifier(subscriber.connection)] = subscriber.connection
        if subscription.gap { subscriber.send(#"{"type":"gap","stream":"\#(name)","offset":\#(target)}"#) }
        if !subscription.acknowledged { subscriber.send(#"{"type":"subscribed","stream":"\#(name)","offset":\#(target)}"#) }
        subscription.gap = false
        subscription.acknowledged = true
        streams[name]!.subscriptions[subscriber] = subscription
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
            let ended = try await database.withConnection { db in
                try await SessionStore.ended(among: ids, now: now, on: db)
            }
            endSessions(ended)
        } catch {
            // Kept open rather than closed on a guess; the next reconnect checks again.
            logger.warning("could not recheck stream sessions", metadata: ["error_type": "\(type(of: error))"])
        }
    }

    private func drop(_ subscriber: StreamSubscriber, from name: String) {
        guard let subscription = streams[name]?.subscriptions.removeValue(forKey: subscriber) else { return }
        if subscription.phase == .live { leaveLive(subscriber, on: name) }
        if let watch = subscription.watch {
            streams[name]!.watches[watch]! -= 1
            if streams[name]!.watches[watch] == 0 { streams[name]!.watches[watch] = nil }
            if let current = watched[watch] {
                if current.subscriptions > 1 { watched[watch]!.subscriptions -= 1 } else { watched[watch] = nil }
            }
        }
        if streams[name]?.subscriptions.isEmpty == true { streams[name] = nil }
    }

    private func leaveLive(_ subscriber: StreamSubscriber, on name: String) {
        let loop = ObjectIdentifier(subscriber.connection.eventLoop)
        streams[name]!.liveByLoop[loop]?.connections[ObjectIdentifier(subscriber.connection)] = nil
        if streams[name]!.liveByLoop[loop]?.connections.isEmpty == true { streams[name]!.liveByLoop[loop] = nil }
    }

    // MARK: - Waking

    /// Something was committed to `stream` (a NOTIFY arrived).
    ///
    /// The stream's new events are read together with the membership changes of the streams
    /// its subscriptions depend on, in one statement, and the changes are applied (the
    /// subscriptions they may end are paused) before any of the events is dispatched. A
    /// post committed after a removal is therefore never sent to the removed member: the
    /// snapshot that holds the post holds the removal too.
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
            // A stream's own membership changes reach the hub as it dispatches them, unless the
            // hub started following it at a check's head past what its watch has applied.
            let cursors = state.watches.keys.compactMap { watch -> WatchCursor? in
                guard let current = watched[watch], watch != name || current.offset < state.offset else { return nil }
                return WatchCursor(stream: watch, watch: current)
            }
            let read: EventStore.ReadWithMembership
            do {
                read = try await database.withConnection { db in
                    if cursors.isEmpty {
                        return EventStore.ReadWithMembership(
                            events: try await EventStore.read(name, after: state.offset, limit: Self.readBatch, on: db))
                    }
                    return try await EventStore.read(
                        name, after: state.offset, limit: Self.readBatch, membershipOf: cursors.map { ($0.stream, $0.after) },
                        kinds: Self.membershipKindList, limitEach: Self.readBatch, on: db)
                }
            } catch {
                readErrors.increment()
                logger.warning("reading events failed; the next notification retries", metadata: ["stream": "\(name)"])
                return
            }
            guard streams[name] != nil else { return }
            logger.debug("wake read", metadata: [
                "stream": "\(name)", "after": "\(state.offset)", "count": "\(read.events.count)", "membership": "\(read.membership.count)"])
            // More changes than one read brings: the events wait for the rest (one of them
            // may be the removal that precedes them).
            if apply(read, cursors: cursors) { continue }
            for event in read.events { dispatch(event) }
            if read.events.count < Self.readBatch && !(streams[name]?.dirty ?? false) { return }
        }
    }

    /// Several streams were committed to at once (a notice reaching hundreds of guardians'
    /// own streams): the new events of all of them are read in one query instead of one
    /// query per stream, then dispatched exactly as `wake` would. Streams already being
    /// read, streams whose subscriptions depend on another stream's membership, watched-only
    /// streams and streams with more than one batch pending take the one-stream path.
    public func wake(_ names: some Collection<String>) async {
        // Partitioned and marked without suspending, so no one-stream read can start on a
        // batched stream while the batch is being read.
        var batch: [(String, Int64)] = []
        var others: [String] = []
        for name in Set(names) {
            if let state = streams[name], !state.fetching,
               state.watches.keys.allSatisfy({ $0 == name && (watched[$0]?.offset ?? .max) >= state.offset }) {
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
            events = try await database.withConnection { db in
                try await EventStore.read(batch, limitEach: Self.readBatch, on: db)
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
    /// frame encoded once), and moves the offset on. A membership change is sent first,
    /// then applied: the member it concerns sees it, and nothing after it until re-checked.
    private func dispatch(_ event: EventStore.StoredEvent) {
        guard let state = streams[event.stream], event.offset > state.offset else { return }
        let batches = state.liveByLoop
        broadcast(Self.frame(for: event), to: batches.values)
        framesSent.increment(by: batches.values.reduce(0) { $0 + $1.connections.count })
        streams[event.stream]!.offset = event.offset
        if watched[event.stream] != nil { applyMembership(event) }
    }

    /// After the notification connection was lost: every stream may have missed wake-ups.
    public func wakeAll() async {
        for name in Set(streams.keys).union(watched.keys) { await wake(name) }
    }

    // MARK: - Membership changes

    /// Events read per query when woken. Well under a client's queue capacity, so a burst
    /// never overflows a client that keeps up.
    static let readBatch = 100

    static let membershipKinds: Set<String> = [
        "member.removed", "member.banned", "member.left", "group.made_private", "staff.removed", "staff.changed", "teacher.removed",
    ]
    static let membershipKindList = membershipKinds.sorted()

    private struct MembershipPayload: Decodable {
        let accountId: AccountID?
    }

    /// Reads a watched stream that nobody here subscribes to, for membership changes only.
    private func watchMembership(of name: String) async {
        guard let current = watched[name] else { return }
        let cursor = WatchCursor(stream: name, watch: current)
        let read: EventStore.ReadWithMembership
        do {
            read = try await database.withConnection { db in
                // The events part asks for nothing (no stream has that name).
                try await EventStore.read("", after: 0, limit: 0, membershipOf: [(name, cursor.after)], kinds: Self.membershipKindList,
                                          limitEach: Self.readBatch, on: db)
            }
        } catch {
            // The offset stays where it was: the next notification for this stream (or the
            // reconnect's wakeAll) reads the same changes again.
            readErrors.increment()
            logger.warning("reading membership events failed; the next notification retries", metadata: [
                "stream": "\(name)", "error_type": "\(type(of: error))"])
            return
        }
        logger.debug("membership read", metadata: [
            "stream": "\(name)", "after": "\(current.offset)", "count": "\(read.membership.count)", "head": "\(read.heads[name] ?? -1)"])
        if apply(read, cursors: [cursor]) { await watchMembership(of: name) }
    }

    /// Where a read of a watched stream's membership changes began.
    struct WatchCursor {
        let stream: String
        let after: Int64
        let generation: Int
        init(stream: String, watch: Watch) {
            self.stream = stream
            after = watch.offset
            generation = watch.generation
        }
    }

    /// Applies the membership changes a read brought, watch by watch, and moves each watch
    /// to the head the read saw when it brought every change up to it. True when a watch
    /// needs reading again before anything read with it is sent (more changes than one read
    /// brings, or the watch was dropped and created again meanwhile).
    private func apply(_ read: EventStore.ReadWithMembership, cursors: [WatchCursor]) -> Bool {
        var again = false
        for cursor in cursors {
            guard let current = watched[cursor.stream] else { continue }
            guard current.generation == cursor.generation else {
                again = true
                continue
            }
            let changes = read.membership.filter { $0.stream == cursor.stream }
            for change in changes { applyMembership(change) }
            if changes.count >= Self.readBatch {
                again = true
            } else if let head = read.heads[cursor.stream], let now = watched[cursor.stream], now.offset < head {
                // Every change up to the head was in the snapshot: later reads start there.
                watched[cursor.stream]!.offset = head
            }
        }
        return again
    }

    /// Applies one event of a watched stream (once, in offset order): a membership change
    /// pauses, without suspending, every subscription depending on that stream that it may
    /// concern and its last check did not see; re-checks then resume or revoke them.
    private func applyMembership(_ event: EventStore.StoredEvent) {
        let watch = event.stream
        guard let current = watched[watch], event.offset > current.offset else { return }
        watched[watch]!.offset = event.offset
        guard Self.membershipKinds.contains(event.kind) else { return }
        var account: AccountID?
        do {
            let payload = try JSONDecoder().decode(MembershipPayload.self, from: Data(event.payload.utf8))
            // A group made private may end every outsider's access: everyone is re-checked.
            if event.kind != "group.made_private" { account = payload.accountId }
        } catch {
            // Whose membership ended is unreadable: every subscription on the stream is
            // checked rather than none (checking a member who still belongs costs a query).
            logger.warning("membership event without a readable account; re-checking every subscription", metadata: [
                "stream": "\(event.stream)", "kind": "\(event.kind)"])
        }
        watched[watch]!.remember(event.offset, account)
        var paused: [(StreamSubscriber, String)] = []
        for (name, state) in streams where state.watches[watch] != nil {
            for (subscriber, subscription) in state.subscriptions
            where subscription.watch == watch && subscription.checkedThrough < event.offset
                && (account == nil || subscriber.actor.accountID == account) {
                if pause(subscriber, on: name, by: event.offset) { paused.append((subscriber, name)) }
            }
        }
        startRechecks(paused)
    }

    /// Takes a subscription off the live sockets (or stops its replay) until its access is
    /// checked again. True when nobody is re-checking it yet.
    private func pause(_ subscriber: StreamSubscriber, on name: String, by change: Int64) -> Bool {
        guard var subscription = streams[name]?.subscriptions[subscriber] else { return false }
        subscription.pausedBy = max(subscription.pausedBy, change)
        switch subscription.phase {
        case .live:
            leaveLive(subscriber, on: name)
            subscription.cursor = streams[name]!.offset
        case .replaying, .paused:
            break
        }
        subscription.phase = .paused
        subscription.epoch = nextSerial()
        let start = !subscription.rechecking
        subscription.rechecking = true
        streams[name]!.subscriptions[subscriber] = subscription
        return start
    }

    /// Re-checks side by side (a few at a time, so a group's whole audience does not wait
    /// behind one another, nor take every pooled connection).
    private func startRechecks(_ paused: [(StreamSubscriber, String)]) {
        guard !paused.isEmpty else { return }
        Task {
            await withTaskGroup(of: Void.self) { group in
                var running = 0
                for (subscriber, name) in paused {
                    if running == Self.concurrentRechecks {
                        await group.next()
                        running -= 1
                    }
                    group.addTask { await self.recheck(subscriber, on: name) }
                    running += 1
                }
            }
        }
    }

    static let concurrentRechecks = 8

    /// Asks the policy again for a paused subscription: allowed, it catches up from where it
    /// stopped and goes live again (nothing lost, nothing twice); otherwise it ends with
    /// `revoked`, or with `recheck_failed` when the database could not answer.
    func recheck(_ subscriber: StreamSubscriber, on name: String) async {
        guard let stream = StreamName(name), let id = streams[name]?.subscriptions[subscriber]?.id else { return }
        defer {
            if streams[name]?.subscriptions[subscriber]?.id == id { streams[name]?.subscriptions[subscriber]?.rechecking = false }
        }
        while let subscription = streams[name]?.subscriptions[subscriber], subscription.id == id, subscription.phase == .paused {
            let checked = await checkWithRetries(subscriber, stream)
            guard let current = streams[name]?.subscriptions[subscriber], current.id == id, current.phase == .paused else { return }
            switch checked?.verdict {
            case .allowed?:
                // A change newer than what this check saw paused it meanwhile: ask again.
                guard checked!.watchHead >= current.pausedBy else { continue }
                streams[name]!.subscriptions[subscriber]!.checkedThrough = checked!.watchHead
                streams[name]!.subscriptions[subscriber]!.phase = .replaying
                switch await catchUp(subscriber, on: name) {
                case .live: return
                case .interrupted: continue
                case .unavailable:
                    unsubscribe(subscriber, from: stream)
                    subscriber.sendError("recheck_failed", "the server could not confirm this subscription; subscribe again", stream: name)
                    return
                }
            case nil:
                // The database stayed away through every retry: closed rather than left open
                // on a guess (this re-check exists because access may have ended), but not
                // called a revocation, which a client shows as "you no longer belong". The
                // client subscribes again and is checked afresh.
                logger.warning("could not recheck a subscription; unsubscribed until the client subscribes again", metadata: ["stream": "\(name)"])
                unsubscribe(subscriber, from: stream)
                subscriber.sendError("recheck_failed", "the server could not confirm this subscription; subscribe again", stream: name)
                return
            case .denied?, .notFound?:
                unsubscribe(subscriber, from: stream)
                subscriber.send(#"{"type":"revoked","stream":"\#(name)"}"#)
                return
            }
        }
    }

    /// The policy's verdict, tried a few times over about three seconds: a moment's database
    /// error must not revoke a member who still belongs. Nil when every try failed.
    private func checkWithRetries(_ subscriber: StreamSubscriber, _ stream: StreamName) async -> Checked? {
        var delay: Duration = .milliseconds(100)
        for attempt in 1...5 {
            do {
                return try await check(subscriber, stream)
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
