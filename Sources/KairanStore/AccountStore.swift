import Foundation
import KairanCore
import Logging
import PostgresNIO

public struct AccountRecord: Sendable, Equatable {
    public let id: AccountID
    public let email: String
    public let displayName: String
    public let passwordHash: String
    public let createdAt: Date
    public let roles: Set<Role>
}

public enum AccountStoreError: Error, Equatable {
    case emailTaken
}

/// SQL for accounts and their town-wide roles. Every function takes the connection it runs
/// on, so callers compose them into one transaction.
public enum AccountStore {
    public static func insert(
        email: EmailAddress, passwordHash: String, displayName: String, roles: Set<Role>, now: Date,
        on db: DatabaseConnection
    ) async throws -> AccountRecord {
        let rows = try await db.query("""
            INSERT INTO accounts (email, email_key, password_hash, display_name, created_at)
            VALUES (\(email.raw), \(email.comparisonKey), \(passwordHash), \(displayName), \(now))
            ON CONFLICT (email_key) DO NOTHING
            RETURNING id
            """)
        var id: AccountID?
        for try await value in rows.decode(AccountID.self) { id = value }
        guard let id else { throw AccountStoreError.emailTaken }
        let roleCodes = roles.map(\.rawValue)
        try await db.query("""
            INSERT INTO account_roles (account_id, role, granted_at)
            SELECT \(id), unnest(\(roleCodes)::text[]), \(now)
            """)
        return AccountRecord(id: id, email: email.raw, displayName: displayName, passwordHash: passwordHash, createdAt: now, roles: roles)
    }

    public static func find(emailKey: String, on db: DatabaseConnection) async throws -> AccountRecord? {
        try await fetch("\(unescaped: select) WHERE a.email_key = \(emailKey) AND a.disabled_at IS NULL GROUP BY a.id", on: db)
    }

    public static func setPasswordHash(_ hash: String, of id: AccountID, on db: DatabaseConnection) async throws {
        try await db.query("UPDATE accounts SET password_hash = \(hash) WHERE id = \(id)")
    }

    public static func find(id: AccountID, on db: DatabaseConnection) async throws -> AccountRecord? {
        try await fetch("\(unescaped: select) WHERE a.id = \(id) GROUP BY a.id", on: db)
    }

    /// The account columns with its roles; the caller adds `WHERE … GROUP BY a.id`.
    private static let select = """
        SELECT a.id, a.email, a.display_name, a.password_hash, a.created_at,
               coalesce(array_agg(r.role) FILTER (WHERE r.role IS NOT NULL), '{}')
        FROM accounts a LEFT JOIN account_roles r ON r.account_id = a.id
        """

    private static func fetch(_ query: PostgresQuery, on db: DatabaseConnection) async throws -> AccountRecord? {
        for try await (id, email, name, hash, createdAt, roles) in try await db.query(query)
            .decode((AccountID, String, String, String, Date, [String]).self) {
            return AccountRecord(id: id, email: email, displayName: name, passwordHash: hash, createdAt: createdAt,
                                 roles: Set(roles.compactMap(Role.init(rawValue:))))
        }
        return nil
    }

    /// Returns false when the account does not exist.
    public static func grant(
        _ role: Role, to id: AccountID, by grantor: AccountID, now: Date, on db: DatabaseConnection
    ) async throws -> Bool {
        let rows = try await db.query("""
            INSERT INTO account_roles (account_id, role, granted_at, granted_by)
            SELECT id, \(role.rawValue), \(now), \(grantor) FROM accounts WHERE id = \(id)
            ON CONFLICT (account_id, role) DO UPDATE SET granted_at = account_roles.granted_at
            RETURNING account_id
            """)
        for try await _ in rows.decode(AccountID.self) { return true }
        return false
    }

    public static func revoke(_ role: Role, from id: AccountID, on db: DatabaseConnection) async throws {
        try await db.query("DELETE FROM account_roles WHERE account_id = \(id) AND role = \(role.rawValue)")
    }

    public static func exists(id: AccountID, on db: DatabaseConnection) async throws -> Bool {
        for try await _ in try await db.query("SELECT 1 FROM accounts WHERE id = \(id)").decode(Int.self) {
            return true
        }
        return false
    }
}
