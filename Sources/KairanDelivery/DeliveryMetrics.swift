import KairanStore
import Metrics
import Synchronization

/// Delivery counters per channel and destination domain (configured domains by name, the
/// rest as "other"). Handles are made once per label and reused.
final class DeliveryMetrics: Sendable {
    let policies: DomainPolicies
    private let counters = Mutex<[String: Counter]>([:])
    private let inFlightCount = Mutex<Int>(0)
    private let inFlightGauge = Gauge(label: "kairan_deliveries_in_flight", dimensions: [("channel", "mail")])
    private let deadlineCounter = Counter(label: "kairan_deliveries_deadline_missed_total", dimensions: [("channel", "mail")])

    init(policies: DomainPolicies) {
        self.policies = policies
    }

    private func counter(_ name: String, domain: String) -> Counter {
        let label = policies.metricsLabel(for: domain)
        let key = name + "|" + label
        return counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: name, dimensions: [("channel", "mail"), ("domain", label)])
            counters[key] = counter
            return counter
        }
    }

    func count(_ outcome: DeliveryOutcome, domain: String) {
        switch outcome {
        case .sent: counter("kairan_deliveries_sent_total", domain: domain).increment()
        case .retry: counter("kairan_deliveries_retried_total", domain: domain).increment()
        case .failed, .dead: counter("kairan_deliveries_failed_total", domain: domain).increment()
        case .release, .postpone: break
        }
    }

    func inFlight(_ delta: Int) {
        let value = inFlightCount.withLock { count in
            count += delta
            return count
        }
        inFlightGauge.record(value)
    }

    func deadlineMissed() { deadlineCounter.increment() }

    /// The queued backlog per domain label.
    func queued(_ byDomain: [String: Int]) {
        var totals: [String: Int] = [:]
        for label in policies.byDomain.keys { totals[label] = 0 }
        totals["other"] = 0
        for (domain, count) in byDomain { totals[policies.metricsLabel(for: domain), default: 0] += count }
        for (label, count) in totals {
            Gauge(label: "kairan_deliveries_queued", dimensions: [("channel", "mail"), ("domain", label)]).record(count)
        }
    }
}
