import Foundation
import KairanCore
import KairanDelivery
import KairanStore
import Logging
import PostgresNIO
import Testing

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

/// `count` confirmed alert subscribers spread over `domains` (user<n>@<domain>) and one
/// urgent disaster alert to all of them, enqueued as the API does. Returns the jobs made.
@discardableResult
func enqueueUrgentAlert(
    toSubscribers count: Int, domains: [String] = ["docomo.ne.jp", "ezweb.ne.jp", "softbank.ne.jp", "example.jp"], on url: DatabaseURL
) async throws -> Int {
    try await url.withSingleConnection(logger: TestDatabase.logger) { db in
        try await db.query("""
            INSERT INTO alert_subscribers (email, email_key, domain, manage_token, created_at, confirmed_at)
            SELECT 'user' || n || '@' || d, 'user' || n || '@' || d, d, 'token-' || n, now(), now()
            FROM generate_series(1, \(count)) AS n,
                 LATERAL (SELECT (\(domains))[1 + n % \(domains.count)] AS d) AS domains
            """)
        return try await db.withTransaction { db in
            let category = try #require(try await AlertStore.categories(on: db).first { $0.code == "disaster" })
            let message = try await DeliveryStore.createMessage(
                kind: "alert", idempotencyKey: nil, urgent: true, fromName: "〇〇町 防災メール", subject: "【防災】避難指示", body: "避難してください。",
                listID: nil, deadline: nil, now: Date(), on: db)
            let draft = AlertStore.AlertDraft(category: category, areaIDs: [], urgent: true, sendAt: Date(), scheduled: false, deadline: nil)
            return try await AlertStore.enqueueAlert(message: message.id, draft: draft, timing: .init(), on: db)
        }
    }
}

/// How many delivery jobs are in each state.
func deliveryStates(on url: DatabaseURL) async throws -> [String: Int] {
    try await url.withSingleConnection(logger: TestDatabase.logger) { db in
        var counts: [String: Int] = [:]
        for try await (state, n) in try await db.query("SELECT state, count(*)::int FROM deliveries GROUP BY state").decode((String, Int).self) {
            counts[state] = n
        }
        return counts
    }
}
