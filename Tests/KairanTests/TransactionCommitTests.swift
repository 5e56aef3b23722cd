import Foundation
import KairanStore
import PostgresNIO
import Testing

/// A transaction is reported done only when PostgreSQL committed it. When one of its
/// statements failed and the failure never reached the code (PostgresNIO reports it only to
/// code that reads the statement's rows), PostgreSQL answers COMMIT with ROLLBACK: the
/// database disk-full test once saw a post answered 201 that was not there.
@Suite struct TransactionCommitTests {
    @Test func aTransactionThatFailedUnseenIsNotReportedAsCommitted() async throws {
        try await TestDatabase.withFreshDatabase { url in
            try await TestDatabase.withClient(url) { database in
                try await database.withTransaction { db in
                    try await db.query("CREATE TABLE notes (id int PRIMARY KEY)")
                }
                await #expect(throws: TransactionRolledBack.self) {
                    try await database.withTransaction { db in
                        try await db.query("INSERT INTO notes VALUES (1)")
                        // A statement whose failure the code does not see (here on purpose).
                        _ = try? await db.query("INSERT INTO notes VALUES (1)")
                    }
                }
                #expect(Database.isUnavailable(TransactionRolledBack(commandTag: "ROLLBACK")), "answered 503: the request may be sent again")
                let count = try await database.withTransaction { db in
                    var count = -1
                    for try await n in try await db.query("SELECT count(*)::int FROM notes").decode(Int.self) { count = n }
                    return count
                }
                #expect(count == 0)
                // A transaction that went through is reported done.
                try await database.withTransaction { db in try await db.query("INSERT INTO notes VALUES (2)") }
            }
        }
    }
}
