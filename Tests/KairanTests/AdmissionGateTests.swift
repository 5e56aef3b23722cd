import Foundation
import KairanAPI
import Testing

/// The admission gate's own rules, without a server: who runs, who waits, who is refused.
@Suite struct AdmissionGateTests {
    /// Polls until `condition` holds (a waiter's task reaches the gate in its own time).
    private func eventually(_ what: String, _ condition: () -> Bool) async throws {
        for _ in 0..<200 {
            if condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("never: \(what)")
    }

    @Test func requestsRunUpToTheLimitWaitInLineThenAreRefused() async throws {
        let gate = AdmissionGate(limits: AdmissionLimits(running: 2, waiting: 2, maxWait: .seconds(60)))
        #expect(try await gate.enter() == .admitted)
        #expect(try await gate.enter() == .admitted)
        let first = Task { try await gate.enter() }
        try await eventually("the first waiter is in line") { gate.load.waiting == 1 }
        let second = Task { try await gate.enter() }
        try await eventually("the second waiter is in line") { gate.load.waiting == 2 }
        #expect(try await gate.enter() == .refused, "the line is full")
        gate.leave()
        #expect(try await first.value == .admitted, "first come, first served")
        gate.leave()
        #expect(try await second.value == .admitted)
        #expect(gate.load.running == 2 && gate.load.waiting == 0)
        gate.leave()
        gate.leave()
        #expect(gate.load.running == 0)
    }

    @Test func aCancelledWaiterLeavesTheLineAndTakesNoTurn() async throws {
        let gate = AdmissionGate(limits: AdmissionLimits(running: 1, waiting: 4, maxWait: .seconds(60)))
        #expect(try await gate.enter() == .admitted)
        let cancelled = Task { try await gate.enter() }
        try await eventually("in line") { gate.load.waiting == 1 }
        let next = Task { try await gate.enter() }
        try await eventually("two in line") { gate.load.waiting == 2 }
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        gate.leave()
        #expect(try await next.value == .admitted, "the turn passes over the cancelled waiter")
        gate.leave()
        #expect(gate.load.running == 0 && gate.load.waiting == 0)
    }

    @Test func whenTheLineHasWaitedTooLongNewcomersAreRefusedAndTheStaleAreToldSo() async throws {
        let gate = AdmissionGate(limits: AdmissionLimits(running: 1, waiting: 10, maxWait: .milliseconds(100)))
        #expect(try await gate.enter() == .admitted)
        let stale = Task { try await gate.enter() }
        try await eventually("in line") { gate.load.waiting == 1 }
        try await Task.sleep(for: .milliseconds(150))
        #expect(try await gate.enter() == .refused, "the head of the line has waited longer than allowed")
        gate.leave()
        #expect(try await stale.value == .refused, "its wait ran out before its turn")
        #expect(gate.load.running == 0)
        #expect(try await gate.enter() == .admitted, "an idle gate lets the next one in")
        gate.leave()
    }
}
