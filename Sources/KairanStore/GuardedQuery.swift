import KairanPostgres
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

extension PostgresConnection {
    /// Every query Kairan sends goes through here (this declaration shadows PostgresNIO's
    /// `query` for every module that imports KairanStore).
    ///
    /// Why: in PostgresNIO 1.33, a query written to a connection the server has just
    /// closed (a restart's "terminating connection due to administrator command" between
    /// two statements of one request) is dropped by the closed channel and its result
    /// never arrives: the request waited for good, and cancellation cannot reach it. Here
    /// the query runs as its own task and is abandoned with `ConnectionLost` when
    /// the connection closes first; a result that is on its way still wins.
    @discardableResult
    public func query(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws -> PostgresRowSequence {
        try await guarded { try await $0.unguardedQuery(query, logger: logger, file: file, line: line) }
    }

    /// A prepared statement's rows (PreparedStatements.swift), guarded like `query`.
    ///
    /// A statement the server refused closes the connection (the pool opens another): in
    /// PostgresNIO 1.33 a statement whose preparation failed on a connection (a lock timeout
    /// while parsing, a transaction already aborted) fails every later execution there with
    /// the same error, long after the cause is gone (`PreparedStatementStateMachine`'s
    /// `.error` state). A refusal at execution would not need it, but the two look alike,
    /// and refusals of these statements are rare.
    func executeGuarded<Statement: PostgresPreparedStatement>(_ statement: Statement, logger: Logger, file: String,
                                                       line: Int) async throws -> [PostgresRow] where Statement.Row == PostgresRow {
        do {
            return try await guarded { connection in
                var rows: [PostgresRow] = []
                for try await row in try await connection.execute(statement, logger: logger, file: file, line: line) { rows.append(row) }
                return rows
            }
        } catch let error as PSQLError where error.code == .server {
            logger.info("a prepared statement was refused; its connection is replaced", metadata: [
                "statement": "\(Statement.name)", "sqlstate": "\(error.serverInfo?[.sqlState] ?? "-")",
            ])
            close().whenComplete { _ in }
            throw error
        }
    }

    /// Commits the transaction open on this connection, and fails with
    /// `TransactionRolledBack` when the server answers ROLLBACK instead.
    ///
    /// Why: PostgreSQL answers COMMIT with ROLLBACK, and no error, when a statement of the
    /// transaction failed; and PostgresNIO reports a statement's failure only to code that
    /// reads its rows to the end (with the extended protocol the row description comes
    /// first, and the error after it). A write whose later statement failed so (an event
    /// row on a full disk) was answered 201 and was not there. Guarded like `query`.
    public func commit(logger: Logger) async throws {
        let tag = try await guarded { connection in try await connection.commitStatement(logger: logger).get().metadata.command }
        guard tag == "COMMIT" else { throw TransactionRolledBack(commandTag: tag) }
    }

    /// PostgresNIO's own query, which reports the command tag (a synchronous context
    /// picks it over the guarded `query`).
    private func commitStatement(logger: Logger) -> EventLoopFuture<PostgresQueryResult> {
        query(PostgresQuery(unsafeSQL: "COMMIT;"), logger: logger)
    }

    /// Runs `work` as its own task and abandons it with `ConnectionLost` when the
    /// connection closes first; a result that is on its way still wins.
    private func guarded<Value: Sendable>(_ work: @escaping @Sendable (PostgresConnection) async throws -> Value) async throws -> Value {
        if isClosed { throw ConnectionLost() }
        let outcome = QueryOutcome<Value>()
        let task = Task { [self] in
            do {
                outcome.finish(.success(try await work(self)))
            } catch {
                outcome.finish(.failure(error))
            }
        }
        ClosedConnectionWatch.shared.register(outcome, on: self)
        defer { ClosedConnectionWatch.shared.unregister(outcome, on: self) }
        do {
            return try await withTaskCancellationHandler {
                try await outcome.value()
            } onCancel: {
                task.cancel()
                self.close().whenComplete { _ in }
            }
        } catch let error as ConnectionLost {
            // The query's own task may never end (that is the bug); it is told to stop, and
            // costs a suspended task until then.
            task.cancel()
            throw error
        }
    }
}

/// COMMIT was answered ROLLBACK: a statement of the transaction had failed, so nothing of
/// it was kept. The caller must not report the write as done.
public struct TransactionRolledBack: Error, Sendable, CustomStringConvertible {
    public let commandTag: String
    public init(commandTag: String) { self.commandTag = commandTag }
    public var description: String { "COMMIT was answered \(commandTag): the transaction had failed and nothing of it was kept" }
}

/// The connection closed before the query's result arrived: whether the statement ran is
/// unknown, and a transaction it was part of has rolled back.
public struct ConnectionLost: Error, Sendable {}

/// Fails the queries in flight on a connection when it closes. One hook on each
/// connection's close future (a hook per query would pile up on a pooled connection that
/// lives for days), and the queries come and go in a table.
private final class ClosedConnectionWatch: Sendable {
    static let shared = ClosedConnectionWatch()

    private let watched = NIOLockedValueBox<[ObjectIdentifier: [ObjectIdentifier: any LosableOutcome]]>([:])

    func register(_ outcome: some LosableOutcome, on connection: PostgresConnection) {
        let key = ObjectIdentifier(connection)
        let isNew = watched.withLockedValue { watched -> Bool in
            let isNew = watched[key] == nil
            watched[key, default: [:]][ObjectIdentifier(outcome)] = outcome
            return isNew
        }
        guard isNew else { return }
        let eventLoop = connection.eventLoop
        // Runs at once if the connection is already closed.
        connection.closeFuture.whenComplete { _ in
            let outcomes = self.watched.withLockedValue { $0.removeValue(forKey: key) } ?? [:]
            guard !outcomes.isEmpty else { return }
            // A result already on its way gets a moment to land first.
            eventLoop.scheduleTask(in: .milliseconds(50)) {
                for outcome in outcomes.values { outcome.lose() }
            }
        }
    }

    func unregister(_ outcome: some LosableOutcome, on connection: PostgresConnection) {
        let key = ObjectIdentifier(connection)
        watched.withLockedValue { watched in
            // The entry stays while the connection lives (its hook is installed), empty.
            if watched[key] != nil { watched[key]![ObjectIdentifier(outcome)] = nil }
        }
    }
}

/// An outcome the connection's close can decide.
private protocol LosableOutcome: AnyObject, Sendable {
    func lose()
}

/// The first of (the query's result, the connection's close) to arrive.
private final class QueryOutcome<Value: Sendable>: LosableOutcome {
    private let state = NIOLockedValueBox<(result: Result<Value, any Error>?, waiter: CheckedContinuation<Value, any Error>?)>((nil, nil))

    func lose() { finish(.failure(ConnectionLost())) }

    func finish(_ result: Result<Value, any Error>) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Value, any Error>? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }

    func value() async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLockedValue { state -> Result<Value, any Error>? in
                if let result = state.result { return result }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
