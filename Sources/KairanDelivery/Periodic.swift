import Foundation
import KairanCore
import KairanStore
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

/// The loop every claiming worker runs (mail, push, the notice scheduler): a pass, then
/// sleep until a NOTIFY on `channel` says work was committed, until `nextDue` (read after the
/// pass) falls due, or at most `safetyInterval` (what a lost LISTEN connection missed).
/// `pass` returns how many items it handled. `alongside` runs beside the loop and is
/// cancelled with it. Returns when the task is cancelled.
func runWokenPasses(
    listeningTo channel: String, on listenURL: DatabaseURL?, safetyInterval: Duration, firstWaitWithoutListener: Duration,
    clock: any WallClock, logger: Logger, passes: PassCounter, alongside: (@Sendable () async -> Void)? = nil,
    pass: () async -> Int, nextDue: () async -> Date?
) async {
    let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    await withDiscardingTaskGroup { group in
        if let listenURL {
            group.addTask {
                await listenURL.listenUntilCancelled(on: channel, logger: logger) {
                    wake.yield()
                } onNotification: { _ in
                    wake.yield()
                }
            }
        }
        if let alongside { group.addTask { await alongside() } }
        var iterator = wakes.makeAsyncIterator()
        var schedule = IdleSchedule(safetyInterval: safetyInterval)
        // The first pass comes with the LISTEN connection (or the timer): the database pool
        // starts alongside the worker, not necessarily before it.
        await waitForWake(&iterator, timeout: listenURL == nil ? firstWaitWithoutListener : safetyInterval, wake: wake)
        while !Task.isCancelled {
            passes.increment()
            let handled = await pass()
            let wait = schedule.wait(handled: handled, nextDue: await nextDue(), now: clock.now())
            if wait > .zero { await waitForWake(&iterator, timeout: wait, wake: wake) }
        }
        group.cancelAll()
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
