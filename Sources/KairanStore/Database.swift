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

    /// Runs `body` on a pooled connection, on the caller's isolation (so an actor may call it
    /// with a closure that touches its own state).
    public func withConnection<T>(
        isolation: isolated (any Actor)? = #isolation, _ body: (PostgresConnection) async throws -> sending T
    ) async throws -> sending T {
        try await client.withConnection(isolation: isolation, body)
    }

    /// Runs `body` in one transaction: committed if it returns, rolled back if it throws.
    /// The closure's own error is rethrown as is, so callers can match on their error types.
    public func withTransaction<T>(
        isolation: isolated (any Actor)? = #isolation, _ body: (PostgresConnection) async throws -> sending T
    ) async throws -> sending T {
        do {
            return try await client.withTransaction(logger: logger, isolation: isolation, body)
        } catch let error as PostgresTransactionError {
            if let closureError = error.closureError { throw closureError }
            throw error
        }
    }
}
