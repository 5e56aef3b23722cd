import Logging

/// At most `limit` sessions open; idle ones are reused; callers that must wait are served
/// strictly in the order they came. A session checked in while someone waits goes straight
/// to the longest waiter, and so does a freed slot: a caller arriving later can never take
/// what a woken waiter was woken for.
actor SessionPool<Session: AnyObject & Sendable> {
    private let limit: Int
    private let logger: Logger
    private let open: @Sendable () async throws -> Session
    private let isUsable: @Sendable (Session) -> Bool
    private let close: @Sendable (Session) async -> Void
    private var idle: [Session] = []
    /// Sessions open or being opened, including slots handed to waiters.
    private var openCount = 0
    private var waiters: [CheckedContinuation<Grant, any Error>] = []
    private var closed = false

    /// What a waiter is given when its turn comes.
    private enum Grant: Sendable {
        case session(Session)
        /// A slot, counted for it already: it opens its own session.
        case slot
    }

    init(limit: Int, logger: Logger, open: @escaping @Sendable () async throws -> Session,
         isUsable: @escaping @Sendable (Session) -> Bool, close: @escaping @Sendable (Session) async -> Void) {
        self.limit = max(1, limit)
        self.logger = logger
        self.open = open
        self.isUsable = isUsable
        self.close = close
    }

    struct PoolClosed: Error {}

    /// Callers waiting for a session (for tests and metrics).
    var waiting: Int { waiters.count }

    func checkout() async throws -> Session {
        guard !closed else { throw PoolClosed() }
        while let session = idle.popLast() {
            if isUsable(session) { return session }
            openCount -= 1
            Task { await close(session) }
        }
        if openCount < limit && waiters.isEmpty {
            openCount += 1
            return try await openSession()
        }
        switch try await withCheckedThrowingContinuation({ waiters.append($0) }) {
        case .session(let session): return session
        case .slot: return try await openSession()
        }
    }

    /// Opens a session in a slot already counted; a failure frees the slot for the next waiter.
    private func openSession() async throws -> Session {
        do {
            return try await open()
        } catch {
            openCount -= 1
            grantFreeSlots()
            throw error
        }
    }

    func checkin(_ session: Session, reusable: Bool) async {
        if reusable && !closed && isUsable(session) {
            if waiters.isEmpty {
                idle.append(session)
            } else {
                waiters.removeFirst().resume(returning: .session(session))
            }
            return
        }
        openCount -= 1
        grantFreeSlots()
        await close(session)
    }

    /// Hands free slots to waiters, longest waiting first.
    private func grantFreeSlots() {
        while !waiters.isEmpty && openCount < limit && !closed {
            openCount += 1
            waiters.removeFirst().resume(returning: .slot)
        }
    }

    func shutdown() async {
        closed = true
        for waiter in waiters { waiter.resume(throwing: PoolClosed()) }
        waiters = []
        let sessions = idle
        idle = []
        openCount -= sessions.count
        for session in sessions { await close(session) }
    }
}
