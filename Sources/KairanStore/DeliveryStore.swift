import Foundation
import KairanCore
import Logging
import PostgresNIO

/// A delivery job a worker holds a lease on, with what it needs to render the mail.
public struct ClaimedDelivery: Sendable {
    public let id: Int64
    public let messageID: Int64
    public let address: String
    public let domain: String
    public let charset: String
    public let unsubscribeToken: String?
    /// A notice's per-guardian link (confirm, answer).
    public let linkToken: String?
    /// Attempts including this one.
    public let attempts: Int
    public let urgent: Bool
    public let fromName: String
    public let subject: String
    public let body: String
    public let listID: String?
    public let createdAt: Date
}

/// How one claimed job ended, as recorded.
public enum DeliveryOutcome: Sendable {
    case sent(reply: String)
    /// Temporary failure: back to the queue, due again at `retryAt`.
    case retry(reply: String, retryAt: Date)
    /// Permanent refusal (5xx).
    case failed(reply: String)
    /// Temporary failures until the last attempt.
    case dead(reply: String)
    /// Never tried (the session ended first, or the domain was paused): back to the queue
    /// without using up an attempt.
    case release
    /// Never tried because the relay could not be reached: back to the queue until `until`,
    /// without using up an attempt (an outage of the town's MTA must not dead-letter an
    /// evacuation notice).
    case postpone(reply: String, until: Date)
}

public struct DeliveryCounts: Sendable, Equatable, Codable {
    public var queued = 0
    public var retrying = 0
    public var sending = 0
    public var sent = 0
    /// Refused for good (a 5xx).
    public var failed = 0
    /// Temporary failures until the last attempt: given up on (requeue once the cause is fixed).
    public var dead = 0
    public var bounced = 0
    public var cancelled = 0
    public init() {}
}

/// The fan-out core's persistence: messages, their delivery jobs, claiming with leases.
public enum DeliveryStore {
    /// Wakes workers when due work is committed (payload: nothing; they claim from the table).
    public static let channel = "kairan_deliveries"

    /// Inserts the message unless one with the same idempotency key exists. Returns its id
    /// and whether this call created it.
    public static func createMessage(
        kind: String, idempotencyKey: String?, urgent: Bool, fromName: String, subject: String, body: String,
        listID: String?, deadline: Date?, now: Date, on db: DatabaseConnection
    ) async throws -> (id: Int64, created: Bool) {
        for try await id in try await db.query("""
            INSERT INTO outbox_messages (kind, idempotency_key, urgent, from_name, subject, body, list_id, created_at, deadline_at)
            VALUES (\(kind), \(idempotencyKey), \(urgent), \(fromName), \(subject), \(body), \(listID), \(now), \(deadline))
            ON CONFLICT (idempotency_key) DO NOTHING RETURNING id
            """).decode(Int64.self) {
            return (id, true)
        }
        guard let idempotencyKey else { preconditionFailure("INSERT without a key always inserts") }
        for try await id in try await db.query(
            "SELECT id FROM outbox_messages WHERE idempotency_key = \(idempotencyKey)"
        ).decode(Int64.self) {
            return (id, false)
        }
        preconditionFailure("conflicting idempotency key vanished inside the transaction")
    }

    /// Adds text to the end of a message's body, in the transaction that created it (before
    /// any worker can claim its mail): an alert's links to its files, known once it exists.
    public static func appendToBody(message: Int64, _ text: String, on db: DatabaseConnection) async throws {
        try await db.query("UPDATE outbox_messages SET body = body || \(text) WHERE id = \(message)")
    }

    /// One recipient of a generic enqueue.
    public struct Recipient: Sendable {
        public let key: String
        public let address: EmailAddress
        public let charset: String
        public let unsubscribeToken: String?
        public let linkToken: String?
        public init(key: String, address: EmailAddress, charset: String = "utf-8", unsubscribeToken: String? = nil, linkToken: String? = nil) {
            self.key = key
            self.address = address
            self.charset = charset
            self.unsubscribeToken = unsubscribeToken
            self.linkToken = linkToken
        }
    }

    /// Enqueues mail jobs for `recipients` in one statement (`INSERT … SELECT unnest`),
    /// skipping suppressed addresses and recipients that already have a job for this
    /// message. Returns how many jobs were created.
    @discardableResult
    public static func enqueueMail(
        message: Int64, recipients: [Recipient], urgent: Bool, dueAt: Date, on db: DatabaseConnection
    ) async throws -> Int {
        guard !recipients.isEmpty else { return 0 }
        let keys = recipients.map(\.key)
        let addresses = recipients.map(\.address.raw)
        let emailKeys = recipients.map(\.address.comparisonKey)
        let domains = recipients.map { $0.address.domain.lowercased() }
        let charsets = recipients.map(\.charset)
        let tokens = recipients.map { $0.unsubscribeToken ?? "" }
        let links = recipients.map { $0.linkToken ?? "" }
        let priority: Int16 = urgent ? 1 : 0
        var count = 0
        for try await n in try await db.query("""
            WITH inserted AS (
                INSERT INTO deliveries (message_id, recipient, channel, address, domain, charset, unsubscribe_token, link_token, priority, due_at)
                SELECT \(message), r.key, 'mail', r.address, r.domain, r.charset, nullif(r.token, ''), nullif(r.link, ''), \(priority), \(dueAt)
                FROM unnest(\(keys)::text[], \(addresses)::text[], \(emailKeys)::text[], \(domains)::text[], \(charsets)::text[], \(tokens)::text[],
                            \(links)::text[])
                     AS r(key, address, email_key, domain, charset, token, link)
                WHERE NOT EXISTS (SELECT 1 FROM mail_address_status m WHERE m.email_key = r.email_key AND m.suppressed_at IS NOT NULL)
                ON CONFLICT (message_id, recipient, channel) DO NOTHING
                RETURNING 1
            )
            SELECT count(*)::int FROM inserted
            """).decode(Int.self) {
            count = n
        }
        try await notifyWorkers(on: db)
        return count
    }

    /// Wakes the workers on commit.
    public static func notifyWorkers(on db: DatabaseConnection) async throws {
        try await db.query("SELECT pg_notify(\(channel), '')")
    }

    /// Claims up to `limit` due jobs — and jobs whose worker's lease ran out — for `worker`,
    /// urgent first, skipping destination domains a 421 has paused. SKIP LOCKED lets any
    /// number of workers claim side by side.
    public static func claim(
        worker: String, limit: Int, lease: TimeInterval, now: Date,
        on db: DatabaseConnection
    ) async throws -> [ClaimedDelivery] {
        let leaseUntil = now.addingTimeInterval(lease)
        var claimed: [ClaimedDelivery] = []
        claimed.reserveCapacity(limit)
        let rows = try await db.query("""
            WITH paused AS (
                SELECT domain FROM mail_domain_pauses WHERE paused_until > \(now)
            ), rescued AS (
                SELECT id FROM deliveries
                WHERE state = 'sending' AND lease_expires_at < \(now) AND domain NOT IN (SELECT domain FROM paused)
                ORDER BY lease_expires_at LIMIT \(limit) FOR UPDATE SKIP LOCKED
            ), fresh AS (
                SELECT id FROM deliveries
                WHERE state = 'queued' AND due_at <= \(now) AND domain NOT IN (SELECT domain FROM paused)
                ORDER BY priority DESC, due_at LIMIT \(limit) FOR UPDATE SKIP LOCKED
            ), due AS (
                -- FOR UPDATE cannot sit inside a UNION, so each half locks in its own CTE.
                SELECT id FROM rescued UNION ALL SELECT id FROM fresh
            ), updated AS (
                UPDATE deliveries d
                SET state = 'sending', lease_owner = \(worker), lease_expires_at = \(leaseUntil),
                    attempts = d.attempts + 1, last_attempt_at = \(now)
                FROM (SELECT id FROM due LIMIT \(limit)) AS c WHERE d.id = c.id
                RETURNING d.id, d.message_id, d.address, d.domain, d.charset, d.unsubscribe_token, d.link_token, d.attempts, d.priority
            )
            SELECT u.id, u.message_id, u.address, u.domain, u.charset, u.unsubscribe_token, u.link_token, u.attempts,
                   m.urgent, m.from_name, m.subject, m.body, m.list_id, m.created_at
            FROM updated u JOIN outbox_messages m ON m.id = u.message_id
            ORDER BY u.priority DESC, u.id
            """)
        for try await (id, messageID, address, domain, charset, token, link, attempts, urgent, fromName, subject, body, listID, createdAt)
            in rows.decode((Int64, Int64, String, String, String, String?, String?, Int32, Bool, String, String, String, String?, Date).self) {
            claimed.append(ClaimedDelivery(
                id: id, messageID: messageID, address: address, domain: domain, charset: charset, unsubscribeToken: token, linkToken: link,
                attempts: Int(attempts), urgent: urgent, fromName: fromName, subject: subject, body: body, listID: listID,
                createdAt: createdAt))
        }
        return claimed
    }

    /// The earliest moment `claim` could find work: a queued job falling due in a domain
    /// that is not paused, a lease running out, a domain pause ending. Each part reads one
    /// end of an index, so an idle worker's question costs next to nothing.
    public static func nextDue(now: Date, on db: DatabaseConnection) async throws -> Date? {
        for try await next in try await db.query("""
            WITH paused AS (
                SELECT domain, paused_until FROM mail_domain_pauses WHERE paused_until > \(now)
            )
            SELECT least(
                (SELECT due_at FROM deliveries WHERE state = 'queued' AND priority = 1 AND domain NOT IN (SELECT domain FROM paused)
                 ORDER BY priority DESC, due_at LIMIT 1),
                (SELECT due_at FROM deliveries WHERE state = 'queued' AND priority = 0 AND domain NOT IN (SELECT domain FROM paused)
                 ORDER BY priority DESC, due_at LIMIT 1),
                (SELECT lease_expires_at FROM deliveries WHERE state = 'sending' AND domain NOT IN (SELECT domain FROM paused)
                 ORDER BY lease_expires_at LIMIT 1),
                (SELECT min(paused_until) FROM paused)
            )
            """).decode(Date?.self) {
            return next
        }
        return nil
    }

    /// The earliest urgent deadline not yet checked by `reportMissedDeadlines`.
    public static func nextUnreportedDeadline(on db: DatabaseConnection) async throws -> Date? {
        for try await next in try await db.query("""
            SELECT min(deadline_at) FROM outbox_messages WHERE deadline_at IS NOT NULL AND deadline_reported_at IS NULL
            """).decode(Date?.self) {
            return next
        }
        return nil
    }

    /// Extends the lease on jobs this worker still holds, so a long batch (a throttled
    /// domain, a slow relay) is not taken over by another worker while it is being sent.
    public static func renewLease(
        ids: [Int64], worker: String, until: Date, on db: DatabaseConnection
    ) async throws {
        try await db.query("""
            UPDATE deliveries SET lease_expires_at = \(until)
            WHERE id = ANY(\(ids)::bigint[]) AND state = 'sending' AND lease_owner = \(worker)
            """)
    }

    /// True when `record` writes these outcomes in one statement (all sent, say), which is
    /// atomic on its own: no transaction needed, two round trips fewer per write.
    public static func recordsInOneStatement(_ outcomes: [(id: Int64, outcome: DeliveryOutcome)]) -> Bool {
        func kind(_ outcome: DeliveryOutcome) -> Int {
            switch outcome {
            case .sent: 0
            case .retry: 1
            case .failed, .dead: 2
            case .release: 3
            case .postpone: 4
            }
        }
        guard let first = outcomes.first.map({ kind($0.outcome) }) else { return true }
        return outcomes.allSatisfy { kind($0.outcome) == first }
    }

    /// Records outcomes in a handful of statements, whatever the batch size.
    ///
    /// Only rows this worker still holds are touched: a job another worker has rescued in
    /// the meantime, or one a bounce report already marked, keeps its newer state.
    public static func record(
        _ outcomes: [(id: Int64, outcome: DeliveryOutcome)], worker: String, now: Date, on db: DatabaseConnection
    ) async throws {
        var sentIDs: [Int64] = [], sentReplies: [String] = []
        var retryIDs: [Int64] = [], retryReplies: [String] = [], retryAt: [Date] = []
        var finalIDs: [Int64] = [], finalStates: [String] = [], finalReplies: [String] = []
        var released: [Int64] = []
        var postponedIDs: [Int64] = [], postponedReplies: [String] = [], postponedUntil: [Date] = []
        for (id, outcome) in outcomes {
            switch outcome {
            case .sent(let reply): sentIDs.append(id); sentReplies.append(clip(reply))
            case .retry(let reply, let at): retryIDs.append(id); retryReplies.append(clip(reply)); retryAt.append(at)
            case .failed(let reply): finalIDs.append(id); finalStates.append("failed"); finalReplies.append(clip(reply))
            case .dead(let reply): finalIDs.append(id); finalStates.append("dead"); finalReplies.append(clip(reply))
            case .release: released.append(id)
            case .postpone(let reply, let until): postponedIDs.append(id); postponedReplies.append(clip(reply)); postponedUntil.append(until)
            }
        }
        if !sentIDs.isEmpty {
            try await db.query("""
                UPDATE deliveries d SET state = 'sent', sent_at = \(now), last_reply = r.reply, lease_owner = NULL, lease_expires_at = NULL
                FROM unnest(\(sentIDs)::bigint[], \(sentReplies)::text[]) AS r(id, reply)
                WHERE d.id = r.id AND d.state = 'sending' AND d.lease_owner = \(worker)
                """)
        }
        if !retryIDs.isEmpty {
            try await db.query("""
                UPDATE deliveries d SET state = 'queued', due_at = r.at, last_reply = r.reply, lease_owner = NULL, lease_expires_at = NULL
                FROM unnest(\(retryIDs)::bigint[], \(retryReplies)::text[], \(retryAt)::timestamptz[]) AS r(id, reply, at)
                WHERE d.id = r.id AND d.state = 'sending' AND d.lease_owner = \(worker)
                """)
        }
        if !finalIDs.isEmpty {
            try await db.query("""
                UPDATE deliveries d SET state = r.state, last_reply = r.reply, lease_owner = NULL, lease_expires_at = NULL
                FROM unnest(\(finalIDs)::bigint[], \(finalStates)::text[], \(finalReplies)::text[]) AS r(id, state, reply)
                WHERE d.id = r.id AND d.state = 'sending' AND d.lease_owner = \(worker)
                """)
        }
        if !released.isEmpty {
            try await db.query("""
                UPDATE deliveries SET state = 'queued', attempts = greatest(attempts - 1, 0), lease_owner = NULL, lease_expires_at = NULL
                WHERE id = ANY(\(released)::bigint[]) AND state = 'sending' AND lease_owner = \(worker)
                """)
        }
        if !postponedIDs.isEmpty {
            try await db.query("""
                UPDATE deliveries d SET state = 'queued', attempts = greatest(d.attempts - 1, 0), due_at = r.until, last_reply = r.reply,
                    lease_owner = NULL, lease_expires_at = NULL
                FROM unnest(\(postponedIDs)::bigint[], \(postponedReplies)::text[], \(postponedUntil)::timestamptz[]) AS r(id, reply, until)
                WHERE d.id = r.id AND d.state = 'sending' AND d.lease_owner = \(worker)
                """)
        }
    }

    /// Counts a permanent refusal against each address; at `limit` the address is suppressed
    /// (and the alert subscriber with it marked). Returns the keys suppressed by this call.
    public static func recordHardBounces(
        emailKeys: [String], reply: [String], limit: Int, now: Date, on db: DatabaseConnection
    ) async throws -> [String] {
        guard !emailKeys.isEmpty else { return [] }
        try await db.query("""
            INSERT INTO mail_address_status AS s (email_key, hard_bounces, last_bounce_at, last_reply)
            SELECT k, count(*), \(now), max(r) FROM unnest(\(emailKeys)::text[], \(reply.map(clip))::text[]) AS b(k, r) GROUP BY k
            ON CONFLICT (email_key) DO UPDATE
            SET hard_bounces = s.hard_bounces + excluded.hard_bounces, last_bounce_at = excluded.last_bounce_at,
                last_reply = excluded.last_reply
            """)
        var suppressed: [String] = []
        for try await key in try await db.query("""
            UPDATE mail_address_status SET suppressed_at = \(now)
            WHERE email_key = ANY(\(emailKeys)::text[]) AND suppressed_at IS NULL AND hard_bounces >= \(limit)
            RETURNING email_key
            """).decode(String.self) {
            suppressed.append(key)
        }
        if !suppressed.isEmpty {
            try await db.query("""
                UPDATE alert_subscribers SET status = 'suppressed', suppressed_at = \(now)
                WHERE email_key = ANY(\(suppressed)::text[]) AND status = 'active'
                """)
            try await db.query("""
                UPDATE deliveries d SET state = 'cancelled', last_reply = 'address suppressed after hard bounces'
                FROM alert_subscribers s
                WHERE s.email_key = ANY(\(suppressed)::text[]) AND d.recipient = 'subscriber:' || s.id AND d.state = 'queued'
                """)
        }
        return suppressed
    }

    public static func pauseDomain(_ domain: String, until: Date, reason: String, on db: DatabaseConnection) async throws {
        try await db.query("""
            INSERT INTO mail_domain_pauses (domain, paused_until, reason) VALUES (\(domain), \(until), \(clip(reason)))
            ON CONFLICT (domain) DO UPDATE SET paused_until = greatest(mail_domain_pauses.paused_until, excluded.paused_until), reason = excluded.reason
            """)
    }

    public static func counts(message: Int64, on db: DatabaseConnection) async throws -> DeliveryCounts {
        try await counts(messages: [message], on: db)[message] ?? DeliveryCounts()
    }

    /// Progress of several messages in one query (a page of alerts).
    public static func counts(messages: [Int64], on db: DatabaseConnection) async throws -> [Int64: DeliveryCounts] {
        var result: [Int64: DeliveryCounts] = [:]
        for message in messages { result[message] = DeliveryCounts() }
        for try await (message, state, retrying, n) in try await db.query("""
            SELECT message_id, state, attempts > 0 AND state = 'queued', count(*)::int FROM deliveries
            WHERE message_id = ANY(\(messages)::bigint[]) GROUP BY 1, 2, 3
            """).decode((Int64, String, Bool, Int).self) {
            switch state {
            case "queued": if retrying { result[message]?.retrying += n } else { result[message]?.queued += n }
            case "sending": result[message]?.sending += n
            case "sent": result[message]?.sent += n
            case "failed": result[message]?.failed += n
            case "dead": result[message]?.dead += n
            case "bounced": result[message]?.bounced += n
            case "cancelled": result[message]?.cancelled += n
            default: break
            }
        }
        return result
    }

    /// One message's progress per recipient domain (for the carrier breakdown of an alert).
    public static func countsByDomain(message: Int64, on db: DatabaseConnection) async throws -> [String: DeliveryCounts] {
        var result: [String: DeliveryCounts] = [:]
        for try await (domain, state, retrying, n) in try await db.query("""
            SELECT domain, state, attempts > 0 AND state = 'queued', count(*)::int FROM deliveries
            WHERE message_id = \(message) GROUP BY 1, 2, 3
            """).decode((String, String, Bool, Int).self) {
            var counts = result[domain] ?? DeliveryCounts()
            switch state {
            case "queued": if retrying { counts.retrying += n } else { counts.queued += n }
            case "sending": counts.sending += n
            case "sent": counts.sent += n
            case "failed": counts.failed += n
            case "dead": counts.dead += n
            case "bounced": counts.bounced += n
            case "cancelled": counts.cancelled += n
            default: break
            }
            result[domain] = counts
        }
        return result
    }

    /// Urgent messages whose deadline has passed and that were not checked yet: marks them
    /// checked, and missed when a job was still undelivered at the deadline or went out
    /// after it. Returns how many were checked, and the missed ones as (message id, jobs
    /// outstanding).
    public static func reportMissedDeadlines(
        now: Date, on db: DatabaseConnection
    ) async throws -> (checked: Int, missed: [(Int64, Int)]) {
        var missed: [(Int64, Int)] = []
        var checked = 0
        for try await (id, outstanding, late) in try await db.query("""
            WITH due AS (
                SELECT m.id,
                       (SELECT count(*)::int FROM deliveries d WHERE d.message_id = m.id AND d.state IN ('queued', 'sending')) AS outstanding,
                       (SELECT count(*)::int FROM deliveries d WHERE d.message_id = m.id AND d.sent_at > m.deadline_at) AS late
                FROM outbox_messages m
                WHERE m.deadline_at IS NOT NULL AND m.deadline_at <= \(now) AND m.deadline_reported_at IS NULL
                FOR UPDATE SKIP LOCKED
            )
            UPDATE outbox_messages m SET deadline_reported_at = \(now), deadline_missed = (due.outstanding > 0 OR due.late > 0)
            FROM due WHERE m.id = due.id
            RETURNING m.id, due.outstanding, due.late
            """).decode((Int64, Int, Int).self) {
            checked += 1
            if outstanding > 0 || late > 0 { missed.append((id, outstanding)) }
        }
        return (checked, missed)
    }

    /// Queued jobs per destination domain (for the backlog gauge).
    public static func queuedByDomain(on db: DatabaseConnection) async throws -> [String: Int] {
        var result: [String: Int] = [:]
        for try await (domain, n) in try await db.query(
            "SELECT domain, count(*)::int FROM deliveries WHERE state = 'queued' GROUP BY domain"
        ).decode((String, Int).self) {
            result[domain] = n
        }
        return result
    }

    /// The key of VERP tags, made once per database by its migration.
    public static func verpSecret(on db: DatabaseConnection) async throws -> String {
        for try await value in try await db.query("SELECT value FROM server_secrets WHERE name = 'verp'").decode(String.self) {
            return value
        }
        preconditionFailure("migration 0005 inserts the VERP secret")
    }

    /// Server replies are kept for the record, bounded.
    static func clip(_ reply: String) -> String { String(reply.prefix(500)) }
}
