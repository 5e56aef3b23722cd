import Foundation
import KairanCore
import KairanDelivery
import KairanStore
import Logging
import PostgresNIO

/// A delivery worker wired to a test's database, clock and mail server.
struct DeliveryHarness {
    let database: Database
    let clock: TestClock
    let worker: MailDeliveryWorker
    let transport: any MailTransport

    static let identity = MailIdentity(fromAddress: try! EmailAddress("bousai@mail.town.example.jp"), mailDomain: "mail.town.example.jp",
                                       publicURL: "https://kairan.town.example.jp")

    init(database: Database, clock: TestClock, relay: SMTPRelayConfiguration, configure: (inout MailDeliveryConfiguration) -> Void = { _ in }) throws {
        self.init(database: database, clock: clock, transport: try SMTPRelayTransport(relay, logger: TestDatabase.logger), configure: configure)
    }

    /// `listenURL`: the worker LISTENs for new work there when run as a service.
    init(database: Database, clock: TestClock, transport: any MailTransport, listenURL: DatabaseURL? = nil,
         configure: (inout MailDeliveryConfiguration) -> Void = { _ in }) {
        var configuration = MailDeliveryConfiguration(workerID: "test-worker")
        configuration.batchSize = 100
        configure(&configuration)
        self.database = database
        self.clock = clock
        self.transport = transport
        worker = MailDeliveryWorker(database: database, listenURL: listenURL, transport: transport, identity: Self.identity,
                                    configuration: configuration, clock: clock, logger: TestDatabase.logger)
    }

    static func relay(_ server: ScriptedSMTPServer, connections: Int = 4) -> SMTPRelayConfiguration {
        SMTPRelayConfiguration(host: "127.0.0.1", port: server.port, heloName: "kairan.test", maxConnections: connections)
    }

    /// Publishes one message to `addresses` (recipient keys `r:<index>`), as a publisher would.
    @discardableResult
    func publish(to addresses: [String], subject: String = "【防災】避難所開設", body: String = "本日17時、避難所を開設しました。",
                 urgent: Bool = true, key: String? = nil, dueIn: TimeInterval = 0) async throws -> Int64 {
        let now = clock.now()
        return try await database.withTransaction { db in
            let message = try await DeliveryStore.createMessage(
                kind: "test", idempotencyKey: key, urgent: urgent, fromName: "〇〇町 防災メール", subject: subject, body: body,
                listID: "bousai.mail.town.example.jp", deadline: nil, now: now, on: db)
            let recipients = try addresses.enumerated().map { index, address in
                DeliveryStore.Recipient(key: "r:\(address)", address: try EmailAddress(address))
            }
            try await DeliveryStore.enqueueMail(message: message.id, recipients: recipients, urgent: urgent, dueAt: now.addingTimeInterval(dueIn),
                                                on: db)
            return message.id
        }
    }

    struct Row: Sendable {
        let address: String
        let state: String
        let attempts: Int
        let dueAt: Date
        let lastReply: String?
    }

    func deliveries(message: Int64? = nil) async throws -> [Row] {
        try await database.withConnection { db in
            var rows: [Row] = []
            for try await (address, state, attempts, due, reply) in try await db.query("""
                SELECT address, state, attempts, due_at, last_reply FROM deliveries
                WHERE \(message)::bigint IS NULL OR message_id = \(message) ORDER BY id
                """).decode((String, String, Int32, Date, String?).self) {
                rows.append(Row(address: address, state: state, attempts: Int(attempts), dueAt: due, lastReply: reply))
            }
            return rows
        }
    }
}
