import Foundation
import KairanCore
import Logging
import PostgresNIO

public struct RegistrationRecord: Sendable, Equatable {
    public let id: Int64
    public let purpose: String
    public let email: String
    public let subscriberID: Int64?
}

public enum RegistrationLookup: Sendable, Equatable {
    /// Unused and unexpired: now consumed.
    case confirmed(RegistrationRecord)
    /// Opened before; the subscription it made, if still there.
    case alreadyUsed(RegistrationRecord)
    case expired
    case unknown
}

/// Empty-mail registration, address changes and bounce reports.
public enum RegistrationStore {
    /// Whether a confirmation went to this address since `since` (one reply per window).
    public static func repliedRecently(emailKey: String, since: Date, on db: DatabaseConnection) async throws -> Bool {
        for try await _ in try await db.query("""
            SELECT 1 FROM mail_registrations WHERE email_key = \(emailKey) AND created_at > \(since) LIMIT 1
            """).decode(Int.self) {
            return true
        }
        return false
    }

    /// Confirmation requests accepted since `since`, all addresses together.
    public static func count(since: Date, on db: DatabaseConnection) async throws -> Int {
        for try await n in try await db.query(
            "SELECT count(*)::int FROM mail_registrations WHERE created_at > \(since)"
        ).decode(Int.self) {
            return n
        }
        return 0
    }

    @discardableResult
    public static func create(
        purpose: String, address: EmailAddress, subscriberID: Int64?, token: String, now: Date, expires: Date,
        on db: DatabaseConnection
    ) async throws -> Int64 {
        for try await id in try await db.query("""
            INSERT INTO mail_registrations (token_hash, purpose, email, email_key, subscriber_id, created_at, expires_at)
            VALUES (\(RandomToken.hash(token)), \(purpose), \(address.raw), \(address.comparisonKey), \(subscriberID), \(now), \(expires))
            RETURNING id
            """).decode(Int64.self) {
            return id
        }
        preconditionFailure("INSERT … RETURNING returned no row")
    }

    /// Consumes the link's token: single use, until it expires.
    public static func consume(token: String, now: Date, on db: DatabaseConnection) async throws -> RegistrationLookup {
        for try await (id, purpose, email, subscriber, expires, used) in try await db.query("""
            SELECT id, purpose, email, subscriber_id, expires_at, used_at FROM mail_registrations WHERE token_hash = \(RandomToken.hash(token)) FOR UPDATE
            """).decode((Int64, String, String, Int64?, Date, Date?).self) {
            let record = RegistrationRecord(id: id, purpose: purpose, email: email, subscriberID: subscriber)
            if expires <= now { return .expired }
            if used != nil { return .alreadyUsed(record) }
            try await db.query("UPDATE mail_registrations SET used_at = \(now) WHERE id = \(id)")
            return .confirmed(record)
        }
        return .unknown
    }

    /// Remembers which subscription a used registration made, for a second opening.
    public static func setSubscriber(registration id: Int64, subscriber: Int64, on db: DatabaseConnection) async throws {
        try await db.query("UPDATE mail_registrations SET subscriber_id = \(subscriber) WHERE id = \(id)")
    }

    public static func createChangeCode(subscriber: Int64, code: String, now: Date, expires: Date, on db: DatabaseConnection) async throws {
        try await db.query("DELETE FROM mail_change_codes WHERE subscriber_id = \(subscriber) OR expires_at < \(now)")
        try await db.query("""
            INSERT INTO mail_change_codes (code, subscriber_id, created_at, expires_at) VALUES (\(code), \(subscriber), \(now), \(expires))
            """)
    }

    public static func subscriber(changeCode code: String, now: Date, on db: DatabaseConnection) async throws -> Int64? {
        for try await id in try await db.query("""
            SELECT c.subscriber_id FROM mail_change_codes c JOIN alert_subscribers s ON s.id = c.subscriber_id
            WHERE c.code = \(code) AND c.expires_at > \(now) AND s.status = 'active'
            """).decode(Int64.self) {
            return id
        }
        return nil
    }

    /// Moves a subscription to a new address. False when another subscription has it.
    public static func changeAddress(subscriber: Int64, to address: EmailAddress, on db: DatabaseConnection) async throws -> Bool {
        for try await _ in try await db.query("""
            SELECT 1 FROM alert_subscribers WHERE email_key = \(address.comparisonKey) AND id <> \(subscriber)
            """).decode(Int.self) {
            return false
        }
        // A move between a carrier phone and other mail takes the new address's default
        // charset: the old one suited the old kind of phone (a choice made for one carrier
        // address is kept for another).
        var oldDomain: String?
        for try await domain in try await db.query("SELECT domain FROM alert_subscribers WHERE id = \(subscriber) FOR UPDATE").decode(String.self) {
            oldDomain = domain
        }
        let newKindOfPhone = oldDomain.map { EmailAddress.isJapaneseCarrier(domain: $0) != address.isJapaneseCarrier } ?? false
        try await db.query("""
            UPDATE alert_subscribers SET email = \(address.raw), email_key = \(address.comparisonKey), domain = \(address.domain.lowercased()),
                charset = CASE WHEN \(newKindOfPhone) THEN \(address.defaultMailCharset) ELSE charset END
            WHERE id = \(subscriber)
            """)
        try await db.query("DELETE FROM mail_change_codes WHERE subscriber_id = \(subscriber)")
        // Mail still queued for the old address goes to the new one.
        try await db.query("""
            UPDATE deliveries SET address = \(address.raw), domain = \(address.domain.lowercased()),
                charset = CASE WHEN \(newKindOfPhone) THEN \(address.defaultMailCharset) ELSE charset END
            WHERE recipient = \("subscriber:\(subscriber)") AND state = 'queued'
            """)
        return true
    }

    /// Records a bounce report against its job. A permanent one marks the job bounced.
    /// Returns the job's address, or nil when there is no such job.
    public static func recordBounce(
        delivery: Int64, status: String, action: String, diagnostic: String?, permanent: Bool, now: Date,
        on db: DatabaseConnection
    ) async throws -> String? {
        var address: String?
        for try await value in try await db.query(
            "SELECT address FROM deliveries WHERE id = \(delivery)"
        ).decode(String.self) {
            address = value
        }
        guard let address else { return nil }
        try await db.query("""
            INSERT INTO delivery_bounces (delivery_id, status, action, diagnostic, permanent, received_at)
            VALUES (\(delivery), \(String(status.prefix(20))), \(String(action.prefix(20))), \(diagnostic.map { String($0.prefix(500)) }), \(permanent), \(now))
            """)
        if permanent {
            try await db.query("""
                UPDATE deliveries SET state = 'bounced', last_reply = \(String("DSN \(status) \(diagnostic ?? "")".prefix(500)))
                WHERE id = \(delivery) AND state IN ('sent', 'sending', 'queued')
                """)
        }
        return address
    }
}
