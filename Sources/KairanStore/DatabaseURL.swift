import Foundation
import Logging
import NIOSSL
import PostgresNIO

/// Parses `postgres://user:password@host:port/database?sslmode=...` into a client configuration.
///
/// A Unix socket is named with `?host=/path/to/socket/dir` (libpq's convention), so the same
/// URL works for `psql` and for `kairan`.
public struct DatabaseURL: Sendable, Equatable {
    public enum TLSMode: String, Sendable { case disable, prefer, require }

    public var username: String
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String
    public var socketDirectory: String?
    public var tls: TLSMode
    /// How often PostgreSQL checks that kairan still waits on a connection while a statement
    /// runs, in milliseconds (`?client_connection_check_interval=`; 0: never, for a
    /// connection pooler that refuses the parameter). See `clientConfiguration`.
    public var connectionCheckInterval: Int = Self.defaultConnectionCheckInterval
    public static let defaultConnectionCheckInterval = 1000

    public init(username: String, password: String? = nil, host: String = "127.0.0.1", port: Int = 5432,
                database: String, socketDirectory: String? = nil, tls: TLSMode = .disable) {
        self.username = username
        self.password = password
        self.host = host
        self.port = port
        self.database = database
        self.socketDirectory = socketDirectory
        self.tls = tls
    }

    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    public init(string: String) throws {
        guard let components = URLComponents(string: string),
              let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme)
        else {
            throw ParseError(description: "database URL must look like postgres://user:password@host:5432/database")
        }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        self.username = components.percentEncodedUser?.removingPercentEncoding ?? "postgres"
        self.password = components.percentEncodedPassword?.removingPercentEncoding
        self.host = components.host?.isEmpty == false ? components.host! : "127.0.0.1"
        self.port = components.port ?? 5432
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.isEmpty else { throw ParseError(description: "database URL must name a database (…/kairan)") }
        self.database = path
        if let socketHost = query["host"], socketHost.hasPrefix("/") {
            self.socketDirectory = socketHost
        } else {
            self.socketDirectory = nil
        }
        switch query["sslmode"] ?? "disable" {
        case "disable", "allow": self.tls = .disable
        case "prefer": self.tls = .prefer
        case "require", "verify-ca", "verify-full": self.tls = .require
        case let other: throw ParseError(description: "unsupported sslmode '\(other)'")
        }
        if let interval = query["client_connection_check_interval"] {
            guard let milliseconds = Int(interval), milliseconds >= 0 else {
                throw ParseError(description: "client_connection_check_interval must be a number of milliseconds (0: off)")
            }
            self.connectionCheckInterval = milliseconds
        }
    }

    /// The same server, another database (tests clone databases from a template).
    public func with(database: String) -> DatabaseURL {
        var copy = self
        copy.database = database
        return copy
    }

    /// The URL text, password included: for handing to child processes, never for logs.
    public var urlString: String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.user = username
        components.password = password
        components.host = socketDirectory == nil ? host : ""
        components.port = port
        components.path = "/" + database
        var query: [URLQueryItem] = []
        if let socketDirectory { query.append(URLQueryItem(name: "host", value: socketDirectory)) }
        if tls != .disable { query.append(URLQueryItem(name: "sslmode", value: tls.rawValue)) }
        if connectionCheckInterval != Self.defaultConnectionCheckInterval {
            query.append(URLQueryItem(name: "client_connection_check_interval", value: String(connectionCheckInterval)))
        }
        components.queryItems = query.isEmpty ? nil : query
        return components.string ?? ""
    }

    /// A form safe to log: no password.
    public var redacted: String {
        if let socketDirectory { return "postgres://\(username)@/\(database)?host=\(socketDirectory)" }
        return "postgres://\(username)@\(host):\(port)/\(database)"
    }

    public func clientConfiguration(maximumConnections: Int = 20) throws -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let socketDirectory {
            configuration = .init(unixSocketPath: socketDirectory + "/.s.PGSQL.\(port)", username: username, password: password, database: database)
        } else {
            let tlsConfig: PostgresClient.Configuration.TLS
            switch tls {
            case .disable: tlsConfig = .disable
            case .prefer: tlsConfig = .prefer(.makeClientConfiguration())
            case .require: tlsConfig = .require(.makeClientConfiguration())
            }
            configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: tlsConfig)
        }
        configuration.options.minimumConnections = 0
        configuration.options.maximumConnections = maximumConnections
        // A request cancelled mid-statement (its deadline, its client gone) closes its
        // connection; PostgreSQL then notices within a second that nobody waits and aborts
        // the statement instead of running it to the end, and, for a statement that commits
        // on its own (a plain reply, `ThreadService.reply`), instead of committing it.
        if connectionCheckInterval > 0 {
            configuration.options.additionalStartupParameters = [("client_connection_check_interval", String(connectionCheckInterval))]
        }
        return configuration
    }
}

extension DatabaseURL {
    /// A single connection's configuration, for one-off work outside the pool (migrations,
    /// creating databases).
    public func connectionConfiguration() throws -> PostgresConnection.Configuration {
        if let socketDirectory {
            return .init(unixSocketPath: socketDirectory + "/.s.PGSQL.\(port)", username: username, password: password, database: database)
        }
        let tlsConfig: PostgresConnection.Configuration.TLS
        switch tls {
        case .disable: tlsConfig = .disable
        case .prefer: tlsConfig = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: tlsConfig = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        return .init(host: host, port: port, username: username, password: password, database: database, tls: tlsConfig)
    }

    /// Creates database `name` (an identifier of ours, never user input) on the server this
    /// URL names, unless it exists. Returns whether it was created.
    public func createDatabaseIfMissing(_ name: String, logger: Logger) async throws -> Bool {
        precondition(name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }, "database names are our own identifiers")
        return try await withSingleConnection(logger: logger) { db in
            let rows = try await db.query("SELECT 1 FROM pg_database WHERE datname = \(name)")
            for try await _ in rows.decode(Int.self) { return false }
            try await db.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
            return true
        }
    }

    /// Opens one connection, runs `body`, closes it.
    @discardableResult
    public func withSingleConnection<T: Sendable>(logger: Logger, _ body: (DatabaseConnection) async throws -> T) async throws -> T {
        let connection = try await PostgresConnection.connect(configuration: connectionConfiguration(), id: 1, logger: logger)
        do {
            let result = try await body(DatabaseConnection(connection, logger: logger))
            try await connection.close()
            return result
        } catch {
            // Tidying up after the error that matters, which is the one thrown.
            try? await connection.close()
            throw error
        }
    }
}

extension DatabaseURL {
    /// LISTENs on `channel` on a connection of its own (outside the pool) until the task is
    /// cancelled, reconnecting with backoff when the connection drops. `onListening` runs
    /// each time listening starts: anything committed while nobody listened must be caught
    /// up from the tables, since NOTIFY is only a wake-up. `onNotification` gets each payload.
    public func listenUntilCancelled(
        on channel: String, logger: Logger,
        onListening: @escaping @Sendable () async -> Void, onNotification: @escaping @Sendable (String) async -> Void
    ) async {
        var backoff: Duration = .milliseconds(200)
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(configuration: connectionConfiguration(), id: 0, logger: logger)
                backoff = .milliseconds(200)
                // The connection is being dropped either way; a failed close changes nothing.
                defer { Task { try? await connection.close() } }
                try await connection.listen(on: channel) { notifications in
                    await onListening()
                    for try await notification in notifications { await onNotification(notification.payload) }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("LISTEN connection lost; reconnecting", metadata: ["channel": "\(channel)", "error_type": "\(type(of: error))"])
            }
            // Cancelled: the loop's condition ends it.
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
    }
}
