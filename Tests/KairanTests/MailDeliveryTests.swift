import Foundation
import KairanCore
import KairanDelivery
import KairanStore
import NIOSSL
import PostgresNIO
import Testing

/// The fan-out core's mail path against real SMTP servers on loopback and a real database.
@Suite struct MailDeliveryTests {
    func withServer(_ script: ScriptedSMTPServer.Script = .init(), _ body: (ScriptedSMTPServer) async throws -> Void) async throws {
        let server = ScriptedSMTPServer(script)
        try await server.start()
        do {
            try await body(server)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    /// `relay`: how to reach `server` when the default (plain, no AUTH) is not it.
    func withHarness(_ server: ScriptedSMTPServer, relay: SMTPRelayConfiguration? = nil,
                     configure: @escaping (inout MailDeliveryConfiguration) -> Void = { _ in },
                     _ body: @escaping @Sendable (DeliveryHarness) async throws -> Void) async throws {
        try await TestDatabase.withFreshDatabase { url in
            try await TestDatabase.withClient(url) { database in
                let harness = try DeliveryHarness(database: database, clock: TestClock(), relay: relay ?? DeliveryHarness.relay(server), configure: configure)
                try await body(harness)
                await harness.transport.shutdown()
            }
        }
    }

    @Test(arguments: [1, 2])
    func pipelinedOneRecipientPerMessage(depth: Int) async throws {
        try await withServer { server in
            try await withHarness(server, configure: { $0.concurrentBatches = 1; $0.pipelineDepth = depth }) { harness in
                let message = try await harness.publish(to: ["a@example.jp", "b@example.jp", "c@example.jp"])
                #expect(await harness.worker.drain() == 3)
                #expect(try await harness.deliveries(message: message).map(\.state) == ["sent", "sent", "sent"])
                let transactions = server.transactions
                #expect(transactions.count == 3)
                for transaction in transactions {
                    #expect(transaction.recipients.count == 1)
                    let toLines = transaction.data.split(separator: "\r\n").filter { $0.hasPrefix("To:") }
                    #expect(toLines.count == 1 && toLines[0].contains(transaction.recipients[0].dropFirst(9).dropLast()), "one visible recipient: \(toLines)")
                    #expect(transaction.mailFrom.contains("bounce+"), "VERP return path")
                }
                // MAIL, RCPT and DATA came in one read: pipelined. Each transaction ended
                // with its message, so none needed an RSET.
                #expect(server.maxCommandsPerRead >= 3)
                #expect(server.commands.filter { $0 == "RSET" }.isEmpty)
                #expect(server.sessions == 1, "one pooled session carried all three")
            }
        }
    }

    @Test func withoutPipeliningCommandsWaitForReplies() async throws {
        var script = ScriptedSMTPServer.Script()
        script.extensions = ["8BITMIME"]
        try await withServer(script) { server in
            try await withHarness(server) { harness in
                try await harness.publish(to: ["a@example.jp", "b@example.jp"])
                #expect(await harness.worker.drain() == 2)
                #expect(server.transactions.count == 2)
                #expect(server.maxCommandsPerRead == 1)
            }
        }
    }

    @Test func legacyCarrierAddressesAreQuotedInRcptTo() async throws {
        try await withServer { server in
            try await withHarness(server) { harness in
                try await harness.publish(to: ["taro..yamada@docomo.ne.jp", "hanako.@ezweb.ne.jp", "jiro@softbank.ne.jp"])
                #expect(await harness.worker.drain() == 3)
                let recipients = Set(server.transactions.flatMap(\.recipients))
                #expect(recipients == ["RCPT TO:<\"taro..yamada\"@docomo.ne.jp>", "RCPT TO:<\"hanako.\"@ezweb.ne.jp>", "RCPT TO:<jiro@softbank.ne.jp>"])
            }
        }
    }

    @Test func temporaryRepliesAreRetriedWithBackoffAnd421PausesTheDomain() async throws {
        var script = ScriptedSMTPServer.Script()
        script.recipientReplies = ["busy450": "450 4.2.1 mailbox busy", "full452": "452 4.3.1 insufficient storage", "shed421": "421 4.7.0 too many sessions"]
        script.once = ["busy450", "full452", "shed421"]
        try await withServer(script) { server in
            try await withHarness(server, configure: { $0.retryBase = 60; $0.domainPause = 600 }) { harness in
                let start = harness.clock.now()
                let message = try await harness.publish(to: ["busy450@example.jp", "full452@example.jp", "shed421@docomo.ne.jp", "ok@example.jp"])
                await harness.worker.drain()
                var rows = Dictionary(uniqueKeysWithValues: try await harness.deliveries(message: message).map { ($0.address, $0) })
                #expect(rows["ok@example.jp"]?.state == "sent")
                for address in ["busy450@example.jp", "full452@example.jp", "shed421@docomo.ne.jp"] {
                    let row = try #require(rows[address])
                    #expect(row.state == "queued" && row.attempts == 1, "\(address) waits for a retry")
                    // Urgent: a quarter of the base, jittered over its upper half.
                    #expect(row.dueAt >= start.addingTimeInterval(7) && row.dueAt <= start.addingTimeInterval(16), "\(address) due \(row.dueAt)")
                }
                #expect(rows["busy450@example.jp"]?.lastReply == "450 4.2.1 mailbox busy")
                #expect(rows["shed421@docomo.ne.jp"]?.lastReply?.hasPrefix("421") == true)

                // After the backoff the 4xx jobs go; docomo.ne.jp is still paused by the 421.
                harness.clock.advance(by: 20)
                await harness.worker.drain()
                rows = Dictionary(uniqueKeysWithValues: try await harness.deliveries(message: message).map { ($0.address, $0) })
                #expect(rows["busy450@example.jp"]?.state == "sent")
                #expect(rows["full452@example.jp"]?.state == "sent")
                #expect(rows["shed421@docomo.ne.jp"]?.state == "queued")

                harness.clock.advance(by: 600)
                await harness.worker.drain()
                rows = Dictionary(uniqueKeysWithValues: try await harness.deliveries(message: message).map { ($0.address, $0) })
                #expect(rows["shed421@docomo.ne.jp"]?.state == "sent")
                #expect(rows["shed421@docomo.ne.jp"]?.attempts == 2)
            }
        }
    }

    @Test func anUnreachableRelayPostponesWithoutUsingAttempts() async throws {
        try await TestDatabase.withFreshDatabase { url in
            try await TestDatabase.withClient(url) { database in
                // Nothing listens on this port.
                let closed = SMTPRelayConfiguration(host: "127.0.0.1", port: try freeTCPPort(), heloName: "kairan.test")
                let harness = try DeliveryHarness(database: database, clock: TestClock(), relay: closed) { $0.maxAttempts = 2 }
                let message = try await harness.publish(to: ["a@example.jp"])
                for _ in 0..<4 {
                    await harness.worker.drain()
                    harness.clock.advance(by: 16)
                }
                let row = try #require(try await harness.deliveries(message: message).first)
                #expect(row.state == "queued", "an outage of the relay does not dead-letter anyone")
                #expect(row.attempts == 0)
                #expect(row.lastReply?.hasPrefix("451 relay unreachable") == true)
                #expect(row.dueAt > harness.clock.now().addingTimeInterval(-16), "waits about 15 s before the next try")
                await harness.transport.shutdown()
            }
        }
    }

    @Test func lastTemporaryFailureIsDead() async throws {
        var script = ScriptedSMTPServer.Script()
        script.recipientReplies = ["never": "451 4.3.0 local problem"]
        try await withServer(script) { server in
            try await withHarness(server, configure: { $0.maxAttempts = 3 }) { harness in
                let message = try await harness.publish(to: ["never@example.jp"])
                for _ in 0..<3 {
                    await harness.worker.drain()
                    harness.clock.advance(by: 3600)
                }
                let row = try #require(try await harness.deliveries(message: message).first)
                #expect(row.state == "dead")
                #expect(row.attempts == 3)
                #expect(row.lastReply == "451 4.3.0 local problem")
            }
        }
    }

    @Test func permanentRefusalsSuppressTheAddressAfterTheLimit() async throws {
        var script = ScriptedSMTPServer.Script()
        script.recipientReplies = ["gone": "550 5.1.1 user unknown"]
        try await withServer(script) { server in
            try await withHarness(server, configure: { $0.hardBounceLimit = 3 }) { harness in
                for round in 1...3 {
                    let message = try await harness.publish(to: ["gone@docomo.ne.jp", "here@docomo.ne.jp"])
                    await harness.worker.drain()
                    let rows = try await harness.deliveries(message: message)
                    #expect(rows.map(\.state) == ["failed", "sent"], "round \(round)")
                    #expect(rows[0].lastReply == "550 5.1.1 user unknown")
                    #expect(rows[0].attempts == 1, "a 5xx is not retried")
                }
                // Suppressed now: a fourth message gets no job for it.
                let fourth = try await harness.publish(to: ["gone@docomo.ne.jp", "here@docomo.ne.jp"])
                #expect(try await harness.deliveries(message: fourth).map(\.address) == ["here@docomo.ne.jp"])
            }
        }
    }

    @Test func aRefusalOfTheMessageRatherThanTheRecipientIsNoBounce() async throws {
        var script = ScriptedSMTPServer.Script()
        script.dataReplies = ["fine": "554 5.6.0 message content rejected"]
        try await withServer(script) { server in
            try await withHarness(server, configure: { $0.hardBounceLimit = 1 }) { harness in
                let message = try await harness.publish(to: ["fine@docomo.ne.jp"])
                await harness.worker.drain()
                let row = try #require(try await harness.deliveries(message: message).first)
                #expect(row.state == "failed" && row.lastReply == "554 5.6.0 message content rejected")
                // Not the address's fault: it is not suppressed, the next message gets a job.
                let next = try await harness.publish(to: ["fine@docomo.ne.jp"])
                #expect(try await harness.deliveries(message: next).count == 1)
            }
        }
    }

    @Test func docomoSessionsCarryAtMostTheirCap() async throws {
        try await withServer { server in
            try await withHarness(server, configure: { configuration in
                configuration.batchSize = 500
                configuration.policies.byDomain["docomo.ne.jp"] = DomainPolicy(messagesPerSession: 100, maxSessions: 2)
            }) { harness in
                try await harness.publish(to: (1...250).map { "user\($0)@docomo.ne.jp" })
                #expect(await harness.worker.drain() == 250)
                let perSession = Dictionary(grouping: server.transactions, by: \.session).mapValues(\.count)
                #expect(perSession.values.reduce(0, +) == 250)
                #expect(perSession.values.allSatisfy { $0 <= 100 }, "\(perSession)")
                #expect(perSession.count >= 3)
            }
        }
    }

    @Test func aPooledSessionReusedAcrossBatchesStillCarriesAtMostTheCap() async throws {
        try await withServer { server in
            try await withHarness(server, configure: { configuration in
                configuration.batchSize = 60
                configuration.concurrentBatches = 1
                configuration.policies.byDomain["docomo.ne.jp"] = DomainPolicy(messagesPerSession: 100, maxSessions: 1)
            }) { harness in
                try await harness.publish(to: (1...250).map { "user\($0)@docomo.ne.jp" })
                #expect(await harness.worker.drain() == 250)
                let perSession = Dictionary(grouping: server.transactions, by: \.session).mapValues(\.count)
                #expect(perSession.values.reduce(0, +) == 250)
                #expect(perSession.values.allSatisfy { $0 <= 100 }, "\(perSession)")
                #expect(perSession.values.contains(100), "sessions are reused up to the cap: \(perSession)")
            }
        }
    }

    @Test func aJobWhoseWorkerDiedIsRescuedAfterItsLease() async throws {
        try await withServer { server in
            try await withHarness(server, configure: { $0.lease = 120 }) { harness in
                let message = try await harness.publish(to: ["a@example.jp", "b@example.jp"])
                // A worker claims both and dies before sending.
                let claimed = try await harness.database.withTransaction { db in
                    try await DeliveryStore.claim(worker: "killed", limit: 10, lease: 120, now: harness.clock.now(),
                                                  on: db)
                }
                #expect(claimed.count == 2)
                #expect(await harness.worker.drain() == 0, "the lease still holds")
                harness.clock.advance(by: 121)
                #expect(await harness.worker.drain() == 2)
                #expect(try await harness.deliveries(message: message).map(\.state) == ["sent", "sent"])
                #expect(server.transactions.count == 2)
            }
        }
    }

    @Test func repeatedPublishWithTheSameKeyCreatesNothing() async throws {
        try await withServer { server in
            try await withHarness(server) { harness in
                let first = try await harness.publish(to: ["a@example.jp", "b@example.jp"], key: "k-1")
                let second = try await harness.publish(to: ["a@example.jp", "b@example.jp"], key: "k-1")
                #expect(first == second)
                #expect(try await harness.deliveries().count == 2)
            }
        }
    }

    /// One mail through `relay` to `server`, sent and recorded as sent.
    func sendOne(through server: ScriptedSMTPServer, relay: SMTPRelayConfiguration) async throws {
        try await withHarness(server, relay: relay) { harness in
            let message = try await harness.publish(to: ["a@example.jp"])
            #expect(await harness.worker.drain() == 1)
            #expect(try await harness.deliveries(message: message).map(\.state) == ["sent"])
        }
    }

    @Test func startTLSAndAuthPlainWithTheRelay() async throws {
        let certificate = try SelfSignedCertificate.make()
        var script = ScriptedSMTPServer.Script()
        script.tls = try certificate.serverContext()
        script.credentials = ("kairan", "s3cret-pass")
        try await withServer(script) { server in
            var relay = DeliveryHarness.relay(server)
            relay.host = "localhost"
            relay.security = .startTLS
            relay.caFile = certificate.certificatePath
            relay.username = "kairan"
            relay.password = "s3cret-pass"
            try await sendOne(through: server, relay: relay)
            #expect(server.tlsSessions == 1)
            #expect(server.authenticatedSessions == 1)
            // The password never crossed the wire before TLS.
            let beforeTLS = server.commands.prefix { !$0.uppercased().hasPrefix("STARTTLS") }
            #expect(!beforeTLS.contains { $0.uppercased().hasPrefix("AUTH") })
        }
    }

    @Test func implicitTLSAndAuthLoginWithTheRelay() async throws {
        let certificate = try SelfSignedCertificate.make()
        var script = ScriptedSMTPServer.Script()
        script.implicitTLS = try certificate.serverContext()
        script.credentials = ("kairan", "s3cret-pass")
        script.authMechanisms = "LOGIN"
        try await withServer(script) { server in
            var relay = DeliveryHarness.relay(server)
            relay.host = "localhost"
            relay.security = .implicitTLS
            relay.caFile = certificate.certificatePath
            relay.username = "kairan"
            relay.password = "s3cret-pass"
            try await sendOne(through: server, relay: relay)
            #expect(server.authenticatedSessions == 1)
            #expect(server.commands.contains("AUTH LOGIN"))
        }
    }

    @Test func twoWorkersOnOneDatabaseShareTheWorkAndSendEachJobOnce() async throws {
        try await withServer { server in
            try await TestDatabase.withFreshDatabase { url in
                try await TestDatabase.withClient(url) { database in
                    let clock = TestClock()
                    let first = try DeliveryHarness(database: database, clock: clock, relay: DeliveryHarness.relay(server)) {
                        $0.workerID = "worker-a"; $0.batchSize = 20
                    }
                    let second = try DeliveryHarness(database: database, clock: clock, relay: DeliveryHarness.relay(server)) {
                        $0.workerID = "worker-b"; $0.batchSize = 20
                    }
                    let message = try await first.publish(to: (1...400).map { "resident\($0)@example.jp" })
                    async let a = first.worker.drain()
                    async let b = second.worker.drain()
                    let (sentByA, sentByB) = await (a, b)
                    #expect(sentByA + sentByB == 400)
                    #expect(sentByA > 0 && sentByB > 0, "both took a share: \(sentByA) / \(sentByB)")
                    #expect(try await first.deliveries(message: message).allSatisfy { $0.state == "sent" })
                    await first.transport.shutdown()
                    await second.transport.shutdown()
                }
            }
            let recipients = server.transactions.flatMap(\.recipients)
            #expect(recipients.count == 400 && Set(recipients).count == 400, "each job sent exactly once")
        }
    }

    @Test func anUrgentMessageStillUndeliveredAtItsDeadlineIsReported() async throws {
        var script = ScriptedSMTPServer.Script()
        script.recipientReplies = ["stuck": "451 4.4.1 try again later"]
        try await withServer(script) { server in
            try await withHarness(server) { harness in
                let now = harness.clock.now()
                let message = try await harness.database.withTransaction { db in
                    let message = try await DeliveryStore.createMessage(
                        kind: "test", idempotencyKey: nil, urgent: true, fromName: "町", subject: "避難指示", body: "避難してください",
                        listID: nil, deadline: now.addingTimeInterval(900), now: now, on: db)
                    try await DeliveryStore.enqueueMail(message: message.id, recipients: [.init(key: "r:1", address: try EmailAddress("stuck@example.jp"))],
                                                        urgent: true, dueAt: now, on: db)
                    return message.id
                }
                await harness.worker.drain()
                await harness.worker.housekeeping()
                func reported() async throws -> Bool {
                    try await harness.database.withConnection { db in
                        var value = false
                        for try await flag in try await db.query(
                            "SELECT deadline_reported_at IS NOT NULL FROM outbox_messages WHERE id = \(message)"
                        ).decode(Bool.self) { value = flag }
                        return value
                    }
                }
                #expect(try await reported() == false, "not before the deadline")
                harness.clock.advance(by: 901)
                await harness.worker.housekeeping()
                #expect(try await reported() == true)
                #expect(try await harness.deliveries(message: message).first?.state == "queued", "reported, still retried, not dropped")
            }
        }
    }

    @Test func maildirGetsOneFilePerJobWhenNoRelayIsConfigured() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kairan-maildir-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try await TestDatabase.withFreshDatabase { url in
            try await TestDatabase.withClient(url) { database in
                let harness = DeliveryHarness(database: database, clock: TestClock(), transport: try MaildirTransport(directory: folder.path))
                try await harness.publish(to: ["a@example.jp", "taro..yamada@docomo.ne.jp"], subject: "テスト")
                #expect(await harness.worker.drain() == 2)
            }
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("new").path)
        #expect(files.count == 2)
        let texts = try files.map { try String(contentsOf: folder.appendingPathComponent("new").appendingPathComponent($0), encoding: .utf8) }
        let text = texts.first { $0.contains("taro..yamada") } ?? ""
        #expect(text.contains("To: \"taro..yamada\"@docomo.ne.jp"))
        #expect(text.contains("Return-Path: <bounce+"))
    }

    @Test func verpTagsNameTheJobAndResistForgery() {
        let composer = MailComposer(identity: DeliveryHarness.identity, verpSecret: "0123456789abcdef")
        let path = composer.returnPath(deliveryID: 4711)
        let local = String(path.split(separator: "@")[0])
        #expect(composer.deliveryID(fromReturnPathLocalPart: local) == 4711)
        #expect(composer.deliveryID(fromReturnPathLocalPart: local.replacingOccurrences(of: "4711", with: "4712")) == nil)
        #expect(composer.deliveryID(fromReturnPathLocalPart: "bounce+4711-000000000000") == nil)
    }
}

