import Foundation
import Hummingbird
import HummingbirdTesting
import KairanAPI
import KairanCore
import KairanDelivery
import KairanStore
import NIOCore
import PostgresNIO
import Testing

@testable import KairanDelivery
@testable import KairanServer

/// Registration by empty mail (空メール) and bounce reports, over real SMTP on loopback:
/// our listener receives, the outbox sends the confirmation through a worker to a scripted
/// server, and the resident opens the link in the app.
@Suite struct InboundMailTests {
    struct Setup {
        let client: any TestClientProtocol
        let url: DatabaseURL
        let database: Database
        let clock: TestClock
        let inboundPort: Int
        let sink: ScriptedSMTPServer
    }

    func withInbound(
        maxRepliesPerMinute: Int = 60, connections: (total: Int, perClient: Int) = (100, 10), _ body: @escaping @Sendable (Setup) async throws -> Void
    ) async throws {
        let clock = TestClock()
        let sink = ScriptedSMTPServer()
        try await sink.start()
        try await withApp(clock: clock, configure: { configuration in
            configuration.role = .api
            configuration.mail.identity = DeliveryHarness.identity
            configuration.mail.alerts.mailDomain = DeliveryHarness.identity.mailDomain
        }) { client, url in
            try await TestDatabase.withClient(url) { database in
                var configuration = InboundMailConfiguration(host: "127.0.0.1", port: 0)
                configuration.maxRepliesPerMinute = maxRepliesPerMinute
                configuration.maxConnections = connections.total
                configuration.maxConnectionsPerClient = connections.perClient
                let service = InboundSMTPService(configuration: configuration, identity: DeliveryHarness.identity,
                                                 database: database, clock: clock, logger: TestDatabase.logger)
                let running = Task { try await service.run() }
                var ports = service.boundPort.makeAsyncIterator()
                let port = try #require(await ports.next())
                do {
                    try await body(Setup(client: client, url: url, database: database, clock: clock, inboundPort: port, sink: sink))
                } catch {
                    running.cancel()
                    throw error
                }
                running.cancel()
                _ = await running.result
            }
        }
        await sink.stop()
    }

    /// Sends one message to our listener with our own SMTP client; returns its verdict.
    func sendInbound(_ setup: Setup, from sender: String, to recipient: String, body: String = "") async throws -> MailSendResult {
        let transport = try SMTPRelayTransport(SMTPRelayConfiguration(host: "127.0.0.1", port: setup.inboundPort, heloName: "mx.docomo.test"),
                                               logger: TestDatabase.logger)
        let session = try await transport.checkout()
        let message = Array("From: <\(sender)>\r\nTo: <\(recipient)>\r\nSubject: \r\n\r\n\(body)".utf8)
        let result = try await session.send(deliveryID: 0, reversePath: sender, recipient: try EmailAddress(recipient), message: message)
        await transport.checkin(session, reusable: false)
        await transport.shutdown()
        return result
    }

    /// Runs the delivery worker once against the scripted sink; returns the mails it got.
    func deliverOutbox(_ setup: Setup) async throws -> [ScriptedSMTPServer.Transaction] {
        let before = setup.sink.transactions.count
        let harness = try DeliveryHarness(database: setup.database, clock: setup.clock, relay: DeliveryHarness.relay(setup.sink))
        await harness.worker.drain()
        await harness.transport.shutdown()
        return Array(setup.sink.transactions.dropFirst(before))
    }

    func confirmationToken(in mail: ScriptedSMTPServer.Transaction) throws -> String {
        let range = try #require(mail.data.range(of: #"/m/c/[A-Za-z0-9_-]+"#, options: .regularExpression), "no confirmation link in: \(mail.data)")
        return String(mail.data[range].dropFirst(5))
    }

    @Test func emptyMailRegistersAfterTheLinkIsOpenedOnce() async throws {
        try await withInbound { setup in
            let entry = "touroku@mail.town.example.jp"
            #expect(try await sendInbound(setup, from: "taro..yamada@docomo.ne.jp", to: entry) == .accepted("250 2.0.0 accepted"))
            // Not subscribed yet: double opt-in.
            #expect(try await setup.database.withConnection { db in
                try await AlertStore.subscribers(status: nil, emailKey: nil, before: nil, limit: 10, on: db)
            }.isEmpty)

            let mails = try await deliverOutbox(setup)
            try #require(mails.count == 1)
            #expect(mails[0].recipients == ["RCPT TO:<\"taro..yamada\"@docomo.ne.jp>"])
            #expect(mails[0].data.contains("Content-Type: text/plain; charset=ISO-2022-JP"), "carrier mail in ISO-2022-JP")
            let token = try confirmationToken(in: mails[0])

            // A second empty mail inside the window gets no second reply.
            #expect(try await sendInbound(setup, from: "taro..yamada@docomo.ne.jp", to: entry) == .accepted("250 2.0.0 accepted"))
            #expect(try await deliverOutbox(setup).isEmpty)

            let page = try await setup.client.execute(uri: "/m/c/\(token)", method: .get, headers: [:], body: nil)
            #expect(page.status == .ok)
            #expect(page.text.contains("登録が完了しました"))
            let subscribers = try await setup.database.withConnection { db in
                try await AlertStore.subscribers(status: "active", emailKey: nil, before: nil, limit: 10, on: db)
            }
            #expect(subscribers.map(\.email) == ["taro..yamada@docomo.ne.jp"])
            #expect(subscribers.first?.charset == "iso-2022-jp")

            // Single use: opening it again creates nothing new.
            let again = try await setup.client.execute(uri: "/m/c/\(token)", method: .get, headers: [:], body: nil)
            #expect(again.text.contains("この手続きは完了しています"))
            let unknown = try await setup.client.execute(uri: "/m/c/nonsense", method: .get, headers: [:], body: nil)
            #expect(unknown.status == .notFound)
        }
    }

    @Test func confirmationRepliesAreCappedPerMinuteForAllSendersTogether() async throws {
        try await withInbound(maxRepliesPerMinute: 2) { setup in
            for sender in ["a@example.jp", "b@example.jp", "c@example.jp"] {
                // Accepted either way: a sender learns nothing from the cap.
                #expect(try await sendInbound(setup, from: sender, to: "touroku@mail.town.example.jp") == .accepted("250 2.0.0 accepted"))
            }
            #expect(try await deliverOutbox(setup).flatMap(\.recipients) == ["RCPT TO:<a@example.jp>", "RCPT TO:<b@example.jp>"])
            setup.clock.advance(by: 61)
            _ = try await sendInbound(setup, from: "c@example.jp", to: "touroku@mail.town.example.jp")
            #expect(try await deliverOutbox(setup).flatMap(\.recipients) == ["RCPT TO:<c@example.jp>"], "a minute later it goes")
        }
    }

    /// A flood of connections cannot hold the listener: past the limit for one client a new
    /// session is told 421 and closed at once; a place that frees up is taken again.
    @Test func connectionsBeyondTheLimitAreToldToComeBackLater() async throws {
        try await withInbound(connections: (total: 3, perClient: 2)) { setup in
            let port = setup.inboundPort
            // Two sessions that stay open (silent) for three seconds.
            let held = (0..<2).map { _ in Task { try await RawHTTPClient.exchange(port: port, [], timeout: .seconds(3)) } }
            try await Task.sleep(for: .milliseconds(500))
            let refused = try await RawHTTPClient.exchange(port: port, [], timeout: .seconds(2))
            #expect(refused.response.hasPrefix("421 4.7.0"), "\(refused.response)")
            #expect(refused.closedByServer)
            for session in held { #expect(try await session.value.response.hasPrefix("220 "), "the first two were served") }
            let again = try await RawHTTPClient.exchange(port: port, "QUIT\r\n", timeout: .seconds(3))
            #expect(again.response.hasPrefix("220 "), "a freed place is taken again: \(again.response)")
        }
    }

    @Test func confirmationLinksExpire() async throws {
        try await withInbound { setup in
            _ = try await sendInbound(setup, from: "hanako@example.jp", to: "touroku@mail.town.example.jp")
            let token = try confirmationToken(in: try #require(try await deliverOutbox(setup).first))
            setup.clock.advance(by: 25 * 3600)
            let page = try await setup.client.execute(uri: "/m/c/\(token)", method: .get, headers: [:], body: nil)
            #expect(page.status == .notFound)
        }
    }

    @Test func onlyOurAddressesAreAccepted() async throws {
        try await withInbound { setup in
            let elsewhere = try await sendInbound(setup, from: "a@example.jp", to: "someone@example.com")
            #expect(elsewhere == .recipientRefused(code: 550, "550 5.1.1 no such mailbox here"), "no open relay")
            let unknown = try await sendInbound(setup, from: "a@example.jp", to: "info@mail.town.example.jp")
            guard case .recipientRefused(550, _) = unknown else { Issue.record("unknown local part accepted: \(unknown)"); return }
            let forged = try await sendInbound(setup, from: "", to: "bounce+1-000000000000@mail.town.example.jp")
            guard case .recipientRefused(550, _) = forged else { Issue.record("forged VERP tag accepted: \(forged)"); return }
        }
    }

    @Test func aSubscriberMovesToANewAddressByEmptyMail() async throws {
        try await withInbound { setup in
            let subscriber = try await setup.database.withTransaction { db in
                try await AlertStore.subscribe(try EmailAddress("old@example.jp"), preferences: .init(categoryCodes: ["crime"]), token: "manage-token-1",
                                               now: setup.clock.now(), on: db)
            }
            let start = try await setup.client.execute(uri: "/m/s/manage-token-1/change", method: .post, headers: [:], body: nil)
            #expect(start.status == .ok)
            let range = try #require(start.text.range(of: #"touroku\+[a-z0-9]+@mail\.town\.example\.jp"#, options: .regularExpression))
            let changeAddress = String(start.text[range])

            #expect(try await sendInbound(setup, from: "new@au.com", to: changeAddress) == .accepted("250 2.0.0 accepted"))
            let mail = try #require(try await deliverOutbox(setup).first)
            #expect(mail.recipients == ["RCPT TO:<new@au.com>"])
            let page = try await setup.client.execute(uri: "/m/c/\(try confirmationToken(in: mail))", method: .get, headers: [:], body: nil)
            #expect(page.text.contains("メールアドレスを変更しました"))
            let moved = try await setup.database.withConnection { db in
                try await AlertStore.subscriber(id: subscriber.id, on: db)
            }
            #expect(moved?.email == "new@au.com")
            #expect(moved?.categoryCodes == ["crime"], "settings kept")
            #expect(moved?.charset == "iso-2022-jp", "a move to a carrier phone takes the carriers' charset")
        }
    }

    @Test func aBounceReportMarksItsJobAndCountsTowardsSuppression() async throws {
        try await withInbound { setup in
            let harness = try DeliveryHarness(database: setup.database, clock: setup.clock, relay: DeliveryHarness.relay(setup.sink))
            let message = try await harness.publish(to: ["gone@example.jp", "here@example.jp"])
            await harness.worker.drain()
            await harness.transport.shutdown()
            let returnPath = try #require(setup.sink.transactions.first { $0.recipients.first?.contains("gone@") == true }?.mailFrom)
                .replacingOccurrences(of: "MAIL FROM:<", with: "").split(separator: ">").first.map(String.init) ?? ""

            let report = """
                Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

                --b1
                Content-Type: text/plain

                Your message could not be delivered.
                --b1
                Content-Type: message/delivery-status

                Reporting-MTA: dns; mx.example.jp

                Final-Recipient: rfc822; gone@example.jp
                Action: failed
                Status: 5.1.1
                Diagnostic-Code: smtp; 550 5.1.1 <gone@example.jp>: user unknown
                --b1--
                """.replacingOccurrences(of: "\n", with: "\r\n")
            #expect(try await sendInbound(setup, from: "", to: returnPath, body: report) == .accepted("250 2.0.0 accepted"))

            let rows = try await harness.deliveries(message: message)
            #expect(rows.map(\.state) == ["bounced", "sent"])
            #expect(rows[0].lastReply?.contains("5.1.1") == true)
            let bounces = try await setup.database.withConnection { db in
                var values: [Int] = []
                for try await n in try await db.query("SELECT hard_bounces FROM mail_address_status").decode(Int32.self) {
                    values.append(Int(n))
                }
                return values
            }
            #expect(bounces == [1])
            let counts = try await setup.database.withConnection { try await DeliveryStore.counts(message: message, on: $0) }
            #expect(counts.bounced == 1 && counts.sent == 1)

            // The town's alert staff read the report as the reporting server worded it.
            let staff = try await setup.client.registerAndLogin(email: "bousai@town.example.jp")
            try await grantRole("alert_sender", to: "bousai@town.example.jp", in: setup.url)
            let reports = try await setup.client.send(.get, "/v1/mail/bounces", token: staff).items()
            #expect(reports.count == 1)
            #expect(reports.first?["address"] as? String == "gone@example.jp" && reports.first?["status"] as? String == "5.1.1")
            #expect((reports.first?["diagnostic"] as? String)?.contains("user unknown") == true && reports.first?["permanent"] as? Bool == true)
            let resident = try await setup.client.registerAndLogin(email: "resident@example.jp")
            #expect(try await setup.client.send(.get, "/v1/mail/bounces", token: resident).status == .forbidden)
        }
    }

    @Test func sessionStateMachineRefusesBadSequencesAndOversizedMail() {
        var session = InboundSMTPSession(domain: "mail.town.example.jp", limits: .init(maxLine: 100, maxRecipients: 2, maxMessageBytes: 50)) { local, _ in
            local == "touroku" ? .entry : nil
        }
        #expect(session.receive("MAIL FROM:<a@example.jp>") == .reply("503 5.5.1 say EHLO first"))
        #expect(session.receive("HELO x") == .reply("250 mail.town.example.jp"))
        #expect(session.receive("DATA") == .reply("503 5.5.1 need MAIL first"))
        #expect(session.receive("MAIL FROM:<a@example.jp> SIZE=999") == .reply("552 5.3.4 message too big"))
        #expect(session.receive("MAIL FROM:<\"a..b\"@docomo.ne.jp>") == .reply("250 2.1.0 ok"))
        #expect(session.receive("RCPT TO:<touroku@mail.town.example.jp>") == .reply("250 2.1.5 ok"))
        #expect(session.receive("RCPT TO:<touroku@mail.town.example.jp>") == .reply("250 2.1.5 ok"))
        #expect(session.receive("RCPT TO:<touroku@mail.town.example.jp>") == .reply("452 4.5.3 too many recipients"))
        #expect(session.receive("DATA") == .reply("354 end data with <CR><LF>.<CR><LF>"))
        #expect(session.receive(String(repeating: "x", count: 60)) == .none)
        #expect(session.receive(".") == .reply("552 5.3.4 message exceeds 50 bytes"))
        #expect(session.receive(String(repeating: "y", count: 101)) == .reply("500 5.5.2 line too long"))
        #expect(InboundSMTPSession.senderAddress("\"a..b\"@docomo.ne.jp")?.raw == "a..b@docomo.ne.jp")
        #expect(session.receive("QUIT") == .close("221 2.0.0 bye"))
    }

    @Test func deliveryStatusReportsAreReadAndOtherMailIsNot() {
        let hard = DeliveryStatusReport.parse("Content-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; a@b.jp\r\nAction: failed\r\nStatus: 5.2.2\r\n")
        #expect(hard == DeliveryStatusReport(action: "failed", status: "5.2.2", diagnostic: nil))
        #expect(hard?.permanent == true)
        let delayed = DeliveryStatusReport.parse("Content-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; a@b.jp\r\nAction: delayed\r\nStatus: 4.4.1\r\n")
        #expect(delayed?.permanent == false)
        #expect(DeliveryStatusReport.parse("Subject: 自動応答\r\n\r\n不在です。Status: 5.1.1") == nil)
    }
    /// The listener needs the database before it can answer (its VERP key lives there). A
    /// database that stays away is said in the log and counted, not retried in silence, and
    /// the listener comes up as soon as the database answers.
    @Test func aListenerWaitingForTheDatabaseSaysSoAndStartsWhenItAnswers() async throws {
        try await TestDatabase.withFreshDatabase { url in
            // New connections to this database give up on a lock after 50 ms.
            try await TestDatabase.serverURL.withSingleConnection(logger: TestDatabase.logger) { db in
                try await db.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \(url.database) SET lock_timeout = '50ms'"))
            }
            KairanMetrics.bootstrap()
            let before = metricValue("kairan_inbound_smtp_setup_retries_total")
            try await TestDatabase.withClient(url) { database in
                let service = InboundSMTPService(configuration: InboundMailConfiguration(host: "127.0.0.1", port: 0), identity: DeliveryHarness.identity,
                                                 database: database, clock: TestClock(), logger: TestDatabase.logger)
                var ports = service.boundPort.makeAsyncIterator()
                let running: Task<Void, any Error> = try await url.withSingleConnection(logger: TestDatabase.logger) { locker in
                    // Locked before the service starts, so its first read already waits.
                    try await locker.query("BEGIN")
                    try await locker.query("LOCK TABLE server_secrets IN ACCESS EXCLUSIVE MODE")
                    let running = Task { try await service.run() }
                    let deadline = ContinuousClock.now + .seconds(15)
                    while metricValue("kairan_inbound_smtp_setup_retries_total") <= before {
                        guard ContinuousClock.now < deadline else {
                            running.cancel()
                            throw TestSetupError("no retry was counted")
                        }
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    try await locker.query("COMMIT")
                    return running
                }
                defer { running.cancel() }
                let port = try #require(await ports.next())
                #expect(port > 0, "listening once the database answered")
            }
        }
    }
}
