import Foundation
import KairanCore
import Logging
import PostgresNIO

/// Tickets for the WebSocket handshake: `POST /v1/stream/tickets` makes one, the handshake
/// spends it. Any instance can spend a ticket another made.
public enum StreamTicketStore {
    public static func insert(
        _ ticket: SessionToken, account: AccountID, now: Date, expiresAt: Date, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let hash = ticket.hash
        try await connection.query("""
            INSERT INTO stream_tickets (ticket_hash, account_id, created_at, expires_at) VALUES (\(hash), \(account), \(now), \(expiresAt))
            """, logger: logger)
    }

    /// Marks the ticket used and returns its account with roles; nil if unknown, used or expired.
    public static func spend(_ ticket: SessionToken, now: Date, on connection: PostgresConnection, logger: Logger) async throws -> (AccountID, Set<Role>)? {
        let hash = ticket.hash
        for try await (account, roles) in try await connection.query("""
            UPDATE stream_tickets t SET used_at = \(now)
            FROM accounts a
            WHERE t.ticket_hash = \(hash) AND t.used_at IS NULL AND t.expires_at > \(now)
              AND a.id = t.account_id AND a.disabled_at IS NULL
            RETURNING t.account_id, ARRAY(SELECT role FROM account_roles r WHERE r.account_id = t.account_id)
            """, logger: logger).decode((AccountID, [String]).self) {
            return (account, Set(roles.compactMap(Role.init(rawValue:))))
        }
        return nil
    }

    public static func deleteEnded(before cutoff: Date, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("DELETE FROM stream_tickets WHERE expires_at < \(cutoff)", logger: logger)
    }
}
