import Foundation
import KairanStore
import Logging
import PostgresNIO
import Synchronization

/// Real PostgreSQL for tests, made fast with a template: the schema is migrated once per
/// test run into a template database, and every test gets its own copy
/// (`CREATE DATABASE … TEMPLATE …` copies files, far faster than migrating again).
///
/// `scripts/test` starts a throwaway cluster and sets KAIRAN_TEST_DATABASE_URL.
enum TestDatabase {
    static let logger: Logger = {
        var logger = Logger(label: "kairan-test")
        logger.logLevel = ProcessInfo.processInfo.environment["KAIRAN_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        return logger
    }()

    /// The maintenance database of the test cluster.
    static var serverURL: DatabaseURL {
        get throws {
            guard let text = ProcessInfo.processInfo.environment["KAIRAN_TEST_DATABASE_URL"] else {
                throw TestSetupError("KAIRAN_TEST_DATABASE_URL is not set: run the suite with scripts/test, which starts a throwaway PostgreSQL")
            }
            return try DatabaseURL(string: text)
        }
    }

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    static var schemaDirectory: URL { repositoryRoot.appendingPathComponent("schema") }

    private static let counter = Atomic<Int>(0)
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(getpid())_\(counter.add(1, ordering: .relaxed).newValue)"
    }

    /// Created on first use, once per test process.
    private static let template = TemplateHolder()

    /// A new, fully migrated database for one test, dropped afterwards.
    static func withFreshDatabase<T: Sendable>(_ body: (DatabaseURL) async throws -> T) async throws -> T {
        let server = try serverURL
        let templateName = try await template.name(server: server)
        return try await withDatabase(created: "TEMPLATE \(templateName)", server: server, body)
    }

    /// An empty database (no migrations), for migrator and process tests.
    static func withEmptyDatabase<T: Sendable>(_ body: (DatabaseURL) async throws -> T) async throws -> T {
        try await withDatabase(created: "", server: try serverURL, body)
    }

    private static func withDatabase<T: Sendable>(
        created options: String, server: DatabaseURL, _ body: (DatabaseURL) async throws -> T
    ) async throws -> T {
        let name = uniqueName("kt")
        do {
            try await server.withSingleConnection(logger: logger) { db in
                try await db.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name) \(options)"))
            }
        } catch let error as PSQLError {
            // Test set-up only: the server's own words say what went wrong.
            throw TestSetupError("creating test database \(name): \(String(reflecting: error))")
        }
        do {
            let result = try await body(server.with(database: name))
            try await drop(name, server: server)
            return result
        } catch {
            try? await drop(name, server: server)
            throw error
        }
    }

    /// Runs `body` with a pooled client on `url`, the way the server uses the database.
    static func withClient<T: Sendable>(_ url: DatabaseURL, _ body: (Database) async throws -> T) async throws -> T {
        let client = PostgresClient(configuration: try url.clientConfiguration(maximumConnections: 6), backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self, returning: T.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(Database(client: client, logger: logger))
        }
    }

    static func drop(_ name: String, server: DatabaseURL) async throws {
        try await server.withSingleConnection(logger: logger) { db in
            try await db.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"))
        }
    }
}

private actor TemplateHolder {
    private var creating: Task<String, any Error>?

    func name(server: DatabaseURL) async throws -> String {
        if let creating { return try await creating.value }
        let task = Task<String, any Error> {
            let name = "kairan_template_\(getpid())"
            let logger = TestDatabase.logger
            try await server.withSingleConnection(logger: logger) { db in
                try await db.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"))
                try await db.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
            }
            let migrator = try Migrator(directory: TestDatabase.schemaDirectory)
            // The connection closes before anyone copies the template: CREATE DATABASE …
            // TEMPLATE refuses a source that has open sessions.
            try await server.with(database: name).withSingleConnection(logger: logger) { db in
                try await migrator.migrate(on: db)
                // Most tests' residents are minutes old and post dozens of times: the
                // sandbox's posting rate would throttle them. The sandbox tests set it back
                // through the settings API.
                try await db.query("UPDATE moderation_settings SET new_account_posts_per_hour = 1000")
            }
            return name
        }
        creating = task
        return try await task.value
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
