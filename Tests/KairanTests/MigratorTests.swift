import Foundation
import KairanStore
import PostgresNIO
import Testing

@Suite struct MigratorTests {
    let logger = TestDatabase.logger

    /// Writes migration files into a new temporary folder.
    func schemaFolder(_ files: [String: String]) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kairan-schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (name, sql) in files {
            try sql.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        return folder
    }

    func recorded(_ url: DatabaseURL) async throws -> [(Int, String)] {
        try await url.withSingleConnection(logger: logger) { db in
            var rows: [(Int, String)] = []
            for try await row in try await db.query("SELECT version, name FROM schema_migrations ORDER BY applied_at, version").decode((Int, String).self) {
                rows.append(row)
            }
            return rows
        }
    }

    static let files = [
        // 0002 needs 0001's table and 0003 needs 0002's column: only the right order succeeds.
        "0003_index.sql": "CREATE INDEX notes_body_idx ON notes (body);",
        "0001_notes.sql": "CREATE TABLE notes (id int PRIMARY KEY);\n-- two statements in one file\nINSERT INTO notes VALUES (1);",
        "0002_body.sql": """
            ALTER TABLE notes ADD COLUMN body text;
            CREATE FUNCTION note_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM notes; $$;
            """,
    ]

    @Test func appliesFilesInNumericOrderAndRecordsThem() async throws {
        let migrator = try Migrator(directory: schemaFolder(Self.files))
        try await TestDatabase.withEmptyDatabase { url in
            let applied = try await url.withSingleConnection(logger: logger) { try await migrator.migrate(on: $0) }
            #expect(applied.map(\.version) == [1, 2, 3])
            let rows = try await recorded(url)
            #expect(rows.map(\.0) == [1, 2, 3])
            #expect(rows.map(\.1) == ["notes", "body", "index"])
            let count = try await url.withSingleConnection(logger: logger) { db in
                var value = 0
                for try await n in try await db.query("SELECT note_count()::int").decode(Int.self) { value = n }
                return value
            }
            #expect(count == 1)
        }
    }

    @Test func runningTwiceIsANoOp() async throws {
        let migrator = try Migrator(directory: schemaFolder(Self.files))
        try await TestDatabase.withEmptyDatabase { url in
            try await url.withSingleConnection(logger: logger) { try await migrator.migrate(on: $0) }
            let second = try await url.withSingleConnection(logger: logger) { try await migrator.migrate(on: $0) }
            #expect(second.isEmpty)
            #expect(try await recorded(url).count == 3)
        }
    }

    @Test func anEditedAppliedFileIsAnError() async throws {
        let original = try Migrator(directory: schemaFolder(Self.files))
        var edited = Self.files
        edited["0001_notes.sql"] = "CREATE TABLE notes (id bigint PRIMARY KEY);"
        let changed = try Migrator(directory: schemaFolder(edited))
        try await TestDatabase.withEmptyDatabase { url in
            try await url.withSingleConnection(logger: logger) { try await original.migrate(on: $0) }
            await #expect(throws: MigrationError.checksumMismatch(version: 1, name: "notes")) {
                try await url.withSingleConnection(logger: logger) { try await changed.migrate(on: $0) }
            }
        }
    }

    @Test func aFailingFileLeavesNothingBehindAndNamesItself() async throws {
        let migrator = try Migrator(directory: schemaFolder([
            "0001_ok.sql": "CREATE TABLE ok (id int);",
            "0002_broken.sql": "CREATE TABLE half (id int);\nSELECT * FROM no_such_table;",
        ]))
        try await TestDatabase.withEmptyDatabase { url in
            do {
                try await url.withSingleConnection(logger: logger) { try await migrator.migrate(on: $0) }
                Issue.record("a broken migration must fail")
            } catch let error as MigrationError {
                guard case .failed(let version, let name, let reason) = error else { throw error }
                #expect(version == 2 && name == "broken")
                #expect(reason.contains("no_such_table"))
            }
            #expect(try await recorded(url).map(\.0) == [1])
            let halfExists = try await url.withSingleConnection(logger: logger) { db in
                var exists = true
                for try await value in try await db.query("SELECT to_regclass('half') IS NOT NULL").decode(Bool.self) { exists = value }
                return exists
            }
            #expect(!halfExists, "the failed file's first statement must be rolled back")
        }
    }

    @Test func concurrentMigratorsApplyEachFileOnce() async throws {
        // A slow first file widens the window in which both would otherwise apply it.
        var files = Self.files
        files["0001_notes.sql"] = "SELECT pg_sleep(0.3);\n" + files["0001_notes.sql"]!
        let migrator = try Migrator(directory: schemaFolder(files))
        try await TestDatabase.withEmptyDatabase { url in
            let results = try await withThrowingTaskGroup(of: [Migration].self) { group in
                for _ in 0..<4 {
                    group.addTask { try await url.withSingleConnection(logger: logger) { try await migrator.migrate(on: $0) } }
                }
                var all: [[Migration]] = []
                for try await result in group { all.append(result) }
                return all
            }
            #expect(results.flatMap { $0 }.map(\.version).sorted() == [1, 2, 3], "each file applied by exactly one migrator")
            #expect(try await recorded(url).map(\.0) == [1, 2, 3])
        }
    }

    @Test func badFileNamesAndDuplicateVersionsAreRefused() throws {
        #expect(throws: MigrationError.badFileName("1_short.sql")) { try Migrator(directory: schemaFolder(["1_short.sql": ""])) }
        #expect(throws: MigrationError.duplicateVersion(1)) {
            try Migrator(directory: schemaFolder(["0001_a.sql": "", "0001_b.sql": ""]))
        }
    }

    @Test func theProjectSchemaAppliesCleanly() async throws {
        let migrator = try Migrator(directory: TestDatabase.schemaDirectory)
        #expect(migrator.migrations.first?.version == 1)
        try await TestDatabase.withEmptyDatabase { url in
            let applied = try await url.withSingleConnection(logger: logger) { try await migrator.migrate(on: $0) }
            #expect(applied.count == migrator.migrations.count)
        }
    }
}
