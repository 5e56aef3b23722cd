import Logging
import PostgresNIO

/// A connection the caller holds (inside a transaction or not) and the logger its
/// statements report to: what every store function takes, so the caller decides what runs
/// in one transaction, and a call site names one thing instead of two.
public struct DatabaseConnection: Sendable {
    public let connection: PostgresConnection
    public let logger: Logger

    public init(_ connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    /// Runs one statement, its values bound (see `PostgresQuery`'s interpolation), through
    /// the guarded `query` (GuardedQuery.swift).
    @discardableResult
    public func query(_ query: PostgresQuery, file: String = #fileID, line: Int = #line) async throws -> PostgresRowSequence {
        try await connection.query(query, logger: logger, file: file, line: line)
    }

    /// Runs `body` in one transaction on this connection (for work that holds a single
    /// connection of its own, such as migrations; pooled work uses `Database.withTransaction`).
    public func withTransaction<T>(
        isolation: isolated (any Actor)? = #isolation, _ body: (DatabaseConnection) async throws -> sending T
    ) async throws -> sending T {
        let logger = self.logger
        return try await connection.withTransaction(logger: logger, isolation: isolation) { connection in
            try await body(DatabaseConnection(connection, logger: logger))
        }
    }
}
