import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Runs `pass` every `interval` until graceful shutdown. The first pass comes after one
/// interval: periodic work is never urgent, and the database pool starts alongside the
/// service, not necessarily before it. Each pass is its own unit of work (its own
/// transactions), so stopping between passes leaves nothing half-done.
func runPeriodically(every interval: Duration, _ pass: @escaping @Sendable () async -> Void) async {
    do {
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                await pass()
            }
        }
    } catch {
        // Cancelled (graceful shutdown): nothing to finish.
    }
}

/// Waits until `iterator` yields (a NOTIFY, a test's poke) or `timeout` passes, whichever
/// comes first.
///
/// Only a timer that ran its full course wakes the loop. The first version yielded after
/// `try? await Task.sleep` whether the sleep finished or was cancelled, so cancelling the
/// timer after a wake-up woke the loop again: the worker claimed ~45 times a second on an
/// idle server.
func waitForWake(_ iterator: inout AsyncStream<Void>.Iterator, timeout: Duration, wake: AsyncStream<Void>.Continuation) async {
    let timer = Task {
        do { try await Task.sleep(for: timeout) } catch { return }
        wake.yield()
    }
    _ = await iterator.next()
    timer.cancel()
}

/// How long a worker sleeps between passes: until the earliest moment its table says work
/// falls due, never longer than a safety interval (a NOTIFY lost with a dropped LISTEN
/// connection is caught up by then), and never "at once" twice in a row for nothing.
struct IdleSchedule: Sendable {
    /// The longest sleep.
    var safetyInterval: Duration
    /// The first pause after a pass that found due work but could do none of it (another
    /// worker holds it, or it cannot be taken yet); doubles up to `safetyInterval`.
    var firstBackoff: Duration = .milliseconds(250)
    private var fruitlessPasses = 0

    init(safetyInterval: Duration) {
        self.safetyInterval = safetyInterval
    }

    /// The sleep after a pass that handled `handled` items, given the earliest due moment
    /// `nextDue` (nil: nothing scheduled) read after the pass.
    mutating func wait(handled: Int, nextDue: Date?, now: Date) -> Duration {
        guard let nextDue else {
            fruitlessPasses = 0
            return safetyInterval
        }
        let seconds = nextDue.timeIntervalSince(now)
        if seconds > 0 {
            fruitlessPasses = 0
            // A few milliseconds late rather than early: early means one wasted pass.
            return min(safetyInterval, .milliseconds(Int64((seconds * 1000).rounded(.up)) + 5))
        }
        if handled > 0 {
            fruitlessPasses = 0
            return .zero
        }
        fruitlessPasses += 1
        var backoff = firstBackoff
        for _ in 1..<min(fruitlessPasses, 16) { backoff = min(backoff * 2, safetyInterval) }
        return backoff
    }
}

/// How many passes a sleeping loop has made: an idle server must make next to none, and a
/// test can count them without timing anything.
public final class PassCounter: Sendable {
    private let value = Atomic<Int>(0)

    public init() {}

    func increment() { value.add(1, ordering: .relaxed) }

    public var count: Int { value.load(ordering: .relaxed) }
}

/// Keeps a claimed batch's lease alive while it is being sent: `renew` every third of
/// `lease` until the returned task is cancelled (when the batch is done). A failed renewal
/// is logged and tried again at the next beat; the lease itself is the safety net.
func renewingLease(_ lease: TimeInterval, logger: Logger, _ renew: @escaping @Sendable () async throws -> Void) -> Task<Void, Never> {
    Task {
        let interval = Duration.milliseconds(Int64(lease * 1000 / 3))
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            if Task.isCancelled { return }
            do {
                try await renew()
            } catch {
                logger.warning("could not renew a lease", metadata: ["error_type": "\(type(of: error))"])
            }
        }
    }
}
