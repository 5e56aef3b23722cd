import Foundation
import NIOCore
import PostgresNIO

/// A device's Web Push subscription, as the owner sees it.
public struct PushSubscriptionRecord: Sendable, Equatable {
    public let id: Int64
    public let endpoint: String
    public let label: String?
    public let createdAt: Date
    public let lastSuccessAt: Date?
}

/// A push claimed for sending: what to encrypt, for which keys, to which endpoint.
public struct ClaimedPush: Sendable {
    public let id: Int64
    public let subscriptionID: Int64
    public let endpoint: String
    public let p256dh: [UInt8]
    public let auth: [UInt8]
    public let payload: String
    public let urgency: String
    public let ttlSeconds: Int
    public let topic: String?
    public let attempts: Int
}

/// What the push service answered for one push.
public enum PushOutcome: Sendable, Equatable {
    case sent(status: String)
    /// Try again at `retryAt` (429, 5xx, no answer).
    case retry(status: String, retryAt: Date)
    /// Not worth retrying (413, 400, 401, 403, or the last attempt).
    case failed(status: String)
    /// The subscription has expired or was withdrawn (404, 410): it is removed.
    case gone(status: String)
}

/// Web Push subscriptions and the push jobs made from them.
public enum PushStore {
    /// Publishers NOTIFY here when pushes are queued.
    public static let channel = "kairan_push"

    /// Adds the device, or updates it when the endpoint is known: for the same account, or
    /// for another one when it shows the device's own auth secret (the same browser, logged
    /// in as someone else). Nil when another account holds the endpoint and the secret does
    /// not match: knowing a device's endpoint is not enough to take it over. Keeps at most
    /// `maxPerAccount` devices per account, dropping the ones that went longest without a
    /// push arriving.
    public static func subscribe(
        account: Int64, endpoint: String, p256dh: [UInt8], auth: [UInt8], label: String?, maxPerAccount: Int, now: Date,
        on db: DatabaseConnection
    ) async throws -> PushSubscriptionRecord? {
        let rows = try await db.query("""
            INSERT INTO push_subscriptions (account_id, endpoint, p256dh, auth, label, created_at)
            VALUES (\(account), \(endpoint), \(ByteBuffer(bytes: p256dh)), \(ByteBuffer(bytes: auth)), \(label), \(now))
            ON CONFLICT (endpoint) DO UPDATE
            SET account_id = excluded.account_id, p256dh = excluded.p256dh, auth = excluded.auth,
                label = coalesce(excluded.label, push_subscriptions.label),
                created_at = CASE WHEN push_subscriptions.account_id = excluded.account_id THEN push_subscriptions.created_at
                                  ELSE excluded.created_at END
            WHERE push_subscriptions.account_id = excluded.account_id OR push_subscriptions.auth = excluded.auth
            RETURNING id, endpoint, label, created_at, last_success_at
            """)
        var record: PushSubscriptionRecord?
        for try await (id, endpoint, label, created, success) in rows.decode((Int64, String, String?, Date, Date?).self) {
            record = PushSubscriptionRecord(id: id, endpoint: endpoint, label: label, createdAt: created, lastSuccessAt: success)
        }
        guard let record else { return nil }
        try await db.query("""
            DELETE FROM push_subscriptions WHERE id IN (
                SELECT id FROM push_subscriptions WHERE account_id = \(account)
                ORDER BY coalesce(last_success_at, created_at) DESC, id DESC OFFSET \(maxPerAccount))
            """)
        return record
    }

    public static func subscriptions(account: Int64, on db: DatabaseConnection) async throws -> [PushSubscriptionRecord] {
        var records: [PushSubscriptionRecord] = []
        for try await (id, endpoint, label, created, success) in try await db.query("""
            SELECT id, endpoint, label, created_at, last_success_at FROM push_subscriptions
            WHERE account_id = \(account) ORDER BY created_at, id
            """).decode((Int64, String, String?, Date, Date?).self) {
            records.append(PushSubscriptionRecord(id: id, endpoint: endpoint, label: label, createdAt: created, lastSuccessAt: success))
        }
        return records
    }

    /// Removes one of the account's devices; false when it has no such device. Pushes not
    /// yet sent to it are cancelled (migration 0019's trigger, as for every removal).
    public static func unsubscribe(account: Int64, id: Int64, on db: DatabaseConnection) async throws -> Bool {
        for try await _ in try await db.query("""
            DELETE FROM push_subscriptions WHERE id = \(id) AND account_id = \(account) RETURNING id
            """).decode(Int64.self) {
            return true
        }
        return false
    }

    /// Queues one push per device of each account, due at `dueAt` (absent: now), in the
    /// caller's transaction, and wakes the push workers when it commits. Returns the number
    /// queued.
    @discardableResult
    public static func enqueue(
        source: String, accounts: [Int64], payload: String, urgency: String, ttlSeconds: Int, topic: String?, dueAt: Date? = nil, now: Date,
        on db: DatabaseConnection
    ) async throws -> Int {
        guard !accounts.isEmpty else { return 0 }
        var count = 0
        for try await inserted in try await db.query("""
            WITH queued AS (
                INSERT INTO push_deliveries (subscription_id, source, payload, urgency, ttl_seconds, topic, due_at, created_at)
                SELECT s.id, \(source), \(payload), \(urgency), \(ttlSeconds), \(topic), \(dueAt ?? now), \(now)
                FROM push_subscriptions s WHERE s.account_id = ANY(\(accounts)::bigint[])
                ON CONFLICT (source, subscription_id) DO NOTHING
                RETURNING 1
            )
            SELECT count(*)::int FROM queued
            """).decode(Int.self) {
            count = inserted
        }
        if count > 0 { try await db.query("SELECT pg_notify(\(channel), '')") }
        return count
    }

    /// Claims due pushes (and pushes whose worker's lease ran out), one statement: it commits
    /// on its own. A removed device's pushes are cancelled when it is removed, so each one
    /// claimed has its device.
    public static func claim(worker: String, limit: Int, lease: TimeInterval, now: Date, on db: DatabaseConnection) async throws -> [ClaimedPush] {
        let leaseUntil = now.addingTimeInterval(lease)
        var claimed: [ClaimedPush] = []
        for try await (id, subscription, endpoint, p256dh, auth, payload, urgency, ttl, topic, attempts) in try await db.query("""
            WITH due AS (
                SELECT id FROM push_deliveries
                WHERE (state = 'queued' AND due_at <= \(now)) OR (state = 'sending' AND lease_expires_at < \(now))
                ORDER BY due_at LIMIT \(limit) FOR UPDATE SKIP LOCKED
            ), updated AS (
                UPDATE push_deliveries d
                SET state = 'sending', lease_owner = \(worker), lease_expires_at = \(leaseUntil), attempts = d.attempts + 1
                FROM due WHERE d.id = due.id
                RETURNING d.id, d.subscription_id, d.payload, d.urgency, d.ttl_seconds, d.topic, d.attempts
            )
            SELECT u.id, s.id, s.endpoint, s.p256dh, s.auth, u.payload, u.urgency, u.ttl_seconds, u.topic, u.attempts
            FROM updated u JOIN push_subscriptions s ON s.id = u.subscription_id
            ORDER BY u.id
            """).decode((Int64, Int64, String, ByteBuffer, ByteBuffer, String, String, Int32, String?, Int32).self) {
            claimed.append(ClaimedPush(
                id: id, subscriptionID: subscription, endpoint: endpoint, p256dh: Array(buffer: p256dh), auth: Array(buffer: auth),
                payload: payload, urgency: urgency, ttlSeconds: Int(ttl), topic: topic, attempts: Int(attempts)))
        }
        return claimed
    }

    /// Records what the push service answered; a `gone` subscription is removed with it.
    public static func record(_ id: Int64, subscription: Int64, _ outcome: PushOutcome, worker: String, now: Date, on db: DatabaseConnection) async throws {
        switch outcome {
        case .sent(let status):
            try await db.query("""
                UPDATE push_deliveries SET state = 'sent', sent_at = \(now), last_status = \(status), lease_owner = NULL, lease_expires_at = NULL
                WHERE id = \(id) AND state = 'sending' AND lease_owner = \(worker)
                """)
            try await db.query("UPDATE push_subscriptions SET last_success_at = \(now) WHERE id = \(subscription)")
        case .retry(let status, let at):
            try await db.query("""
                UPDATE push_deliveries SET state = 'queued', due_at = \(at), last_status = \(status), lease_owner = NULL, lease_expires_at = NULL
                WHERE id = \(id) AND state = 'sending' AND lease_owner = \(worker)
                """)
        case .failed(let status):
            try await db.query("""
                UPDATE push_deliveries SET state = 'failed', last_status = \(status), lease_owner = NULL, lease_expires_at = NULL
                WHERE id = \(id) AND state = 'sending' AND lease_owner = \(worker)
                """)
        case .gone(let status):
            try await db.query("""
                UPDATE push_deliveries SET state = 'gone', last_status = \(status), lease_owner = NULL, lease_expires_at = NULL
                WHERE id = \(id) AND state = 'sending' AND lease_owner = \(worker)
                """)
            // Its other pushes not yet sent are cancelled with it (migration 0019).
            try await db.query("DELETE FROM push_subscriptions WHERE id = \(subscription)")
        }
    }

    /// One push's outcome, for `record(_:worker:now:on:)`.
    public struct RecordedOutcome: Sendable {
        public let id: Int64
        public let subscription: Int64
        public let outcome: PushOutcome
        public init(id: Int64, subscription: Int64, outcome: PushOutcome) {
            self.id = id; self.subscription = subscription; self.outcome = outcome
        }
    }

    /// Records several outcomes in the caller's transaction: the pushes sent (nearly all)
    /// with two set-based statements, the rest one by one.
    public static func record(_ outcomes: [RecordedOutcome], worker: String, now: Date, on db: DatabaseConnection) async throws {
        var sent: [(id: Int64, subscription: Int64, status: String)] = []
        for entry in outcomes {
            if case .sent(let status) = entry.outcome {
                sent.append((entry.id, entry.subscription, status))
            } else {
                try await record(entry.id, subscription: entry.subscription, entry.outcome, worker: worker, now: now, on: db)
            }
        }
        guard !sent.isEmpty else { return }
        try await db.query("""
            UPDATE push_deliveries d SET state = 'sent', sent_at = \(now), last_status = o.status, lease_owner = NULL, lease_expires_at = NULL
            FROM unnest(\(sent.map(\.id))::bigint[], \(sent.map(\.status))::text[]) AS o(id, status)
            WHERE d.id = o.id AND d.state = 'sending' AND d.lease_owner = \(worker)
            """)
        // In id order (a btree scan of `= ANY` visits the sorted keys): two workers' groups
        // that share a device lock its row in the same order.
        try await db.query("UPDATE push_subscriptions SET last_success_at = \(now) WHERE id = ANY(\(Array(Set(sent.map(\.subscription))).sorted())::bigint[])")
    }

    /// Keeps a batch's pushes ours while they are being sent.
    public static func renewLease(ids: [Int64], worker: String, until: Date, on db: DatabaseConnection) async throws {
        try await db.query("""
            UPDATE push_deliveries SET lease_expires_at = \(until)
            WHERE id = ANY(\(ids)::bigint[]) AND state = 'sending' AND lease_owner = \(worker)
            """)
    }

    /// The earliest moment `claim` could find work; nil when nothing is queued or leased.
    public static func nextDue(on db: DatabaseConnection) async throws -> Date? {
        for try await due in try await db.query("""
            SELECT least(
                (SELECT min(due_at) FROM push_deliveries WHERE state = 'queued'),
                (SELECT min(lease_expires_at) FROM push_deliveries WHERE state = 'sending'))
            """).decode(Date?.self) {
            return due
        }
        return nil
    }
}
