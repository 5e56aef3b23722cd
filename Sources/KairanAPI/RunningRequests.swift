import NIOCore
import Synchronization

/// The requests running now, each with its deadline and its connection, looked at by one
/// sweep every `interval` while any is running, and by nothing while none is (an idle
/// server sets no timer). A request out of time, or whose client closed the connection, is
/// cancelled, and `end` tells it why.
///
/// Why one sweep and not a watcher per request: a second child task per request sleeping
/// in slices (a task, a Dispatch timer armed and cancelled, a wake of Dispatch's timer
/// thread) cost about 40 µs of CPU per request, measured with `/healthz`: 91 µs against 49
/// without any watch (BENCHMARKS.md, REST, 2026-12-03). A request that ends in time now
/// costs two short locks.
final class RunningRequests: Sendable {
    enum Verdict: Sendable {
        case timedOut
        case clientClosed
    }

    /// The request's task, to cancel it from the sweep. Sendable by this type's rule: used
    /// only under `state`'s lock and only while its entry is registered, and the task
    /// removes its entry (`end`) before it returns, so it is alive whenever it is cancelled.
    private struct RequestTask: @unchecked Sendable {
        let task: UnsafeCurrentTask
    }

    private struct Entry {
        let task: RequestTask
        let deadline: ContinuousClock.Instant
        /// nil: no client that could leave (the framework's in-process test channel).
        let connection: (any Channel)?
        var verdict: Verdict?
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        var sweeping = false
    }

    private let state = Mutex(State())
    /// How late a deadline may be noticed, and a client gone.
    let interval: Duration

    init(interval: Duration) {
        self.interval = interval
    }

    /// Registers the calling task until `end`, which it must call before it returns.
    func begin(deadline: ContinuousClock.Instant, connection: (any Channel)?) -> UInt64 {
        let (id, startSweep) = withUnsafeCurrentTask { task -> (UInt64, Bool) in
            // An async function always runs in a task.
            guard let task else { preconditionFailure("RunningRequests.begin called outside a task") }
            return state.withLock { state in
                let id = state.nextID
                state.nextID &+= 1
                state.entries[id] = Entry(task: RequestTask(task: task), deadline: deadline, connection: connection, verdict: nil)
                defer { state.sweeping = true }
                return (id, !state.sweeping)
            }
        }
        if startSweep {
            // Detached: it belongs to no request, inherits none's task-locals, and is never
            // cancelled; it ends at the first sweep that finds nothing running.
            Task.detached { await self.sweep() }
        }
        return id
    }

    /// Whether a sweep is scheduled (none while nothing runs).
    var isSweeping: Bool { state.withLock { $0.sweeping } }

    /// Unregisters; returns why the request was cancelled, if it was.
    func end(_ id: UInt64) -> Verdict? {
        state.withLock { $0.entries.removeValue(forKey: id)?.verdict }
    }

    private func sweep() async {
        while true {
            try? await Task.sleep(for: interval)
            let now = ContinuousClock.now
            let goOn = state.withLock { state -> Bool in
                guard !state.entries.isEmpty else {
                    state.sweeping = false
                    return false
                }
                for (id, entry) in state.entries where entry.verdict == nil {
                    let verdict: Verdict
                    if now >= entry.deadline {
                        verdict = .timedOut
                    } else if let connection = entry.connection, !connection.isActive {
                        verdict = .clientClosed
                    } else {
                        continue
                    }
                    state.entries[id]?.verdict = verdict
                    // Under the lock, so the task cannot end meanwhile. Its cancellation
                    // handlers (a pool wait, a query) run here and never take this lock.
                    entry.task.task.cancel()
                }
                return true
            }
            if !goOn { return }
        }
    }
}
