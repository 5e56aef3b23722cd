import Logging
import PostgresNIO

/// A statement PostgreSQL parses and plans once per connection (a named prepared
/// statement), for the few that every request runs: the session lookup, the caller's
/// standing in a group, a thread and a page of its posts.
///
/// Why: with an unnamed statement PostgreSQL parses and plans every execution again, and
/// `scripts/bench rest` measured planning alone at 1.1 ms of a page of 50 posts and 1.9 ms of
/// the request's 3.4 ms of PostgreSQL CPU (pg_stat_statements, `track_planning`).
///
/// The SQL is the same `PostgresQuery` the call site builds, values bound as everywhere
/// (`sql` below is built by the same function with placeholder values, so the two cannot
/// drift: each execution checks it). Parameters whose first value is NULL get their type
/// from the statement, so each nullable one is cast in the SQL (`$2::bigint`).
public protocol PreparedSQL {
    /// The statement's name on every connection: unique among the prepared statements.
    static var name: String { get }
    static var sql: String { get }
}

struct PreparedQuery<Statement: PreparedSQL>: PostgresPreparedStatement {
    static var name: String { "kairan_" + Statement.name }
    static var sql: String { Statement.sql }
    typealias Row = PostgresRow
    let bindings: PostgresBindings
    func makeBindings() -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
}

extension DatabaseConnection {
    /// Runs `query` as the prepared statement `Statement` (whose SQL it must be) and returns
    /// its rows, read to the end (they are few: a page at most).
    public func query<Statement: PreparedSQL>(_ query: PostgresQuery, preparedAs: Statement.Type, file: String = #fileID,
                                              line: Int = #line) async throws -> [PostgresRow] {
        precondition(query.sql == Statement.sql, "\(Statement.self): the query's SQL is not the prepared statement's")
        return try await connection.executeGuarded(PreparedQuery<Statement>(bindings: query.binds), logger: logger, file: file, line: line)
    }
}
