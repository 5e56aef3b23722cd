import Foundation
import KairanCore
import KairanDelivery
import KairanStore
import PostgresNIO
import Testing

/// The town's relay dies for a minute in the middle of a 防災メール and comes back: nobody
/// is lost, nobody gets it twice beyond what was on the wire when it died, and no job is
/// used up or left stuck by the outage.
@Suite struct RelayOutageTests {
    @Test(.timeLimit(.minutes(5)))
    func anAlertSurvivesTheRelayGoingDownForAMinute() async throws {
        let recipients = 3_000
        let outage: Duration = .seconds(60)
        let sink = ScriptedSMTPServer()
        try await sink.start()
        let logger = TestDatabase.logger
        try await TestDatabase.withFreshDatabase { url in
            try await enqueueUrgentAlert(toSubscribers: recipients, on: url)
            func states() async throws -> [String: Int] { try await deliveryStates(on: url) }

            let worker = try KairanProcess(["serve", "--role", "worker", "--port", "\(try freeTCPPort())", "--inbound-smtp", "off",
                                            "--smtp-relay", "127.0.0.1:\(sink.port)", "--log-level", "warning"],
                                           environment: ["KAIRAN_DATABASE_URL": url.urlString])
            defer { worker.terminate() }
            let started = Date().addingTimeInterval(60)
            while sink.transactions.count < 500 && Date() < started { try await Task.sleep(for: .milliseconds(10)) }
            let port = await sink.goDown()
            let acceptedBeforeOutage = sink.transactions.count
            #expect(acceptedBeforeOutage >= 500 && acceptedBeforeOutage < recipients, "the relay died mid-alert (\(acceptedBeforeOutage) accepted)")

            // While it is down: nothing is given up on, nothing is marked sent that was not.
            try await Task.sleep(for: outage)
            let during = try await states()
            #expect((during["failed"] ?? 0) + (during["dead"] ?? 0) == 0, "no job given up during the outage: \(during)")
            #expect((during["sent"] ?? 0) <= acceptedBeforeOutage, "only what the relay took is sent: \(during)")
            #expect((during["queued"] ?? 0) > 0, "the rest waits: \(during)")
            #expect(sink.transactions.count == acceptedBeforeOutage)

            // Back on the same address: the worker goes on by itself.
            try await sink.start(port: port)
            let finish = Date().addingTimeInterval(120)
            var after = try await states()
            while Date() < finish {
                after = try await states()
                if after["sent"] == recipients { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(after == ["sent": recipients], "every job sent after the relay came back: \(after) \(worker.output.suffix(1500))")

            let accepted = sink.transactions.flatMap(\.recipients)
            let distinct = Set(accepted)
            #expect(distinct.count == recipients, "every subscriber reached")
            // Sent twice at most: a message whose end of data was on the wire when the relay
            // died (the relay may have taken it without our hearing), one per open session.
            let policies = DomainPolicies.japaneseCarrierDefaults
            let sessions = ["docomo.ne.jp", "ezweb.ne.jp", "softbank.ne.jp", "example.jp"].reduce(0) { $0 + policies.policy(for: $1).maxSessions }
            #expect(accepted.count - distinct.count <= sessions, "duplicates (\(accepted.count - distinct.count)) at most one per open session (\(sessions))")
            let attempts = try await url.withSingleConnection(logger: logger) { db in
                var most = 0
                for try await n in try await db.query("SELECT coalesce(max(attempts), 0)::int FROM deliveries").decode(Int.self) { most = n }
                return most
            }
            #expect(attempts <= 3, "the outage itself used up no attempts (most: \(attempts))")
            #expect(!worker.output.contains("user1@"), "no addresses in the log")
            print("relay outage: \(acceptedBeforeOutage) accepted before, down \(outage), \(accepted.count - distinct.count) sent twice, all \(recipients) sent")
        }
        await sink.stop()
    }
}
