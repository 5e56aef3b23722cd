import Logging
import PostgresNIO

extension PostgresConnection {
    /// PostgresNIO's own `query`, under another name, so that KairanStore's guarded
    /// `query` (which shadows it everywhere that imports KairanStore) can call it.
    public func unguardedQuery(_ query: PostgresQuery, logger: Logger, file: String, line: Int) async throws -> PostgresRowSequence {
        try await self.query(query, logger: logger, file: file, line: line)
    }
}
