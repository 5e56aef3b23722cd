import Foundation
import Hummingbird
import Metrics
import NIOCore
import Synchronization

/// How many requests a process works on at once, and how many may wait for a turn.
public struct AdmissionLimits: Sendable, Equatable {
    /// Requests being handled at once (each mostly holds a pooled database connection).
    public var running: Int
    /// Requests waiting for a turn; one more is refused at once.
    public var waiting: Int
    /// The longest a request waits for its turn before it is refused.
    public var maxWait: Duration

    public init(running: Int, waiting: Int, maxWait: Duration = .seconds(2)) {
        self.running = running
        self.waiting = waiting
        self.maxWait = maxWait
    }

    /// `running` at once, four times as many in line.
    public static func running(_ running: Int) -> AdmissionLimits {
        AdmissionLimits(running: running, waiting: running * 4)
    }

    /// Sized from the database pool: twice as many requests as connections run (one waits
    /// for a connection while another works).
    public static func forPool(_ connections: Int) -> AdmissionLimits {
        .running(max(4, connections * 2))
    }
}

/// Sheds load before queues grow. Under the limit a request runs at once; above it, it waits
/// in line (first come, first served) for at most `maxWait`; when the line is full, or its
/// head has already waited `maxWait` (the server is not keeping up), a newcomer is refused
/// at once. A refused request did no work, so the client may simply try again later.
///
/// Why at the door rather than the database pool's own queue: a request waiting there has
/// already parsed its body and may have done part of its work, and it waits until the
/// request deadline (10 s) before it is answered 503; here it is answered in microseconds.
public final class AdmissionGate: Sendable {
    public enum Verdict: Sendable { case admitted, refused }

    private enum Waiter {
        /// In line, its continuation not stored yet.
        case registered(since: ContinuousClock.Instant)
        case waiting(since: ContinuousClock.Instant, CheckedContinuation<Verdict, any Error>)
        /// Cancelled before its continuation was stored.
        case cancelled
    }

    private struct State {
        var running = 0
        var waiters: [UInt64: Waiter] = [:]
        var line = CircularBuffer<UInt64>()
        var nextID: UInt64 = 0

        /// When the oldest request still in line arrived.
        mutating func oldestWaiting() -> ContinuousClock.Instant? {
            while let id = line.first {
                switch waiters[id] {
                case .registered(let since), .waiting(let since, _): return since
                case .cancelled, nil: line.removeFirst()
                }
            }
            return nil
        }
    }

    public let limits: AdmissionLimits
    private let state = Mutex(State())
    private let shed = Counter(label: "kairan_requests_shed_total")

    public init(limits: AdmissionLimits) {
        self.limits = limits
    }

    /// Requests running and waiting now (for tests and the metrics page).
    public var load: (running: Int, waiting: Int) {
        state.withLock { ($0.running, $0.waiters.count) }
    }

    /// Waits for a turn. `.admitted` must be followed by exactly one `leave()`.
    public func enter() async throws -> Verdict {
        let now = ContinuousClock.now
        let limits = self.limits
        let decision: (verdict: Verdict?, id: UInt64) = state.withLock { state in
            if state.running < limits.running && state.waiters.isEmpty {
                state.running += 1
                return (.admitted, 0)
            }
            if state.waiters.count >= limits.waiting {
                return (.refused, 0)
            }
            if let oldest = state.oldestWaiting(), now - oldest >= limits.maxWait {
                return (.refused, 0)
            }
            let id = state.nextID
            state.nextID += 1
            state.waiters[id] = .registered(since: now)
            state.line.append(id)
            return (nil, id)
        }
        if let verdict = decision.verdict {
            if verdict == .refused { shed.increment() }
            return verdict
        }
        let id = decision.id
        let verdict = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Verdict, any Error>) in
                state.withLock { state in
                    switch state.waiters[id] {
                    case .cancelled:
                        state.waiters[id] = nil
                        continuation.resume(throwing: CancellationError())
                    case .registered(let since):
                        if state.running < limits.running {
                            // A turn came free while it registered (see `leave`).
                            state.waiters[id] = nil
                            state.running += 1
                            continuation.resume(returning: .admitted)
                        } else {
                            state.waiters[id] = .waiting(since: since, continuation)
                        }
                    case .waiting, nil:
                        preconditionFailure("an admission waiter is stored once")
                    }
                }
            }
        } onCancel: {
            let continuation: CheckedContinuation<Verdict, any Error>? = state.withLock { state in
                switch state.waiters[id] {
                case .registered:
                    state.waiters[id] = .cancelled
                    return nil
                case .waiting(_, let continuation):
                    state.waiters[id] = nil
                    return continuation
                case .cancelled, nil:
                    // Already admitted or refused: the caller goes on (and leaves) as usual.
                    return nil
                }
            }
            continuation?.resume(throwing: CancellationError())
        }
        if verdict == .refused { shed.increment() }
        return verdict
    }

    /// A request admitted earlier is done: the next in line runs, or those that waited too
    /// long are told so.
    public func leave() {
        let now = ContinuousClock.now
        let maxWait = limits.maxWait
        var tooLate: [CheckedContinuation<Verdict, any Error>] = []
        let next: CheckedContinuation<Verdict, any Error>? = state.withLock { state in
            while let id = state.line.popFirst() {
                guard let waiter = state.waiters.removeValue(forKey: id) else { continue }
                switch waiter {
                case .waiting(let since, let continuation):
                    if now - since >= maxWait {
                        tooLate.append(continuation)
                        continue
                    }
                    // Its turn: the running count passes to it unchanged.
                    return continuation
                case .registered(let since):
                    // Between its decision and its continuation: it keeps its place in line
                    // and, finding the turn free when it stores its continuation, takes it.
                    state.waiters[id] = .registered(since: since)
                    state.line.prepend(id)
                    state.running -= 1
                    return nil
                case .cancelled:
                    continue
                }
            }
            state.running -= 1
            return nil
        }
        for continuation in tooLate { continuation.resume(returning: .refused) }
        next?.resume(returning: .admitted)
    }
}

/// Runs each request through the `AdmissionGate`; a refused one is answered 503 with a
/// spread `Retry-After`, so a crowd of clients told to wait does not come back together.
/// Health, readiness, metrics and the static files are never held back: they answer how the
/// server is doing, and cost no database work.
public struct AdmissionMiddleware<Context: RequestContext>: RouterMiddleware {
    let gate: AdmissionGate

    public init(gate: AdmissionGate) {
        self.gate = gate
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if Self.isExempt(request.uri.path) { return try await next(request, context) }
        switch try await gate.enter() {
        case .refused:
            context.logger.notice("request shed: server busy")
            return Self.busyResponse(for: request)
        case .admitted:
            defer { gate.leave() }
            return try await next(request, context)
        }
    }

    static func isExempt(_ path: String) -> Bool {
        path == "/healthz" || path == "/readyz" || path == "/metrics" || path.hasPrefix("/static/")
    }

    static func busyResponse(for request: Request) -> Response {
        let retryAfter = String(Int.random(in: 2...8))
        let path = request.uri.path
        if !path.hasPrefix("/v1/"), request.headers[.accept]?.contains("text/html") == true {
            let html = "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\"><title>回覧板</title></head><body><main><h1>回覧板</h1>"
                + "<p>ただいま混み合っています。\(retryAfter) 秒ほど待ってから、ページを開き直してください。</p></main></body></html>"
            var headers: HTTPFields = [:]
            headers[.contentType] = "text/html; charset=utf-8"
            headers[.retryAfter] = retryAfter
            headers[.cacheControl] = "no-store"
            return Response(status: .serviceUnavailable, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
        }
        var error = APIError.overloaded
        error.headers[.retryAfter] = retryAfter
        return error.makeResponse(for: request)
    }
}
