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
        var attempt = 1
        while true {
            do {
                return try await client.withTransaction(logger: logger, isolation: isolation, body)
            } catch let error as PostgresTransactionError {
                let cause = error.closureError ?? error
                // A deadlock aborts one of the transactions involved and nothing of it is
                // kept, so running it again is safe (two publishers whose stream locks
                // crossed, for instance).
                if attempt < 3, let server = cause as? PSQLError, server.serverInfo?[.sqlState] == "40P01" {
                    logger.warning("deadlock; transaction retried", metadata: ["attempt": "\(attempt)"])
                    attempt += 1
                    continue
                }
                throw cause
            }
        }
    }

    /// True for a unique-constraint violation (two writers racing for the same name).
    public static func isUniqueViolation(_ error: any Error) -> Bool {
        (error as? PSQLError)?.serverInfo?[.sqlState] == "23505"
    }
}
