import Foundation
import KairanCore
import Logging
import PostgresNIO

/// What went wrong with mail, for the town staff who answer for it: suppressed addresses
/// and why, dead letters, bounce reports; and the repairs (requeue, lift a suppression).
public enum MailProblemStore {
    public struct Suppression: Sendable, Equatable {
        public let emailKey: String
        public let hardBounces: Int
        public let lastReply: String?
        public let lastBounceAt: Date?
        public let suppressedAt: Date
    }

    /// The newest suppressions first (at most `limit`).
    public static func suppressions(limit: Int, on db: DatabaseConnection) async throws -> [Suppression] {
        var result: [Suppression] = []
        for try await (key, bounces, reply, lastBounce, suppressed) in try await db.query("""
            SELECT email_key, hard_bounces, last_reply, last_bounce_at, suppressed_at FROM mail_address_status
            WHERE suppressed_at IS NOT NULL ORDER BY suppressed_at DESC, email_key LIMIT \(limit)
            """).decode((String, Int32, String?, Date?, Date).self) {
            result.append(Suppression(emailKey: key, hardBounces: Int(bounces), lastReply: reply, lastBounceAt: lastBounce, suppressedAt: suppressed))
        }
        return result
    }

    /// Mail may go to the address again: its bounce count starts over, and alert
    /// subscribers suppressed with it are active again. False when it was not suppressed.
    public static func liftSuppression(emailKey: String, on db: DatabaseConnection) async throws -> Bool {
        var lifted = false
        for try await _ in try await db.query("""
            UPDATE mail_address_status SET suppressed_at = NULL, hard_bounces = 0
            WHERE email_key = \(emailKey) AND suppressed_at IS NOT NULL RETURNING email_key
            """).decode(String.self) {
            lifted = true
        }
        guard lifted else { return false }
        try await db.query("""
            UPDATE alert_subscribers SET status = 'active', suppressed_at = NULL WHERE email_key = \(emailKey) AND status = 'suppressed'
            """)
        return true
    }

    public struct DeadLetter: Sendable, Equatable {
        public let id: Int64
        public let messageID: Int64
        /// "alert", "notice", … (the outbox message's kind).
        public let kind: String
        public let subject: String
        public let address: String
        public let domain: String
        /// "dead" (temporary failures until the last attempt) or "failed" (refused for good).
        public let state: String
        public let attempts: Int
        public let lastReply: String?
        public let lastAttemptAt: Date?
    }

    /// Jobs that will not be tried again, newest first; `message` narrows to one message.
    public static func deadLetters(
        states: [String], message: Int64?, before: Int64?, limit: Int, on db: DatabaseConnection
    ) async throws -> [DeadLetter] {
        var result: [DeadLetter] = []
        for try await (id, messageID, kind, subject, address, domain, state, attempts, reply, lastAttempt) in try await db.query("""
            SELECT d.id, d.message_id, m.kind, m.subject, d.address, d.domain, d.state, d.attempts, d.last_reply, d.last_attempt_at
            FROM deliveries d JOIN outbox_messages m ON m.id = d.message_id
            WHERE d.state = ANY(\(states)::text[]) AND d.channel = 'mail'
              AND (\(message)::bigint IS NULL OR d.message_id = \(message))
              AND (\(before)::bigint IS NULL OR d.id < \(before))
            ORDER BY d.id DESC LIMIT \(limit)
            """).decode((Int64, Int64, String, String, String, String, String, Int32, String?, Date?).self) {
            result.append(DeadLetter(id: id, messageID: messageID, kind: kind, subject: subject, address: address, domain: domain, state: state,
                                     attempts: Int(attempts), lastReply: reply, lastAttemptAt: lastAttempt))
        }
        return result
    }

    /// Dead or failed jobs go back to the queue with their attempts reset, due now, and the
    /// workers are woken. Jobs to an address suppressed since stay where they are. Returns
    /// the ids requeued.
    public static func requeue(
        ids: [Int64]?, message: Int64?, now: Date, on db: DatabaseConnection
    ) async throws -> [Int64] {
        var requeued: [Int64] = []
        for try await id in try await db.query("""
            UPDATE deliveries d SET state = 'queued', attempts = 0, due_at = \(now), lease_owner = NULL, lease_expires_at = NULL
            WHERE d.state IN ('dead', 'failed') AND d.channel = 'mail'
              AND (\(ids)::bigint[] IS NULL OR d.id = ANY(\(ids)::bigint[]))
              AND (\(message)::bigint IS NULL OR d.message_id = \(message))
              AND NOT EXISTS (
                  -- The comparison key: the local part as written, the domain in lower case.
                  SELECT 1 FROM mail_address_status s
                  WHERE s.email_key = left(d.address, length(d.address) - length(d.domain) - 1) || '@' || lower(d.domain)
                    AND s.suppressed_at IS NOT NULL)
            RETURNING d.id
            """).decode(Int64.self) {
            requeued.append(id)
        }
        if !requeued.isEmpty { try await db.query("SELECT pg_notify(\(DeliveryStore.channel), '')") }
        return requeued
    }

    public struct BounceReport: Sendable, Equatable {
        public let id: Int64
        public let deliveryID: Int64
        public let messageID: Int64
        public let address: String
        public let status: String
        public let action: String
        public let diagnostic: String?
        public let permanent: Bool
        public let receivedAt: Date
    }

    /// Bounce reports as the reporting servers worded them, newest first.
    public static func bounces(before: Int64?, limit: Int, on db: DatabaseConnection) async throws -> [BounceReport] {
        var result: [BounceReport] = []
        for try await (id, delivery, message, address, status, action, diagnostic, permanent, received) in try await db.query("""
            SELECT b.id, b.delivery_id, d.message_id, d.address, b.status, b.action, b.diagnostic, b.permanent, b.received_at
            FROM delivery_bounces b JOIN deliveries d ON d.id = b.delivery_id
            WHERE (\(before)::bigint IS NULL OR b.id < \(before))
            ORDER BY b.id DESC LIMIT \(limit)
            """).decode((Int64, Int64, Int64, String, String, String, String?, Bool, Date).self) {
            result.append(BounceReport(id: id, deliveryID: delivery, messageID: message, address: address, status: status, action: action,
                                       diagnostic: diagnostic, permanent: permanent, receivedAt: received))
        }
        return result
    }
}
