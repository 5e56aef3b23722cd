import Foundation
import KairanCore
import Synchronization

/// A clock tests move by hand: expiry is tested by advancing time, never by sleeping.
final class TestClock: WallClock {
    private let current: Mutex<Date>
    /// Whether time also runs on by itself (for the tests of sleeping workers, which wait
    /// for real moments to come).
    private let running: Bool
    private let startedAt = ContinuousClock.now

    init(_ start: Date = Date(timeIntervalSince1970: 1_790_000_000)) {
        current = Mutex(start)
        running = false
    }

    /// A clock that starts now and runs like the wall clock; `advance` still moves it on.
    static func running() -> TestClock { TestClock(running: true) }

    private init(running: Bool) {
        current = Mutex(Date())
        self.running = running
    }

    func now() -> Date {
        let base = current.withLock { $0 }
        guard running else { return base }
        let elapsed = ContinuousClock.now - startedAt
        return base.addingTimeInterval(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    func advance(by interval: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(interval) }
    }
}
