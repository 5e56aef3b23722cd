import Foundation
import KairanStore
import Logging

/// Records the push worker's outcomes in groups: while one transaction commits, the outcomes
/// that arrive wait and go together in the next (group commit, as the mail worker's outcome
/// recorder does), instead of a transaction per push. Each sender waits until its own
/// outcome is committed, so a killed worker still leaves at most its pushes in flight
/// unrecorded (and sent again after the lease).
actor PushOutcomeRecorder {
    typealias Write = @Sendable ([PushStore.RecordedOutcome]) async throws -> Void

    private let write: Write
    private let logger: Logger
    private var waiting: [(PushStore.RecordedOutcome, CheckedContinuation<Void, Never>)] = []
    private var writing = false

    init(logger: Logger, write: @escaping Write) {
        self.logger = logger
        self.write = write
    }

    /// Returns once the outcome is committed (or could not be, after five attempts: then the
    /// push goes again when its lease runs out, as if the worker had been killed).
    func record(_ outcome: PushStore.RecordedOutcome) async {
        await withCheckedContinuation { continuation in
            waiting.append((outcome, continuation))
            if !writing {
                writing = true
                // Not the caller's task: a shutdown that cancels the sender still records
                // what it sent.
                Task { await self.writeWaiting() }
            }
        }
    }

    private func writeWaiting() async {
        while !waiting.isEmpty {
            let batch = waiting
            waiting = []
            let outcomes = batch.map(\.0)
            for attempt in 1...5 {
                do {
                    try await write(outcomes)
                    break
                } catch {
                    logger.warning("recording push outcomes failed", metadata: [
                        "attempt": "\(attempt)", "outcomes": "\(outcomes.count)", "error_type": "\(type(of: error))",
                    ])
                    try? await Task.sleep(for: .milliseconds(200 * attempt))
                }
            }
            for (_, continuation) in batch { continuation.resume() }
        }
        writing = false
    }
}
