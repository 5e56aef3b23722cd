import ArgumentParser
import Foundation
import KairanAPI
import KairanCore
import KairanDelivery
import KairanFiles
import KairanServices
import KairanStore
import Logging
import NIOCore

/// Which parts of Kairan a process runs. One binary; a deployment picks per process.
enum ServerRole: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// HTTP API, WebSocket gateway and background workers in one process.
    case all
    /// HTTP API (and WebSocket) only.
    case api
    /// Background workers only; still answers /healthz, /readyz and /metrics.
    case worker

    var servesAPI: Bool { self != .worker }
    var runsWorkers: Bool { self != .api }
}

/// Options every subcommand shares. Each falls back to an environment variable, then to a
/// default, so containers configure with variables and people with flags.
struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("database-url"),
            help: "PostgreSQL URL, e.g. postgres://kairan:secret@db:5432/kairan?sslmode=require (env KAIRAN_DATABASE_URL). Without one, kairan runs a private cluster under the data folder.")
    var databaseURL: String?

    @Option(name: .customLong("data-dir"), help: "Folder for the embedded PostgreSQL cluster and the development mail folder (env KAIRAN_DATA_DIR; default ./.kairan).")
    var dataDirectory: String?

    @Option(name: .customLong("schema-dir"), help: "Folder holding the numbered migration files (env KAIRAN_SCHEMA_DIR; default ./schema, then the source checkout).")
    var schemaDirectory: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (env KAIRAN_LOG_LEVEL; default info).")
    var logLevel: String?

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    var resolvedDatabaseURL: String? {
        let value = databaseURL ?? environment["KAIRAN_DATABASE_URL"]
        return value?.isEmpty == true ? nil : value
    }

    var resolvedDataDirectory: String { dataDirectory ?? environment["KAIRAN_DATA_DIR"] ?? "./.kairan" }
    var resolvedSchemaDirectory: String? { schemaDirectory ?? environment["KAIRAN_SCHEMA_DIR"] }

    func makeLogger(label: String = "kairan") throws -> Logger {
        let text = logLevel ?? environment["KAIRAN_LOG_LEVEL"] ?? "info"
        guard let level = Logger.Level(rawValue: text) else {
            throw ValidationError("log level '\(text)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }
}

struct ServeOptions: ParsableArguments {
    @Option(name: .customLong("host"), help: "Address to listen on (env KAIRAN_HTTP_HOST; default 127.0.0.1, use 0.0.0.0 in containers).")
    var host: String?

    @Option(name: .customLong("port"), help: "HTTP port (env KAIRAN_HTTP_PORT; default 8080).")
    var port: Int?

    @Option(name: .customLong("role"), help: "What this process runs: all (default), api or worker (env KAIRAN_ROLE).")
    var role: ServerRole?

    @Option(name: .customLong("session-hours"), help: "How long a login lasts, in hours (env KAIRAN_SESSION_HOURS; default 720 = 30 days).")
    var sessionHours: Int?

    @Option(name: .customLong("allowed-origin"), help: "An origin whose web pages may open the WebSocket stream, e.g. https://kairan.town.example.jp; repeat for more (env KAIRAN_ALLOWED_ORIGINS, comma-separated).")
    var allowedOrigins: [String] = []

    @Option(name: .customLong("stream-ping-interval"), help: "Seconds between pings on every stream socket; one that answered nothing by the next is closed (env KAIRAN_STREAM_PING_INTERVAL; default 30). Keep it below any proxy's idle timeout in front of Kairan.")
    var streamPingInterval: Int?

    @Option(name: .customLong("request-timeout"), help: "Seconds any HTTP request may take before it is answered 503, database waits included (env KAIRAN_REQUEST_TIMEOUT; default 10).")
    var requestTimeout: Int?

    @Option(name: .customLong("max-requests"), help: "HTTP requests one process works on at once; four times as many wait up to 2 s for a turn, more are answered 503 with Retry-After (env KAIRAN_MAX_REQUESTS; default twice the database pool, 40).")
    var maxRequests: Int?

    @Option(name: .customLong("registrations-per-hour"), help: "New accounts one network address may register in an hour (env KAIRAN_REGISTRATIONS_PER_HOUR; default 20). Raise it for a sign-up event where many residents share the town office's network.")
    var registrationsPerHour: Int?

    @Flag(name: .customLong("push-allow-loopback-http"), help: "Accept Web Push endpoints on this machine over plain http (env KAIRAN_PUSH_ALLOW_LOOPBACK_HTTP=1): for a push service run locally by a benchmark or a developer, never in a town's deployment.")
    var pushAllowLoopbackHTTP = false

    @Option(name: .customLong("jma-areas"), help: "Send JMA's weather warnings for these seven-digit JMA area codes (the municipality code and 00, e.g. 1420100; comma-separated). `CODE=kita+minami` sends a code's warnings to those alert areas only, otherwise to the whole town (env KAIRAN_JMA_AREAS; default: off).")
    var jmaAreas: String?

    @Option(name: .customLong("jma-advisories"), help: "注意報 (advisories): skip, normal or urgent; 警報 and 特別警報 are always urgent (env KAIRAN_JMA_ADVISORIES; default normal).")
    var jmaAdvisories: String?

    @Option(name: .customLong("jma-approval"), help: "Which weather warning alerts wait for alert staff to send them (防災担当の承認): off (default: all go at once), advisories (those only about 注意報) or all (env KAIRAN_JMA_APPROVAL).")
    var jmaApproval: String?

    @Option(name: .customLong("jma-category"), help: "The alert category weather warnings go out under (env KAIRAN_JMA_CATEGORY; default disaster).")
    var jmaCategory: String?

    @Option(name: .customLong("jma-feed-url"), help: "JMA's high-frequency 随時 Atom feed (env KAIRAN_JMA_FEED_URL; default \(WeatherWarningConfiguration.defaultFeedURL)); its long feed is the same name with _l.")
    var jmaFeedURL: String?

    @Option(name: .customLong("files-dir"), help: "Folder for attachments' bytes (env KAIRAN_FILES_DIR; default <data-dir>/files). Ignored with --s3-endpoint.")
    var filesDirectory: String?

    @Option(name: .customLong("heic-converter"), help: "The program that turns iPhones' HEIC photos into JPEG, or `off` to refuse them (env KAIRAN_HEIC_CONVERTER; default /usr/bin/heif-convert from Debian's libheif-examples, when installed).")
    var heicConverter: String?

    @Option(name: .customLong("s3-endpoint"), help: "Keep attachments in an S3-compatible bucket at this URL instead of a folder, e.g. https://s3.ap-northeast-1.amazonaws.com (env KAIRAN_S3_ENDPOINT). Keys from KAIRAN_S3_ACCESS_KEY and KAIRAN_S3_SECRET_KEY.")
    var s3Endpoint: String?

    @Option(name: .customLong("s3-bucket"), help: "The bucket (env KAIRAN_S3_BUCKET); required with --s3-endpoint.")
    var s3Bucket: String?

    @Option(name: .customLong("s3-region"), help: "The bucket's region for request signing (env KAIRAN_S3_REGION; default us-east-1).")
    var s3Region: String?

    @Option(name: .customLong("s3-prefix"), help: "Key prefix inside the bucket (env KAIRAN_S3_PREFIX; default kairan/).")
    var s3Prefix: String?

    @Flag(name: .customLong("no-migrate"), help: "Do not apply pending migrations at start (run `kairan migrate` separately).")
    var noMigrate = false
}

/// Everything `buildApplication` needs, resolved from flags, environment and defaults.
struct ServerConfiguration: Sendable {
    var host = "127.0.0.1"
    var port = 8080
    var role = ServerRole.all
    var database: DatabaseURL
    var sessionLifetime: TimeInterval = 720 * 3600
    var allowedOrigins: Set<String> = []
    /// Bytes a WebSocket client may leave unread before it is cut off.
    var streamQueueLimitBytes = 4 << 20
    /// Every stream socket is pinged this often; one that answered nothing by the next
    /// ping is closed (a phone that left the network without closing).
    var streamHeartbeatPeriod: TimeAmount = .seconds(30)
    var mail: MailConfiguration
    /// Pooled PostgreSQL connections per process.
    var databasePoolSize = 20
    /// The longest an HTTP request may take before it is answered 503.
    var requestTimeout: Duration = .seconds(10)
    /// Requests worked on at once and waiting; nil: sized from the database pool.
    var admission: AdmissionLimits?
    /// Bounds on request heads (size, arrival time) and on connections we are done with.
    var httpLimits = HTTPGuardLimits()
    /// Always PasswordHasher() in `kairan`; the test suite sets a cheaper one.
    var passwordHasher = PasswordHasher()
    /// Failed logins per address and per client, registrations per client.
    var loginThrottle = LoginThrottle()
    /// Web Push: where pushes may go (the test suite allows its local push service).
    var push = PushSettings()
    /// JMA's weather warnings: nil (the default) polls nothing.
    var weatherWarnings: WeatherWarningConfiguration?
    /// Where attachments' bytes go; the test suite's servers each get a folder of their own.
    /// Sizes and counts of attachments.
    var attachmentLimits = AttachmentLimits()
    /// HEIC photos are converted with this; nil refuses them (415 with advice).
    var heicConverter = HEICConverter.installed()
    var files = FileStoreConfiguration.local(FileManager.default.temporaryDirectory.path + "/kairan-files-\(UUID().uuidString)")

    init(database: DatabaseURL, mail: MailConfiguration) {
        self.database = database
        self.mail = mail
    }

    init(serve: ServeOptions, mail mailOptions: MailOptions, dataDirectory: String, database: DatabaseURL, environment: [String: String]) throws {
        self.database = database
        self.mail = MailConfiguration(maildir: dataDirectory + "/maildir", publicURL: "http://127.0.0.1:8080")
        host = serve.host ?? environment["KAIRAN_HTTP_HOST"] ?? host
        if let port = try integerSetting(serve.port, "--port", "KAIRAN_HTTP_PORT", environment, in: 0...65535) {
            self.port = port
        }
        if let role = try serve.role ?? environment["KAIRAN_ROLE"].map({ text in
            guard let value = ServerRole(rawValue: text) else { throw ValidationError("KAIRAN_ROLE must be all, api or worker") }
            return value
        }) {
            self.role = role
        }
        let origins = serve.allowedOrigins.isEmpty
            ? (environment["KAIRAN_ALLOWED_ORIGINS"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            : serve.allowedOrigins
        allowedOrigins = Set(origins.filter { !$0.isEmpty })
        if let hours = try integerSetting(serve.sessionHours, "--session-hours", "KAIRAN_SESSION_HOURS", environment, in: 1...(24 * 365)) {
            sessionLifetime = TimeInterval(hours) * 3600
        }
        if let seconds = try integerSetting(serve.requestTimeout, "--request-timeout", "KAIRAN_REQUEST_TIMEOUT", environment, in: 1...300) {
            requestTimeout = .seconds(seconds)
        }
        if let running = try integerSetting(serve.maxRequests, "--max-requests", "KAIRAN_MAX_REQUESTS", environment, in: 1...100_000) {
            admission = .running(running)
        }
        if let seconds = try integerSetting(serve.streamPingInterval, "--stream-ping-interval", "KAIRAN_STREAM_PING_INTERVAL", environment,
                                          in: 5...3600) {
            streamHeartbeatPeriod = .seconds(Int64(seconds))
        }
        if let limit = try integerSetting(serve.registrationsPerHour, "--registrations-per-hour", "KAIRAN_REGISTRATIONS_PER_HOUR", environment,
                                          in: 1...100_000) {
            loginThrottle.registrationsPerClientPerHour = limit
        }
        push.allowLoopbackHTTP = serve.pushAllowLoopbackHTTP || environment["KAIRAN_PUSH_ALLOW_LOOPBACK_HTTP"] == "1"
        let shownHost = host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host
        mail = try MailConfiguration(mailOptions, dataDirectory: dataDirectory, defaultPublicURL: "http://\(shownHost):\(port)", environment: environment)
        files = try FileStoreConfiguration(serve, dataDirectory: dataDirectory, environment: environment)
        if let converter = serve.heicConverter ?? environment["KAIRAN_HEIC_CONVERTER"] {
            if converter == "off" {
                heicConverter = nil
            } else {
                guard let found = HEICConverter(executable: converter) else {
                    throw ValidationError("--heic-converter (KAIRAN_HEIC_CONVERTER): \(converter) is not a program this process can run; name heif-convert's path or off")
                }
                heicConverter = found
            }
        }
        if let areas = serve.jmaAreas ?? environment["KAIRAN_JMA_AREAS"], !areas.isEmpty {
            var policy: WeatherWarningPolicy
            do {
                policy = WeatherWarningPolicy(areas: try WeatherWarningPolicy.parseAreas(areas))
            } catch {
                throw ValidationError("--jma-areas: \(error.message)")
            }
            if let text = serve.jmaAdvisories ?? environment["KAIRAN_JMA_ADVISORIES"] {
                guard let choice = WeatherWarningPolicy.Advisories(rawValue: text) else {
                    throw ValidationError("--jma-advisories (KAIRAN_JMA_ADVISORIES) must be skip, normal or urgent")
                }
                policy.advisories = choice
            }
            if let text = serve.jmaApproval ?? environment["KAIRAN_JMA_APPROVAL"] {
                guard let choice = WeatherWarningPolicy.Approval(rawValue: text) else {
                    throw ValidationError("--jma-approval (KAIRAN_JMA_APPROVAL) must be off, advisories or all")
                }
                policy.approval = choice
            }
            policy.category = serve.jmaCategory ?? environment["KAIRAN_JMA_CATEGORY"] ?? policy.category
            weatherWarnings = WeatherWarningConfiguration(
                policy: policy, feedURL: serve.jmaFeedURL ?? environment["KAIRAN_JMA_FEED_URL"] ?? WeatherWarningConfiguration.defaultFeedURL,
                contact: "\(mail.identity.publicURL); mailto:\(mail.identity.fromAddress.raw)")
        }
    }
}

/// A whole-number setting: the flag, else the environment variable, else nil; anything
/// else than a number within `range` is an error naming both.
func integerSetting(_ flag: Int?, _ flagName: String, _ variable: String, _ environment: [String: String], in range: ClosedRange<Int>) throws -> Int? {
    guard let value = try flag ?? environment[variable].map({ text in
        guard let value = Int(text) else { throw ValidationError("\(variable) must be a number") }
        return value
    }) else { return nil }
    guard range.contains(value) else { throw ValidationError("\(flagName) (\(variable)) must be between \(range.lowerBound) and \(range.upperBound)") }
    return value
}

/// Where attachments' bytes are kept: a folder (the default, under the data directory) or
/// an S3-compatible bucket.
enum FileStoreConfiguration: Sendable, Equatable {
    case local(String)
    case s3(S3Configuration)

    init(_ serve: ServeOptions, dataDirectory: String, environment: [String: String]) throws {
        guard let endpoint = serve.s3Endpoint ?? environment["KAIRAN_S3_ENDPOINT"], !endpoint.isEmpty else {
            self = .local(serve.filesDirectory ?? environment["KAIRAN_FILES_DIR"] ?? dataDirectory + "/files")
            return
        }
        guard let url = URL(string: endpoint), url.scheme == "https" || url.scheme == "http", url.host != nil else {
            throw ValidationError("--s3-endpoint (KAIRAN_S3_ENDPOINT) must be an http(s) URL")
        }
        guard let bucket = serve.s3Bucket ?? environment["KAIRAN_S3_BUCKET"], !bucket.isEmpty else {
            throw ValidationError("--s3-bucket (KAIRAN_S3_BUCKET) is required with --s3-endpoint")
        }
        // Keys from the environment only: a flag's value shows in every `ps` listing.
        guard let access = environment["KAIRAN_S3_ACCESS_KEY"], !access.isEmpty, let secret = environment["KAIRAN_S3_SECRET_KEY"], !secret.isEmpty else {
            throw ValidationError("KAIRAN_S3_ACCESS_KEY and KAIRAN_S3_SECRET_KEY must be set with --s3-endpoint")
        }
        self = .s3(S3Configuration(endpoint: endpoint, bucket: bucket, region: serve.s3Region ?? environment["KAIRAN_S3_REGION"] ?? "us-east-1",
                                   accessKey: access, secretKey: secret, prefix: serve.s3Prefix ?? environment["KAIRAN_S3_PREFIX"] ?? "kairan/"))
    }

    func makeStore() throws -> any FileStore {
        switch self {
        case .local(let directory):
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            return LocalFileStore(directory: directory)
        case .s3(let configuration): return S3FileStore(configuration)
        }
    }
}
