import Foundation
import KairanCore
import KairanStore
import Logging
import Metrics

/// Tells the live stream that alerts made progress, so a town officer's open progress page
/// moves as the mail goes out: `alert.progress` on `alert:<id>` (the page then re-reads its
/// counts; the event carries nothing else). At most one transaction a second per worker,
/// however fast the relay accepts, and none at all when nothing is being sent: the loop
/// runs only while there is something to announce.
actor ProgressAnnouncer {
    static let interval: Duration = .seconds(1)
    static let eventKind = "alert.progress"

    private let database: Database
    private let clock: any WallClock
    private let logger: Logger
    private let failures = Counter(label: "kairan_progress_announcements_failed_total")
    private var touched: Set<Int64> = []
    private var running = false

    init(database: Database, clock: any WallClock, logger: Logger) {
        self.database = database
        self.clock = clock
        self.logger = logger
    }

    /// Messages whose deliveries were just recorded.
    func touch(_ messages: some Sequence<Int64>) {
        touched.formUnion(messages)
        guard !running, !touched.isEmpty else { return }
        running = true
        Task { await self.loop() }
    }

    private func loop() async {
        while !touched.isEmpty {
            let batch = touched
            touched = []
            await announce(batch)
            // The pause is what keeps it to one transaction a second. The task is not
            // cancelled at shutdown; an announcement still pending then is lost, and an open
            // page shows the final counts on its next reload.
            try? await Task.sleep(for: Self.interval)
        }
        running = false
    }

    private struct Progress: Encodable {}

    private func announce(_ messages: Set<Int64>) async {
        let now = clock.now()
        do {
            try await database.withTransaction { db in
                let alerts = try await AlertStore.alertIDs(messages: Array(messages), on: db)
                guard !alerts.isEmpty else { return }
                try await EventStore.appendToEach(alerts.map { EventStore.alertStream($0) }, kind: Self.eventKind, payload: Progress(), now: now, on: db)
            }
        } catch {
            // A page that missed one announcement catches up with the next, or on reload;
            // the counts themselves are in the deliveries, which are already recorded.
            failures.increment()
            logger.warning("alert progress not announced", metadata: ["messages": "\(messages.count)", "error_type": "\(type(of: error))"])
        }
    }
}
