import Crypto
import Foundation
import Logging
import PostgresNIO

/// One numbered SQL file from `schema/`.
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let sql: String
    /// SHA-256 of the file's bytes, hex.
    public let checksum: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
        self.checksum = SHA256.hash(data: Array(sql.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

public enum MigrationError: Error, CustomStringConvertible, Equatable {
    case noSchemaDirectory([String])
    case badFileName(String)
    case duplicateVersion(Int)
    case checksumMismatch(version: Int, name: String)
    case failed(version: Int, name: String, reason: String)

    public var description: String {
        switch self {
        case .noSchemaDirectory(let tried):
            return "no schema directory with migrations found (looked in: \(tried.joined(separator: ", "))); set KAIRAN_SCHEMA_DIR"
        case .badFileName(let name):
            return "schema file '\(name)' is not named NNNN_description.sql"
        case .duplicateVersion(let version):
            return "two schema files carry version \(version)"
        case .checksumMismatch(let version, let name):
            return "migration \(String(format: "%04d", version))_\(name) was changed after it was applied; add a new migration instead of editing an applied one"
        case .failed(let version, let name, let reason):
            return "migration \(String(format: "%04d", version))_\(name) failed: \(reason)"
        }
    }
}

/// Applies `schema/NNNN_name.sql` files in order, each in its own transaction, recording
/// each in `schema_migrations` with its checksum.
public struct Migrator: Sendable {
    public let migrations: [Migration]

    /// Any fixed number: it names the lock every `kairan` process takes while migrating, so
    /// two processes starting at once apply each file exactly once.
    static let advisoryLockKey: Int64 = 0x4B41_4952_414E  // "KAIRAN"

    public init(migrations: [Migration]) throws {
        var seen = Set<Int>()
        for migration in migrations where !seen.insert(migration.version).inserted {
            throw MigrationError.duplicateVersion(migration.version)
        }
        self.migrations = migrations.sorted { $0.version < $1.version }
    }

    /// Loads every `NNNN_name.sql` in `directory`.
    public init(directory: URL) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }
        var migrations: [Migration] = []
        for fileName in names {
            let stem = fileName.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"),
                  let version = Int(stem[..<underscore]), stem.distance(from: stem.startIndex, to: underscore) == 4
            else { throw MigrationError.badFileName(fileName) }
            let sql = try String(contentsOf: directory.appendingPathComponent(fileName), encoding: .utf8)
            migrations.append(Migration(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql))
        }
        try self.init(migrations: migrations)
    }

    /// Finds `schema/`: an explicit directory first, then `./schema`, then the source checkout
    /// this binary was built from (so `swift run` works from any folder).
    public static func locateSchemaDirectory(explicit: String?) throws -> URL {
        var candidates: [String] = []
        if let explicit { candidates.append(explicit) }
        candidates.append(FileManager.default.currentDirectoryPath + "/schema")
        let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(checkout.appendingPathComponent("schema").path)
        for path in candidates {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                return URL(fileURLWithPath: path)
            }
            if explicit != nil && path == explicit { break }
        }
        throw MigrationError.noSchemaDirectory(candidates)
    }

    /// Brings the database up to date. Returns the migrations this call applied.
    @discardableResult
    public func migrate(on db: DatabaseConnection) async throws -> [Migration] {
        // Session-level lock: held across the per-file transactions below, released at the end
        // (or when the connection dies).
        try await db.query("SELECT pg_advisory_lock(\(Self.advisoryLockKey))")
        do {
            let applied = try await apply(on: db)
            try await db.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))")
            return applied
        } catch {
            // Best effort on the way out: the lock also ends with the session, and the
            // migration's own error is the one to report.
            _ = try? await db.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))")
            throw error
        }
    }

    private func apply(on db: DatabaseConnection) async throws -> [Migration] {
        try await db.query("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
        var recorded: [Int: (name: String, checksum: String)] = [:]
        for try await (version, name, checksum) in try await db.query(
            "SELECT version, name, checksum FROM schema_migrations"
        ).decode((Int, String, String).self) {
            recorded[version] = (name, checksum)
        }
        for migration in migrations {
            if let existing = recorded[migration.version], existing.checksum != migration.checksum {
                throw MigrationError.checksumMismatch(version: migration.version, name: migration.name)
            }
        }
        let known = Set(migrations.map(\.version))
        for version in recorded.keys.sorted() where !known.contains(version) {
            // A newer kairan migrated this database; an older one keeps running during a rolling upgrade.
            db.logger.warning("database has a migration this build does not know", metadata: ["version": "\(version)"])
        }

        var appliedNow: [Migration] = []
        for migration in migrations where recorded[migration.version] == nil {
            do {
                try await db.withTransaction { db in
                    // The extended query protocol takes one statement at a time; a DO block's
                    // EXECUTE runs the whole file through the server's own parser instead of a
                    // hand-written SQL splitter. The text travels as a bound value, never spliced.
                    try await db.query("SELECT set_config('kairan.migration_sql', \(migration.sql), true)")
                    try await db.query("DO $$ BEGIN EXECUTE current_setting('kairan.migration_sql'); END $$")
                    try await db.query(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (\(migration.version), \(migration.name), \(migration.checksum))")
                }
            } catch let error as PostgresTransactionError {
                let reason = (error.closureError as? PSQLError)?.serverInfo?[.message] ?? String(reflecting: error.closureError ?? error)
                throw MigrationError.failed(version: migration.version, name: migration.name, reason: reason)
            }
            db.logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            appliedNow.append(migration)
        }
        return appliedNow
    }
}
