import Foundation
import KairanCore
import Logging
import PostgresNIO

/// Tickets for the WebSocket handshake: `POST /v1/stream/tickets` makes one, the handshake
/// spends it. Any instance can spend a ticket another made.
public enum StreamTicketStore {
    /// A ticket belongs to the session that asked for it: it is spent only while that
    /// session lasts, and the stream it opens ends with the session.
    public static func insert(
        _ ticket: SessionToken, account: AccountID, session: Int64, now: Date, expiresAt: Date, on db: DatabaseConnection
    ) async throws {
        let hash = ticket.hash
        try await db.query("""
            INSERT INTO stream_tickets (ticket_hash, account_id, session_id, created_at, expires_at)
            VALUES (\(hash), \(account), \(session), \(now), \(expiresAt))
            """)
    }

    /// Marks the ticket used and returns its session with the account's roles; nil if the
    /// ticket is unknown, used or expired, or its session has ended (logged out, expired,
    /// account disabled).
    public static func spend(_ ticket: SessionToken, now: Date, on db: DatabaseConnection) async throws -> ActiveSession? {
        let hash = ticket.hash
        for try await (session, account, expiresAt, roles, name) in try await db.query("""
            UPDATE stream_tickets t SET used_at = \(now)
            FROM accounts a, sessions s
            WHERE t.ticket_hash = \(hash) AND t.used_at IS NULL AND t.expires_at > \(now)
              AND a.id = t.account_id AND a.disabled_at IS NULL
              AND s.id = t.session_id AND s.revoked_at IS NULL AND s.expires_at > \(now)
            RETURNING s.id, t.account_id, s.expires_at, ARRAY(SELECT role FROM account_roles r WHERE r.account_id = t.account_id), a.display_name
            """).decode((Int64, AccountID, Date, [String], String).self) {
            return ActiveSession(id: session, accountID: account, expiresAt: expiresAt, roles: Set(roles.compactMap(Role.init(rawValue:))),
                                 displayName: name, isOrganizationStaff: false)
        }
        return nil
    }

    public static func deleteEnded(before cutoff: Date, on db: DatabaseConnection) async throws {
        try await db.query("DELETE FROM stream_tickets WHERE expires_at < \(cutoff)")
    }
}
