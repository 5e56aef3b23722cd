import KairanPostgres
import Logging
import PostgresNIO

extension PostgresConnection {
    /// The tests' own SQL (set-up and checks) goes straight to PostgresNIO. Declared here
    /// because both PostgresNIO and KairanStore (whose guarded `query` shadows it in the
    /// server) are imported by the tests, and the two would be ambiguous.
    @discardableResult
    func query(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws -> PostgresRowSequence {
        try await unguardedQuery(query, logger: logger, file: file, line: line)
    }
}
