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
            // They used to wait two minutes, for the end of the survivor's work: they must now
            // go out well before it. The margin over the lease is for a busy 2-core CI machine,
            // where the survivor's next claim comes after its batch in flight (18.6 s once, with
            // a 10 s margin).
            #expect(!orphans.isEmpty, "the killed worker held claimed jobs")
            let orphanBound: TimeInterval = 5 + 25
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

    /// The same for Web Push: a worker killed while a notice's 2,000 pushes go out; the other
    /// sends what it held once the lease ends. Nobody is missed, and what reaches a phone twice
    /// is at most what the dead worker had in flight.
    @Test func aPushWorkerKilledMidSendLosesNoDevice() async throws {
        let devices = 2_000
        let service = try await ScriptedPushService.start()
        try await TestDatabase.withFreshDatabase { url in
            let logger = TestDatabase.logger
            let phones = (0..<devices).map { service.device("p\($0)") }
            try await url.withSingleConnection(logger: logger) { db in
                try await db.query("""
                    INSERT INTO accounts (email, email_key, password_hash, display_name, created_at)
                    VALUES ('guardian@example.jp', 'guardian@example.jp', 'x', '保護者', now())
                    """)
                try await db.query("""
                    INSERT INTO push_subscriptions (account_id, endpoint, p256dh, auth, created_at)
                    SELECT (SELECT id FROM accounts), e, decode(k, 'base64'), decode(a, 'base64'), now()
                    FROM unnest(\(phones.map(\.endpoint))::text[], \(phones.map { Self.base64($0.p256dh) })::text[],
                                \(phones.map { Self.base64($0.auth) })::text[]) AS d(e, k, a)
                    """)
                let payload = #"{"kind":"notice","title":"【緊急】不審者情報","body":"北小学校からのお知らせ","url":"/notices/1","tag":"notice-1","urgent":true}"#
                try await db.query("""
                    INSERT INTO push_deliveries (subscription_id, source, payload, urgency, ttl_seconds, topic, due_at, created_at)
                    SELECT id, 'notice:1', \(payload), 'high', 86400, 'notice1', now(), now() FROM push_subscriptions
                    """)
            }
            func startWorker() throws -> KairanProcess {
                try KairanProcess(["serve", "--role", "worker", "--port", "\(try freeTCPPort())", "--inbound-smtp", "off", "--push-allow-loopback-http",
                                   "--delivery-lease", "5", "--log-level", "warning"],
                                  environment: ["KAIRAN_DATABASE_URL": url.urlString])
            }
            let doomed = try startWorker()
            let deadline = Date().addingTimeInterval(120)
            while service.pushes.count < 300 && Date() < deadline && doomed.process.isRunning {
                try await Task.sleep(for: .milliseconds(10))
            }
            kill(doomed.process.processIdentifier, SIGKILL)
            _ = await doomed.exitCode()
            let atKill = service.pushes.count
            #expect(atKill >= 300 && atKill < devices, "killed mid-send (\(atKill) pushed): \(doomed.output.suffix(2000))")
            let survivor = try startWorker()
            var unsent = devices
            let finish = Date().addingTimeInterval(120)
            while Date() < finish {
                unsent = try await url.withSingleConnection(logger: logger) { db in
                    var count = 0
                    for try await n in try await db.query("SELECT count(*)::int FROM push_deliveries WHERE state <> 'sent'").decode(Int.self) { count = n }
                    return count
                }
                if unsent == 0 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            survivor.terminate()
            #expect(await survivor.exitCode() == 0)
            #expect(unsent == 0, "every push sent: \(survivor.output.suffix(2000))")
            let received = service.pushes.filter { $0.payload != nil && $0.vapidValid }
            let phonesReached = Set(received.map(\.device))
            #expect(phonesReached.count == devices, "every phone got the notice")
            // A push's slot is held until its outcome commits: what was on the wire (or
            // answered and not yet recorded) when the worker died is at most its concurrency.
            let duplicates = received.count - phonesReached.count
            #expect(duplicates <= PushDeliveryConfiguration(workerID: "").concurrency, "duplicates (\(duplicates)) at most the pushes in flight")
            print("push crash test: \(atKill) pushed before the kill, \(duplicates) pushed twice")
        }
        await service.stop()
    }

    /// base64url (as browsers give keys) to the base64 PostgreSQL decodes.
    static func base64(_ text: String) -> String {
        Data(base64URLEncoded: text)!.base64EncodedString()
    }
}
