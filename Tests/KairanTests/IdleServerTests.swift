import Foundation
import KairanCore
import KairanDelivery
import KairanStore
import Testing

/// An idle server sleeps: its workers wait for a NOTIFY or the earliest due time instead of
/// polling. Counted in passes of their loops (not timed): the first version's mail worker
/// woke itself after every wake-up and made about 45 claims a second doing nothing.
@Suite struct IdleServerTests {
    /// Runs `body` while `service` runs in the background, then stops it.
    private func whileRunning(_ run: @escaping @Sendable () async throws -> Void, _ body: () async throws -> Void) async throws {
        let task = Task { try await run() }
        defer { task.cancel() }
        try await body()
    }

    private func waitUntil(_ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("timed out waiting for \(what)")
    }

    @Test func anIdleMailWorkerSleepsYetANotifyOrADueRetryWakesIt() async throws {
        try await TestDatabase.withFreshDatabase { url in
            try await TestDatabase.withClient(url) { database in
                let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kairan-idle-\(UUID().uuidString)")
                defer { try? FileManager.default.removeItem(at: folder) }
                // The safety timer is ten minutes: whatever is sent below was woken by a
                // NOTIFY or by the worker's own due-time sleep.
                let harness = DeliveryHarness(database: database, clock: .running(), transport: try MaildirTransport(directory: folder.path),
                                              listenURL: url) { $0.pollInterval = .seconds(600) }
                let worker = harness.worker
                try await whileRunning({ try await worker.run() }) {
                    try await waitUntil("the first pass") { worker.passes.count >= 1 }
                    let settled = worker.passes.count
                    try await Task.sleep(for: .seconds(3))
                    #expect(worker.passes.count - settled <= 1, "an idle worker made \(worker.passes.count - settled) passes in 3 s")

                    // New work is committed: the NOTIFY wakes the worker.
                    let now = try await harness.publish(to: ["taro@example.jp"])
                    try await waitUntil("the new mail to be sent") { try await harness.deliveries(message: now).allSatisfy { $0.state == "sent" } }

                    // Work due in 1.5 s: no NOTIFY finds it due, the worker sleeps until then.
                    let later = try await harness.publish(to: ["hanako@example.jp"], dueIn: 1.5)
                    try await waitUntil("the due mail to be sent") { try await harness.deliveries(message: later).allSatisfy { $0.state == "sent" } }

                    let busy = worker.passes.count
                    try await Task.sleep(for: .seconds(2))
                    #expect(worker.passes.count - busy <= 1, "after the work, the worker sleeps again")
                }
            }
        }
    }

    @Test func anIdleNoticeSchedulerSleepsYetAScheduledNoticeWakesIt() async throws {
        try await TestDatabase.withFreshDatabase { url in
            try await TestDatabase.withClient(url) { database in
                let scheduler = NoticeScheduler(database: database, listenURL: url, clock: TestClock.running(), interval: .seconds(600),
                                                logger: TestDatabase.logger)
                try await whileRunning({ try await scheduler.run() }) {
                    try await waitUntil("the first pass") { scheduler.passes.count >= 1 }
                    let settled = scheduler.passes.count
                    try await Task.sleep(for: .seconds(3))
                    #expect(scheduler.passes.count - settled <= 1, "an idle scheduler made \(scheduler.passes.count - settled) passes in 3 s")

                    // Any statement that moves a notice's release or escalation time wakes the
                    // scheduler on commit (a statement trigger: it fires even for no rows).
                    let before = scheduler.passes.count
                    _ = try await database.withTransaction { db in
                        try await db.query("UPDATE notices SET release_at = release_at WHERE id = -1")
                    }
                    try await waitUntil("a pass after the notification") { scheduler.passes.count > before }
                }
            }
        }
    }
}
