import Foundation
import KairanCore
import Synchronization

/// One connected client, as the hub sees it: an account and a bounded outbound queue.
///
/// The hub enqueues frames without waiting; the connection's writer task drains the queue
/// at the pace the socket accepts. A client that falls `capacity` frames behind is cut off
/// (the writer closes the socket) instead of growing the server's memory, and never slows
/// the delivery to anyone else.
public final class StreamSubscriber: Sendable, Hashable {
    public let actor: Actor
    public let capacity: Int
    public let frames: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation
    /// Yields once when the client falls too far behind, so the connection can be cut even
    /// while its writer is stuck on a full socket.
    public let overflowSignal: AsyncStream<Void>
    private let overflowContinuation: AsyncStream<Void>.Continuation
    private let state: Mutex<State>

    struct State {
        var queued = 0
        var overflowed = false
    }

    public init(actor: Actor, capacity: Int) {
        self.actor = actor
        self.capacity = capacity
        (frames, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .unbounded)
        (overflowSignal, overflowContinuation) = AsyncStream.makeStream(of: Void.self)
        state = Mutex(State())
    }

    /// Queues a frame. Returns false (and ends the stream) when the client is too far behind.
    @discardableResult
    public func enqueue(_ frame: String) -> Bool {
        enum Outcome { case accepted, overflowedNow, alreadyOverflowed }
        let outcome = state.withLock { state -> Outcome in
            guard !state.overflowed else { return .alreadyOverflowed }
            if state.queued >= capacity {
                state.overflowed = true
                return .overflowedNow
            }
            state.queued += 1
            return .accepted
        }
        switch outcome {
        case .accepted:
            continuation.yield(frame)
            return true
        case .overflowedNow:
            continuation.finish()
            overflowContinuation.yield()
            overflowContinuation.finish()
            return false
        case .alreadyOverflowed:
            return false
        }
    }

    /// The writer took one frame off the queue.
    public func didWrite() {
        state.withLock { $0.queued -= 1 }
    }

    public var overflowed: Bool { state.withLock { $0.overflowed } }

    /// No more frames (the connection is closing).
    public func finish() {
        continuation.finish()
        overflowContinuation.finish()
    }

    public static func == (lhs: StreamSubscriber, rhs: StreamSubscriber) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}
