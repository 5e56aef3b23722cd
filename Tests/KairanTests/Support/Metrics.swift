import Foundation
import HummingbirdTesting
import KairanAPI

/// A counter's value as `/metrics` shows it (0 when it has not been written yet).
func metricValue(_ name: String, in text: String) -> Double {
    text.split(separator: "\n").first { $0.hasPrefix(name + " ") || $0.hasPrefix(name + "{") }
        .flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
}

/// A counter's value in this process's registry (parts run by a test outside an app).
func metricValue(_ name: String) -> Double {
    var bytes: [UInt8] = []
    KairanMetrics.registry.emit(into: &bytes)
    return metricValue(name, in: String(decoding: bytes, as: UTF8.self))
}

/// Polls the app's `/metrics` until a counter satisfies `condition` (the work that counts is
/// asynchronous), failing after `timeout`.
func waitForMetric(_ client: any TestClientProtocol, _ name: String, timeout: Duration = .seconds(10), _ condition: (Double) -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while true {
        let value = metricValue(name, in: try await client.send(.get, "/metrics").text)
        if condition(value) { return }
        guard ContinuousClock.now < deadline else { throw TestSetupError("\(name) stayed at \(value)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}
