import Logging
import PostgresNIO

/// The pooled PostgreSQL client plus the logger queries report to.
///
/// Persistence functions take a `PostgresConnection`, never this type, so the caller decides
/// what runs in one transaction.
public struct Database: Sendable {
    public let client: PostgresClient
    public let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await client.withConnection(body)
    }

    /// Runs `body` in one transaction: committed if it returns, rolled back if it throws.
    /// The closure's own error is rethrown as is, so callers can match on their error types.
    public func withTransaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
        } catch let error as PostgresTransactionError {
            if let closureError = error.closureError { throw closureError }
            throw error
        }
    }
}
