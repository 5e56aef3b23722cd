import Crypto
import Foundation
import KairanCore
import Logging
import NIOCore
import PostgresNIO

/// A bearer token as handed to the client once. Only its SHA-256 is stored.
/// Secrets for bearer tokens and mail links.
public enum RandomToken {
    /// `byteCount` bytes from the system's CSPRNG, base64url without padding.
    /// SHA-256 of a secret, as a `bytea` bind (a `[UInt8]` would bind as an array). Only
    /// this is stored: a copy of the table does not give anyone the secret.
    public static func hash(_ secret: String) -> ByteBuffer { ByteBuffer(bytes: SHA256.hash(data: Array(secret.utf8))) }

    public static func urlSafe(byteCount: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<byteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64URLEncoded()
    }
}

public struct SessionToken: Sendable {
    public let value: String

    /// 32 bytes from the system's CSPRNG, base64url, prefixed so leaked tokens are recognisable
    /// by secret scanners.
    public static func generate() -> SessionToken {
        SessionToken(value: "kai_" + RandomToken.urlSafe(byteCount: 32))
    }

    public init(value: String) { self.value = value }

    /// What is stored of the token.
    public var hash: ByteBuffer { RandomToken.hash(value) }
}

public struct SessionRecord: Sendable, Equatable {
    public let id: Int64
    public let accountID: AccountID
    public let expiresAt: Date
}

public struct ActiveSession: Sendable, Equatable {
    public let id: Int64
    public let accountID: AccountID
    public let expiresAt: Date
    public let roles: Set<Role>
    public let displayName: String
    /// Staff of some school or nursery (the web menu offers the staff pages).
    public let isOrganizationStaff: Bool
}

public enum SessionStore {
    public static func insert(
        token: SessionToken, accountID: AccountID, now: Date, expiresAt: Date, on db: DatabaseConnection
    ) async throws -> SessionRecord {
        let hash = token.hash
        for try await id in try await db.query("""
            INSERT INTO sessions (account_id, token_hash, created_at, expires_at)
            VALUES (\(accountID), \(hash), \(now), \(expiresAt)) RETURNING id
            """).decode(Int64.self) {
            return SessionRecord(id: id, accountID: accountID, expiresAt: expiresAt)
        }
        preconditionFailure("INSERT … RETURNING returned no row")
    }

    /// The live session for a token, with its account's roles: not revoked, not expired at
    /// `now`, account not disabled. One query, since every authenticated request runs it.
    public static func findActive(token: SessionToken, now: Date, on db: DatabaseConnection) async throws -> ActiveSession? {
        for row in try await db.query(activeQuery(hash: token.hash, now: now), preparedAs: ActiveSessionStatement.self) {
            let (id, accountID, expiresAt, roles, name, staff) = try row.decode((Int64, AccountID, Date, [String], String, Bool).self)
            return ActiveSession(id: id, accountID: accountID, expiresAt: expiresAt, roles: Set(roles.compactMap(Role.init(rawValue:))),
                                 displayName: name, isOrganizationStaff: staff)
        }
        return nil
    }

    static func activeQuery(hash: ByteBuffer, now: Date) -> PostgresQuery {
        """
        SELECT s.id, s.account_id, s.expires_at,
               ARRAY(SELECT role FROM account_roles r WHERE r.account_id = s.account_id), a.display_name,
               EXISTS (SELECT 1 FROM organization_staff o WHERE o.account_id = s.account_id)
        FROM sessions s JOIN accounts a ON a.id = s.account_id
        WHERE s.token_hash = \(hash) AND s.revoked_at IS NULL AND s.expires_at > \(now) AND a.disabled_at IS NULL
        """
    }

    /// Every authenticated request's first statement: planned once per connection.
    enum ActiveSessionStatement: PreparedSQL {
        static let name = "active_session"
        static let sql = activeQuery(hash: ByteBuffer(), now: Date(timeIntervalSince1970: 0)).sql
    }

    /// Ends a session. Its unspent stream tickets stop working (spending checks the
    /// session), and every instance closes the sockets it opened: the notification travels
    /// on the events channel, so it reaches each instance's stream hub in commit order with
    /// the events themselves.
    public static func revoke(id: Int64, now: Date, on db: DatabaseConnection) async throws {
        try await db.query("UPDATE sessions SET revoked_at = \(now) WHERE id = \(id) AND revoked_at IS NULL")
        try await db.query("SELECT pg_notify(\(EventStore.channel), \(endedNotification(id)))")
    }

    /// Ends every other session of `account` (a password change): each as `revoke` does,
    /// its tickets void and its sockets closed on every instance. Returns how many ended.
    @discardableResult
    public static func revokeOthers(account: AccountID, keeping session: Int64, now: Date, on db: DatabaseConnection) async throws -> Int {
        var ended: [Int64] = []
        for try await id in try await db.query("""
            UPDATE sessions SET revoked_at = \(now) WHERE account_id = \(account) AND id <> \(session) AND revoked_at IS NULL RETURNING id
            """).decode(Int64.self) {
            ended.append(id)
        }
        if !ended.isEmpty {
            try await db.query("""
                SELECT pg_notify(\(EventStore.channel), \(endedPrefix) || id) FROM unnest(\(ended)::bigint[]) AS id
                """)
        }
        return ended.count
    }

    /// The payload on `EventStore.channel` that says a session ended. Stream names never
    /// start with `!`.
    public static func endedNotification(_ id: Int64) -> String { endedPrefix + String(id) }
    private static let endedPrefix = "!session-ended:"

    /// The session id of an `endedNotification` payload; nil for a stream name.
    public static func endedSession(in payload: String) -> Int64? {
        guard payload.hasPrefix(endedPrefix) else { return nil }
        return Int64(payload.dropFirst(endedPrefix.count))
    }

    /// Which of `ids` are no longer live at `now` (revoked, expired, deleted, account
    /// disabled).
    public static func ended(among ids: [Int64], now: Date, on db: DatabaseConnection) async throws -> [Int64] {
        var live: Set<Int64> = []
        for try await id in try await db.query("""
            SELECT s.id FROM sessions s JOIN accounts a ON a.id = s.account_id
            WHERE s.id = ANY(\(ids)::bigint[]) AND s.revoked_at IS NULL AND s.expires_at > \(now) AND a.disabled_at IS NULL
            """).decode(Int64.self) {
            live.insert(id)
        }
        return ids.filter { !live.contains($0) }
    }

    /// Deletes sessions that ended (expired or revoked) before `cutoff`, at most `limit` at a
    /// time so a large backlog never holds one long transaction. Returns how many went.
    public static func deleteEnded(before cutoff: Date, limit: Int, on db: DatabaseConnection) async throws -> Int {
        let rows = try await db.query("""
            WITH doomed AS (
                SELECT id FROM sessions
                WHERE expires_at < \(cutoff) OR revoked_at < \(cutoff)
                LIMIT \(limit) FOR UPDATE SKIP LOCKED
            )
            DELETE FROM sessions s USING doomed WHERE s.id = doomed.id RETURNING s.id
            """)
        var count = 0
        for try await _ in rows.decode(Int64.self) { count += 1 }
        return count
    }
}
