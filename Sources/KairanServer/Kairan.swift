import ArgumentParser
import Foundation
import Hummingbird
import KairanAPI
import KairanCore
import KairanServices
import KairanStore
import Logging

@main
struct Kairan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kairan",
        abstract: "Kairan (回覧板): community SNS, school notices and alert mail for a town.",
        discussion: """
            With no database URL, kairan creates and runs a private PostgreSQL cluster under the \
            data folder (./.kairan by default), so `kairan serve` is all a newcomer needs.
            """,
        subcommands: [Serve.self, Migrate.self, UserCommand.self]
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP API and background workers (or one of them, with --role).")

    @OptionGroup var common: CommonOptions
    @OptionGroup var serve: ServeOptions
    @OptionGroup var mail: MailOptions

    func run() async throws {
        let logger = try common.makeLogger()
        KairanMetrics.bootstrap()
        try await withDatabase(common, logger: logger) { url in
            if !serve.noMigrate { try await applyMigrations(common, url: url, logger: logger) }
            let configuration = try ServerConfiguration(serve: serve, mail: mail, dataDirectory: common.resolvedDataDirectory,
                                                        database: url, environment: common.environment)
            logger.info("starting", metadata: [
                "role": "\(configuration.role.rawValue)", "database": "\(url.redacted)",
                "url": "http://\(configuration.host):\(configuration.port)", "mail": "\(configuration.mail.destinationDescription)",
            ])
            if configuration.heicConverter == nil, configuration.role.servesAPI {
                logger.notice("iPhone HEIC photos will be refused: no converter (apt install libheif-examples, or --heic-converter PATH)")
            }
            if configuration.push.allowLoopbackHTTP {
                logger.warning("Web Push endpoints on this machine are accepted (--push-allow-loopback-http): for benchmarks and development only")
            }
            let app = try buildApplication(configuration, logger: logger)
            try await app.runService()
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending migrations from schema/ and exit. Safe to run from several processes at once.")

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let logger = try common.makeLogger()
        try await withDatabase(common, logger: logger) { url in
            let applied = try await applyMigrations(common, url: url, logger: logger)
            print(applied.isEmpty ? "database is up to date" : "applied \(applied.count) migration(s): " + applied.map { String(format: "%04d_%@", $0.version, $0.name) }.joined(separator: ", "))
        }
    }
}

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Manage accounts from the command line.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an account, e.g. the town's first administrator.",
            discussion: "The password is read from standard input (first line), so it never appears in the process list or shell history: printf '%s\\n' \"$PASSWORD\" | kairan user create --email … --display-name … --admin")

        @OptionGroup var common: CommonOptions

        @Option(help: "The account's mail address.") var email: String
        @Option(name: .customLong("display-name"), help: "The name other residents see.") var displayName: String
        @Flag(help: "Make the account a town administrator.") var admin = false
        @Flag(help: "Make the account a town moderator.") var moderator = false
        @Flag(name: .customLong("alert-sender"), help: "Let the account send alert mail.") var alertSender = false

        func run() async throws {
            let logger = try common.makeLogger()
            let address = try EmailAddress(email)
            let name = try DisplayName.validate(displayName)
            guard let password = readLine(strippingNewline: true) else {
                throw ArgumentParser.ValidationError("no password on standard input")
            }
            try KairanCore.Password.validate(password)
            var roles: Set<Role> = [.resident]
            if admin { roles.insert(.townAdmin) }
            if moderator { roles.insert(.townModerator) }
            if alertSender { roles.insert(.alertSender) }
            let hash = try await PasswordHasher().hash(password)
            try await withDatabase(common, logger: logger) { url in
                try await applyMigrations(common, url: url, logger: logger)
                let record = try await url.withSingleConnection(logger: logger) { db in
                    try await db.withTransaction { db in
                        try await AccountStore.insert(email: address, passwordHash: hash, displayName: name, roles: roles,
                                                      now: Date(), on: db)
                    }
                }
                print("created account \(record.id) (\(address.redacted)) with roles: \(record.roles.sorted().map(\.rawValue).joined(separator: ", "))")
            }
        }
    }
}


// MARK: - Shared steps

/// Runs `body` against the configured database, or against the embedded cluster (started
/// for the duration, and stopped after if this process started it).
func withDatabase(_ common: CommonOptions, logger: Logger, _ body: (DatabaseURL) async throws -> Void) async throws {
    if let text = common.resolvedDatabaseURL {
        try await body(try DatabaseURL(string: text))
        return
    }
    let embedded = try EmbeddedPostgres(dataFolder: common.resolvedDataDirectory, logger: logger)
    let lease = try await embedded.start()
    do {
        try await body(embedded.url)
    } catch {
        lease.stop()
        throw error
    }
    lease.stop()
}

@discardableResult
func applyMigrations(_ common: CommonOptions, url: DatabaseURL, logger: Logger) async throws -> [Migration] {
    let migrator = try Migrator(directory: Migrator.locateSchemaDirectory(explicit: common.resolvedSchemaDirectory))
    return try await url.withSingleConnection(logger: logger) { db in
        try await migrator.migrate(on: db)
    }
}
