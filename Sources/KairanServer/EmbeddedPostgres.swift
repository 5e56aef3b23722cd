import Foundation
import KairanFiles
import KairanStore
import Logging
import PostgresNIO

#if canImport(Glibc)
import Glibc
#endif

/// A private PostgreSQL cluster under the data folder, for running Kairan with no database
/// set up: created on first use, started on a Unix socket only (no TCP port to collide with
/// or expose), stopped on shutdown.
///
/// PostgreSQL refuses to run as root, so as root the cluster belongs to an unprivileged user
/// (`postgres` if the system has one, else a `kairan-postgres` system user made for it) and
/// every PostgreSQL tool runs through `runuser`.
struct EmbeddedPostgres {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static let superuser = "kairan"
    static let databaseName = "kairan"
    static let port = 5432

    let root: URL            // <data>/postgres, owned by the cluster's user
    let binDirectory: URL
    let osUser: String?      // nil: run as ourselves
    let logger: Logger

    var dataDirectory: URL { root.appendingPathComponent("data") }
    var logFile: URL { root.appendingPathComponent("postgres.log") }

    /// The socket lives in the cluster folder unless that path is too long for a Unix socket
    /// (108 bytes with the `.s.PGSQL.5432` name), then in a private folder under /tmp.
    var socketDirectory: String {
        let preferred = root.appendingPathComponent("run").path
        if preferred.utf8.count + 14 < 100 { return preferred }
        // A stable digest of the path (Swift's hashValue changes per process), so every
        // kairan on this data folder finds the same socket.
        let digest = preferred.utf8.reduce(UInt32(2_166_136_261)) { ($0 ^ UInt32($1)) &* 16_777_619 }
        return "/tmp/kairan-pg-\(getuid())-\(String(digest, radix: 16))"
    }

    init(dataFolder: String, logger: Logger) throws {
        let base = URL(fileURLWithPath: dataFolder, isDirectory: true).standardizedFileURL
        self.root = base.appendingPathComponent("postgres", isDirectory: true)
        self.binDirectory = try Self.findBinaries()
        self.osUser = getuid() == 0 ? try Self.unprivilegedUser(logger: logger) : nil
        self.logger = logger
    }

    var url: DatabaseURL {
        DatabaseURL(username: Self.superuser, port: Self.port, database: Self.databaseName, socketDirectory: socketDirectory)
    }

    /// What `start()` leaves behind: whether this process manages the cluster (and so stops it).
    final class Lease: @unchecked Sendable {  // immutable after init; fd closed once in stop()
        let cluster: EmbeddedPostgres
        let lockDescriptor: Int32?

        init(cluster: EmbeddedPostgres, lockDescriptor: Int32?) {
            self.cluster = cluster
            self.lockDescriptor = lockDescriptor
        }

        /// Stops the cluster if this process manages it.
        func stop() {
            guard let lockDescriptor else { return }
            cluster.stop()
            close(lockDescriptor)
        }
    }

    /// Starts the cluster (creating it first if needed), or joins one that another `kairan`
    /// on the same data folder already manages. The process holding the lock file manages
    /// the cluster and stops it on exit; a cluster left running by a killed `kairan` is
    /// adopted by the next one.
    func start() async throws -> Lease {
        try prepareFolders()
        let lockPath = root.appendingPathComponent("kairan.lock").path
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Failure(description: "cannot open \(lockPath)") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            logger.info("another kairan manages the embedded PostgreSQL; joining it")
            try await waitUntilRunning()
            return Lease(cluster: self, lockDescriptor: nil)
        }
        do {
            if !FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path) {
                logger.info("creating embedded PostgreSQL cluster", metadata: ["path": "\(dataDirectory.path)"])
                // Collation C keeps sorting fast and the same everywhere; ctype C.UTF-8 makes
                // Japanese characters letters for full-text and trigram matching.
                try run("initdb", ["-D", dataDirectory.path, "-U", Self.superuser, "-A", "trust", "-E", "UTF8",
                                   "--lc-collate=C", "--lc-ctype=C.UTF-8", "--no-instructions"])
            }
            try writeSettings()
            if isRunning {
                logger.info("embedded PostgreSQL was left running; adopting it")
            } else {
                try run("pg_ctl", ["-D", dataDirectory.path, "-l", logFile.path, "-w", "-t", "60", "start"])
                logger.info("embedded PostgreSQL started", metadata: ["socket": "\(socketDirectory)"])
            }
            try await createDatabaseIfMissing()
            return Lease(cluster: self, lockDescriptor: descriptor)
        } catch {
            close(descriptor)
            throw error
        }
    }

    /// `pg_ctl status` fails (exit 3) exactly when the cluster is not running.
    private var isRunning: Bool { (try? run("pg_ctl", ["-D", dataDirectory.path, "status"])) != nil }

    private func waitUntilRunning() async throws {
        for _ in 0..<120 {
            // Polled while the cluster starts: failures until it accepts connections are expected.
            if isRunning, (try? await createDatabaseIfMissing()) != nil { return }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw Failure(description: "the embedded PostgreSQL managed by another kairan did not become ready within 60 s")
    }

    /// Restarts the cluster as an operator would (`pg_ctl restart -m fast`): every session
    /// is ended, the server is down for a moment, then back. With `downFor`, it stays down
    /// that long in between, as during an upgrade.
    func restart(downFor pause: TimeInterval = 0) throws {
        guard pause > 0 else {
            try run("pg_ctl", ["-D", dataDirectory.path, "-l", logFile.path, "-m", "fast", "-w", "-t", "60", "restart"])
            return
        }
        try run("pg_ctl", ["-D", dataDirectory.path, "-m", "fast", "-w", "-t", "60", "stop"])
        Thread.sleep(forTimeInterval: pause)
        try run("pg_ctl", ["-D", dataDirectory.path, "-l", logFile.path, "-w", "-t", "60", "start"])
    }

    /// The postmaster and its children (backends, background workers), for tests that
    /// freeze the whole server.
    func serverProcessIDs() throws -> [Int32] {
        let pidFile = try String(contentsOf: dataDirectory.appendingPathComponent("postmaster.pid"), encoding: .utf8)
        guard let postmaster = pidFile.split(separator: "\n").first.flatMap({ Int32($0.trimmingCharacters(in: .whitespaces)) }) else {
            throw Failure(description: "postmaster.pid has no process id")
        }
        var ids = [postmaster]
        // Processes vanish while /proc is read: an entry that cannot be read is not ours to wait for.
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // Fields after the command name: state, then the parent's id.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == postmaster { ids.append(pid) }
        }
        return ids
    }

    func stop() {
        do {
            try run("pg_ctl", ["-D", dataDirectory.path, "-m", "fast", "-w", "-t", "60", "stop"])
            logger.info("embedded PostgreSQL stopped")
        } catch {
            logger.error("could not stop embedded PostgreSQL", metadata: ["error": "\(error)"])
        }
    }

    // MARK: - Steps

    private func prepareFolders() throws {
        let fm = FileManager.default
        try fm.createDirectory(at: root, withIntermediateDirectories: true)
        try fm.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true)
        try fm.setAttributes([.posixPermissions: 0o700], ofItemAtPath: root.path)
        try fm.setAttributes([.posixPermissions: 0o700], ofItemAtPath: socketDirectory)
        if let osUser {
            try runProcess("/bin/chown", ["-R", "\(osUser):", root.path, socketDirectory])
            // The cluster's user must be able to walk down to its folder.
            do {
                try runProcess("/usr/sbin/runuser", ["-u", osUser, "--", "/usr/bin/test", "-w", root.path])
            } catch {
                throw Failure(description: "user '\(osUser)' cannot reach \(root.path): PostgreSQL does not run as root, so the data folder must be inside directories that user may enter. Choose another --data-dir (KAIRAN_DATA_DIR), e.g. under /var/lib or /srv.")
            }
        }
    }

    private func writeSettings() throws {
        let settings = """
            # Written by kairan at every start; edit postgresql.conf for your own settings.
            listen_addresses = ''
            port = \(Self.port)
            unix_socket_directories = '\(socketDirectory.replacingOccurrences(of: "'", with: "''"))'
            unix_socket_permissions = 0700
            max_connections = 100
            """
        let path = dataDirectory.appendingPathComponent("kairan.conf")
        try settings.write(to: path, atomically: true, encoding: .utf8)
        if let osUser { try runProcess("/bin/chown", ["\(osUser):", path.path]) }
        let mainConf = dataDirectory.appendingPathComponent("postgresql.conf")
        let current = try String(contentsOf: mainConf, encoding: .utf8)
        if !current.contains("include_if_exists = 'kairan.conf'") {
            try (current + "\ninclude_if_exists = 'kairan.conf'\n").write(to: mainConf, atomically: false, encoding: .utf8)
        }
    }

    private func createDatabaseIfMissing() async throws {
        if try await url.with(database: "postgres").createDatabaseIfMissing(Self.databaseName, logger: logger) {
            logger.info("created database", metadata: ["database": "\(Self.databaseName)"])
        }
    }

    // MARK: - Processes

    @discardableResult
    private func run(_ tool: String, _ arguments: [String]) throws -> String {
        let executable = binDirectory.appendingPathComponent(tool).path
        if let osUser {
            return try runProcess("/usr/sbin/runuser", ["-u", osUser, "--", executable] + arguments)
        }
        return try runProcess(executable, arguments)
    }

    @discardableResult
    private func runProcess(_ executable: String, _ arguments: [String]) throws -> String {
        let result = try ChildProcess.run(executable, arguments)
        guard result.status == 0 else {
            throw Failure(description: "\(URL(fileURLWithPath: executable).lastPathComponent) \(arguments.first ?? "") failed (exit \(result.status)): \(result.output.suffix(800))")
        }
        return result.output
    }

    // MARK: - Discovery

    /// `initdb` and `pg_ctl` from PATH, else the newest `/usr/lib/postgresql/*/bin`.
    static func findBinaries() throws -> URL {
        var candidates: [URL] = []
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let initdb = URL(fileURLWithPath: String(directory)).appendingPathComponent("initdb")
            if FileManager.default.isExecutableFile(atPath: initdb.path) {
                candidates.append(initdb.resolvingSymlinksInPath().deletingLastPathComponent())
            }
        }
        // No such folder: no Debian PostgreSQL, which the caller reports.
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
            candidates.append(URL(fileURLWithPath: "/usr/lib/postgresql/\(version)/bin"))
        }
        for directory in candidates where ["initdb", "pg_ctl", "postgres"].allSatisfy({
            FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent($0).path)
        }) {
            return directory
        }
        throw Failure(description: "PostgreSQL server programs (initdb, pg_ctl) were not found on PATH or in /usr/lib/postgresql/*/bin. Install them with: apt-get install postgresql-15  (or set KAIRAN_DATABASE_URL to an existing database)")
    }

    static func unprivilegedUser(logger: Logger) throws -> String {
        if getpwnam("postgres") != nil { return "postgres" }
        let name = "kairan-postgres"
        if getpwnam(name) == nil {
            logger.info("creating system user for the embedded cluster", metadata: ["user": "\(name)"])
            let result = try ChildProcess.run("/usr/sbin/useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name])
            guard result.status == 0 else {
                throw Failure(description: "running as root, kairan needs an unprivileged user for PostgreSQL and could not create '\(name)' with useradd")
            }
        }
        return name
    }
}
