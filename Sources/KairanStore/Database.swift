import Logging
import PostgresNIO

/// Carries a value out of `withTaskCancellationHandler`, which does not pass `sending`
/// results through: the value goes from our caller's closure back to our caller, and
/// nothing else holds it.
struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// The pooled PostgreSQL client plus the logger queries report to.
///
/// Persistence functions take a `DatabaseConnection`, never this type, so the caller decides
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
    ///
    /// Cancellation is honoured at every step: waiting for a connection ends at once, and a
    /// query already sent is abandoned by closing its connection (PostgreSQL rolls back what
    /// it had open). That is what bounds a request when the database is frozen: without it a
    /// query sent to a stopped server waits for as long as the server is stopped.
    public func withConnection<T>(
        isolation: isolated (any Actor)? = #isolation, _ body: (DatabaseConnection) async throws -> sending T
    ) async throws -> sending T {
        let logger = self.logger
        return try await client.withConnection(isolation: isolation) { connection in
            // The result only passes through: `body` made it for our caller.
            let result = try await withTaskCancellationHandler {
                UnsafeTransfer(try await body(DatabaseConnection(connection, logger: logger)))
            } onCancel: {
                connection.close().whenComplete { _ in }
            }
            return result.value
        }
    }

    /// Runs `body` in one transaction: committed if it returns, rolled back if it throws.
    /// The closure's own error is rethrown as is, so callers can match on their error types.
    /// A task cancelled before the commit (its request ran out of time) rolls back: a client
    /// told 503 must not find the write done.
    ///
    /// BEGIN, the body and COMMIT all run under the cancellation handler that closes the
    /// connection (PostgresClient's own `withTransaction` sends BEGIN and COMMIT outside any
    /// handler of ours, where a request timed out during a restart waited on for good).
    public func withTransaction<T>(
        isolation: isolated (any Actor)? = #isolation, _ body: (DatabaseConnection) async throws -> sending T
    ) async throws -> sending T {
        var attempt = 1
        let logger = self.logger
        while true {
            do {
                return try await client.withConnection(isolation: isolation) { connection in
                    let result = try await withTaskCancellationHandler {
                        try await connection.query("BEGIN;", logger: logger)
                        let value: UnsafeTransfer<T>
                        do {
                            value = UnsafeTransfer(try await body(DatabaseConnection(connection, logger: logger)))
                            try Task.checkCancellation()
                        } catch {
                            // The connection may already be gone (that is often why `body`
                            // failed); the server rolls back what it had open either way.
                            _ = try? await connection.query("ROLLBACK;", logger: logger)
                            throw error
                        }
                        // Checked: a statement that failed unseen leaves COMMIT answering
                        // ROLLBACK, and the caller must not report the write as done.
                        try await connection.commit(logger: logger)
                        return value
                    } onCancel: {
                        connection.close().whenComplete { _ in }
                    }
                    return result.value
                }
            } catch where attempt < 3 && Self.isDeadlock(error) {
                // A deadlock aborts one of the transactions involved and nothing of it is
                // kept, so running it again is safe (two publishers whose stream locks
                // crossed, for instance).
                logger.warning("deadlock; transaction retried", metadata: ["attempt": "\(attempt)"])
                attempt += 1
            }
        }
    }

    /// Runs read-only `body` on one snapshot of the database (a repeatable-read
    /// transaction): every query in it sees the same committed state, as one statement
    /// would. For answers whose parts must agree, such as a permission and the offset of
    /// the last membership change it has seen.
    public func withReadSnapshot<T>(
        isolation: isolated (any Actor)? = #isolation, _ body: (DatabaseConnection) async throws -> sending T
    ) async throws -> sending T {
        return try await withTransaction(isolation: isolation) { db in
            try await db.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return try await body(db)
        }
    }

    /// `withConnection` that gives up after `timeLimit` with `ConnectionLost` (cancellation
    /// makes the work end promptly, see above). For work that runs outside a request's
    /// deadline, such as the pages of a streamed export.
    public func withConnection<T: Sendable>(
        timeLimit: Duration, _ body: @escaping @Sendable (DatabaseConnection) async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await self.withConnection { db in try await body(db) } }
            group.addTask {
                try await Task.sleep(for: timeLimit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw ConnectionLost() }
            return value
        }
    }

    /// One round trip within `timeLimit` (readiness checks).
    public func ping(timeLimit: Duration) async throws {
        _ = try await withConnection(timeLimit: timeLimit) { db -> Bool in
            _ = try await db.query("SELECT 1")
            return true
        }
    }

    /// True for errors that mean the database is away (restarting, shutting down, the
    /// connection lost or closed on a deadline) rather than a fault in the request: the
    /// client gets 503 and may retry.
    public static func isUnavailable(_ error: any Error) -> Bool {
        // A transaction that came back rolled back is refused as a whole, like a
        // statement on a full disk: the same request may succeed later.
        if error is CancellationError || error is ConnectionLost || error is TransactionRolledBack { return true }
        if let error = error as? PostgresTransactionError {
            return isUnavailable(error.closureError ?? error.beginError ?? error.commitError ?? error.rollbackError ?? CancellationError())
        }
        guard let error = error as? PSQLError else { return false }
        if let state = error.serverInfo?[.sqlState] {
            // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now,
            // 08xxx connection exceptions, 53xxx insufficient resources (53100 disk_full,
            // 53200 out_of_memory, 53300 too_many_connections): the statement was refused
            // and rolled back, and the same request may succeed later. The log line says
            // which (its sqlstate).
            return state.hasPrefix("57P") || state.hasPrefix("08") || state.hasPrefix("53")
        }
        switch error.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .queryCancelled, .poolClosed, .uncleanShutdown:
            return true
        default:
            return false
        }
    }

    /// True for a unique-constraint violation (two writers racing for the same name).
    public static func isUniqueViolation(_ error: any Error) -> Bool {
        (error as? PSQLError)?.serverInfo?[.sqlState] == "23505"
    }

    /// True for the error of a transaction PostgreSQL chose to abort to end a deadlock:
    /// nothing of it was kept, so running it again is safe.
    public static func isDeadlock(_ error: any Error) -> Bool {
        (error as? PSQLError)?.serverInfo?[.sqlState] == "40P01"
    }
}
