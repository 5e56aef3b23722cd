import AsyncHTTPClient
import Foundation
import KairanStore
import NIOCore
import PostgresNIO
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `kairan` executable itself, as an operator runs it.
@Suite struct KairanProcessTests {
    let logger = TestDatabase.logger

    @Test func twoMigrateRunsAtOnceBothSucceedAndApplyEachFileOnce() async throws {
        try await TestDatabase.withEmptyDatabase { url in
            let environment = ["KAIRAN_DATABASE_URL": url.urlString]
            let first = try KairanProcess(["migrate"], environment: environment)
            let second = try KairanProcess(["migrate"], environment: environment)
            let (a, b) = (await first.exitCode(), await second.exitCode())
            #expect(a == 0, "first migrate: \(first.output)")
            #expect(b == 0, "second migrate: \(second.output)")

            let files = try FileManager.default.contentsOfDirectory(atPath: TestDatabase.schemaDirectory.path).filter { $0.hasSuffix(".sql") }
            let versions = try await url.withSingleConnection(logger: logger) { db in
                var versions: [Int] = []
                for try await version in try await db.query("SELECT version FROM schema_migrations ORDER BY version").decode(Int.self) {
                    versions.append(version)
                }
                return versions
            }
            #expect(versions.count == files.count)
            #expect(Set(versions).count == versions.count)
            // Exactly one of the two runs reported applying them.
            let reports = [first.output, second.output].filter { $0.contains("applied \(files.count) migration") }
            #expect(reports.count == 1, "outputs: \(first.output) / \(second.output)")
        }
    }

    @Test func userCreateMakesATownAdministrator() async throws {
        try await TestDatabase.withFreshDatabase { url in
            let process = try KairanProcess(
                ["user", "create", "--email", "soumu@town.example.jp", "--display-name", "総務課 管理者", "--admin"],
                environment: ["KAIRAN_DATABASE_URL": url.urlString], standardInput: "a long admin password\n")
            #expect(await process.exitCode() == 0, "\(process.output)")
            #expect(!process.output.contains("soumu@"), "the full address must not be printed or logged")
            let roles = try await url.withSingleConnection(logger: logger) { db in
                var roles: [String] = []
                for try await role in try await db.query(
                    "SELECT r.role FROM account_roles r JOIN accounts a ON a.id = r.account_id WHERE a.email = 'soumu@town.example.jp' ORDER BY r.role").decode(String.self) {
                    roles.append(role)
                }
                return roles
            }
            #expect(roles == ["resident", "town_admin"])
            // The real binary hashes at the production cost (the suite itself uses a cheaper one).
            let hash = try await url.withSingleConnection(logger: logger) { db in
                var hash = ""
                for try await value in try await db.query("SELECT password_hash FROM accounts").decode(String.self) { hash = value }
                return hash
            }
            #expect(hash.hasPrefix("$2b$12$"), "bcrypt cost 12: \(hash.prefix(7))")
        }
    }

    /// The set-up promise: no database configured, `kairan serve` makes its own cluster,
    /// answers /readyz, and stops the cluster on SIGTERM.
    @Test(.timeLimit(.minutes(3)))
    func serveRunsOnItsOwnEmbeddedPostgreSQL() async throws {
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("kairan-embedded-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dataDirectory.path)
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let port = try freeTCPPort()
        let server = try KairanProcess(
            ["serve", "--data-dir", dataDirectory.path, "--port", "\(port)", "--inbound-smtp", "127.0.0.1:0"],
            environment: ["KAIRAN_DATABASE_URL": ""])
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            var ready = false
            for _ in 0..<180 where !ready {
                if let response = try? await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/readyz"), timeout: .seconds(2)) {
                    ready = response.status == .ok
                }
                if !ready { try await Task.sleep(for: .milliseconds(500)) }
            }
            #expect(ready, "no 200 from /readyz: \(server.output)")

            var register = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/accounts")
            register.method = .POST
            register.headers.add(name: "Content-Type", value: "application/json")
            register.body = .bytes(ByteBuffer(string: #"{"email":"hanako.@ezweb.ne.jp","password":"correct horse battery","displayName":"花子"}"#))
            let created = try await http.execute(register, timeout: .seconds(10))
            #expect(created.status == .created)
        } catch {
            server.terminate()
            try await http.shutdown()
            throw error
        }
        try await http.shutdown()

        server.terminate()
        #expect(await server.exitCode() == 0, "\(server.output)")
        let pidFile = dataDirectory.appendingPathComponent("postgres/data/postmaster.pid").path
        #expect(!FileManager.default.fileExists(atPath: pidFile), "the embedded cluster must be stopped on shutdown")
        #expect(server.output.contains("embedded PostgreSQL stopped"))
        #expect(!server.output.contains("hanako."), "logs must not carry mail addresses")
    }
}

/// A `kairan` child process with its output captured to a file.
final class KairanProcess: Sendable {
    let process: Process
    let outputPath: String

    static var binary: String {
        if let explicit = ProcessInfo.processInfo.environment["KAIRAN_BIN"] { return explicit }
        // The test bundle sits in the build folder beside the executable.
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("kairan").path
    }

    init(_ arguments: [String], environment: [String: String], standardInput: String? = nil) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        process.environment = merged
        outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("kairan-proc-\(UUID().uuidString).log").path
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process.standardOutput = output
        process.standardError = output
        let input = Pipe()
        process.standardInput = input
        try process.run()
        if let standardInput { input.fileHandleForWriting.write(Data(standardInput.utf8)) }
        try input.fileHandleForWriting.close()
    }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    func terminate() { if process.isRunning { kill(process.processIdentifier, SIGTERM) } }

    /// Waits without blocking a cooperative thread.
    func exitCode() async -> Int32 {
        while process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
        return process.terminationStatus
    }
}

func freeTCPPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw TestSetupError("could not find a free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}
