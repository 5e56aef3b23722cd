import Foundation
import KairanCore
import KairanDelivery
import KairanStore
import PostgresNIO
import Testing

/// Nothing promised is lost when a worker dies, and little is sent twice: of two real
/// `kairan` worker processes sharing a 10,000-recipient alert, one is killed with SIGKILL in
/// the middle; the other sends what the dead one had claimed once its short lease ends.
@Suite struct DeliveryCrashTests {
    @Test func aWorkerKilledMidSendLosesNobody() async throws {
        let recipients = 10_000
        let sink = ScriptedSMTPServer()
        try await sink.start()
        try await TestDatabase.withFreshDatabase { url in
            // 10,000 subscribers and one urgent alert to all of them, enqueued as the API does.
            let logger = TestDatabase.logger
            #expect(try await enqueueUrgentAlert(toSubscribers: recipients, on: url) == recipients)

            func startWorker() throws -> KairanProcess {
                try KairanProcess(["serve", "--role", "worker", "--port", "\(try freeTCPPort())", "--inbound-smtp", "off",
                                   "--smtp-relay", "127.0.0.1:\(sink.port)", "--delivery-lease", "5", "--log-level", "warning"],
                                  environment: ["KAIRAN_DATABASE_URL": url.urlString])
            }

            // Two workers share the alert, as two instances would; one dies mid-send.
            let doomed = try startWorker()
            let survivor = try startWorker()
            let deadline = Date().addingTimeInterval(120)
            while sink.transactions.count < 1500 && Date() < deadline && doomed.process.isRunning {
                try await Task.sleep(for: .milliseconds(20))
            }
            kill(doomed.process.processIdentifier, SIGKILL)
            _ = await doomed.exitCode()
            let killedAt = Date()
            let acceptedAtKill = sink.transactions.count
            #expect(acceptedAtKill >= 1500 && acceptedAtKill < recipients, "killed mid-send (\(acceptedAtKill) accepted): \(doomed.output.suffix(2000))")
            // What the dead worker had claimed and not recorded (its lease owner ends in its pid).
            let orphans = try await url.withSingleConnection(logger: logger) { db in
                var ids: [Int64] = []
                for try await id in try await db.query("""
                    SELECT id FROM deliveries WHERE state = 'sending' AND lease_owner LIKE \("%:\(doomed.process.processIdentifier)")
                    """).decode(Int64.self) {
                    ids.append(id)
                }
                return ids
            }

            func unsent(among ids: [Int64]?) async throws -> Int {
                try await url.withSingleConnection(logger: logger) { db in
                    var count = 0
                    for try await n in try await db.query("""
                        SELECT count(*)::int FROM deliveries WHERE state <> 'sent' AND (\(ids == nil) OR id = ANY(\(ids ?? [])))
                        """).decode(Int.self) {
                        count = n
                    }
                    return count
                }
            }
            let finish = Date().addingTimeInterval(180)
            var orphansSentAfter: TimeInterval?
            var remaining = recipients
            while Date() < finish {
                if orphansSentAfter == nil, try await unsent(among: orphans) == 0 { orphansSentAfter = Date().timeIntervalSince(killedAt) }
                remaining = try await unsent(among: nil)
                if remaining == 0 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let finishedAfter = Date().timeIntervalSince(killedAt)
            survivor.terminate()
            #expect(await survivor.exitCode() == 0, "worker exits cleanly on SIGTERM")
            #expect(remaining == 0, "every job sent: \(survivor.output.suffix(2000))")
            // The killed worker's claimed, unsent jobs wait for its 5-second lease, not for the
            // end of its batches: the survivor rescues them first at its next claim after that.
            // The margin over the lease is for a busy CI machine; they used to wait two minutes.
            #expect(!orphans.isEmpty, "the killed worker held claimed jobs")
            let orphanBound: TimeInterval = 5 + 10
            #expect((orphansSentAfter ?? .infinity) < orphanBound,
                    "the \(orphans.count) jobs the killed worker held were sent \(orphansSentAfter.map { String(format: "%.1f", $0) } ?? "never") s after the kill")
            #expect(finishedAfter < 60, "the survivor finished \(Int(finishedAfter)) s after the kill")
            print("crash test: \(orphans.count) orphaned jobs sent \(orphansSentAfter.map { String(format: "%.1f", $0) } ?? "never") s after the kill; all done after \(String(format: "%.1f", finishedAfter)) s")

            let accepted = sink.transactions.flatMap(\.recipients)
            let distinct = Set(accepted)
            #expect(distinct.count == recipients, "every recipient reached the sink")
            // Each outcome is recorded soon after the relay's answer, and a session has at most
            // `unsafeAfterKill` messages accepted-and-unrecorded or on the wire: what the dead
            // worker had sent and not recorded is at most that many per SMTP session it had open.
            let policies = DomainPolicies.japaneseCarrierDefaults
            let sessions = ["docomo.ne.jp", "ezweb.ne.jp", "softbank.ne.jp", "example.jp"].reduce(0) { $0 + policies.policy(for: $1).maxSessions }
            let duplicates = accepted.count - distinct.count
            let perSession = MailDeliveryWorker.unsafeAfterKill
            #expect(duplicates <= perSession * sessions, "duplicates (\(duplicates)) at most \(perSession) per session of the killed worker (\(sessions) sessions)")
            #expect(!doomed.output.contains("user1@") && !survivor.output.contains("user1@"), "no addresses in logs")
        }
        await sink.stop()
    }
}
