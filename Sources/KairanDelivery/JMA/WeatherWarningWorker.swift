import AsyncHTTPClient
import Foundation
import KairanCore
import KairanServices
import KairanStore
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// Where JMA's warnings come from and which the town sends.
public struct WeatherWarningConfiguration: Sendable {
    /// The high-frequency 随時 feed (rebuilt every minute, the last ten minutes or so).
    public var feedURL: String
    /// The long 随時 feed (the last few days), read after a gap (a first start, an outage)
    /// so that nothing issued meanwhile is missed.
    public var longFeedURL: String
    public var policy: WeatherWarningPolicy
    /// JMA asks for about one poll a minute.
    public var interval: Duration
    /// The longest wait after failures (doubling from `interval`).
    public var maxBackoff: Duration
    /// Sent with every request: JMA asks its users to be reachable.
    public var userAgent: String
    public var requestTimeout: Duration
    public var maxFeedBytes: Int
    public var maxDocumentBytes: Int

    public static let defaultFeedURL = "https://www.data.jma.go.jp/developer/xml/feed/extra.xml"

    public init(policy: WeatherWarningPolicy, feedURL: String = Self.defaultFeedURL, longFeedURL: String? = nil, contact: String) {
        self.policy = policy
        self.feedURL = feedURL
        self.longFeedURL = longFeedURL ?? (feedURL.hasSuffix("/extra.xml") ? String(feedURL.dropLast(4)) + "_l.xml" : feedURL)
        interval = .seconds(60)
        maxBackoff = .seconds(1800)
        userAgent = "Kairan (community alerts; \(contact))"
        requestTimeout = .seconds(30)
        maxFeedBytes = 16 << 20
        maxDocumentBytes = 4 << 20
    }
}

/// Polls JMA's Atom feed with conditional GET, fetches each new warning document of the
/// town's prefecture once, and hands it to `WeatherWarningService`. Several instances share
/// the feed through a lease in the database: one polls each time.
public final class WeatherWarningWorker: Service, Sendable {
    let warnings: WeatherWarningService
    let configuration: WeatherWarningConfiguration
    let clock: any WallClock
    let logger: Logger
    let http: HTTPClient
    /// This worker's name on the turn to poll.
    let owner = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier):\(UUID().uuidString.prefix(8))"

    public init(warnings: WeatherWarningService, configuration: WeatherWarningConfiguration, clock: any WallClock, logger: Logger) {
        self.warnings = warnings
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        let settings = HTTPClient.Configuration(redirectConfiguration: .follow(max: 3, allowCycles: false),
                                                timeout: .init(connect: .seconds(10), read: .seconds(Int64(configuration.requestTimeout.seconds))))
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: settings)
    }

    public func run() async throws {
        logger.info("weather warnings: polling JMA", metadata: ["areas": "\(configuration.policy.areas.keys.sorted())"])
        await runPeriodically(every: configuration.interval) { _ = await self.tick() }
        await shutdown()
    }

    /// Closes the HTTP client (`run` does on its way out; tests that drive `tick` call it).
    public func shutdown() async {
        try? await http.shutdown()
    }

    /// What one poll did, for tests and the log.
    public struct Poll: Sendable, Equatable {
        public var feedStatus: Int?
        public var documents = 0
        public var alerts = 0
        /// Alerts set aside for alert staff (`--jma-approval`).
        public var pending = 0
        /// The feed's validators from a 200, kept for the next conditional GET.
        var lastModified: String?
        var etag: String?
    }

    /// One poll, when this instance has the feed's turn. Public so tests drive it with their
    /// own clock.
    @discardableResult
    public func tick() async -> Poll {
        var poll = Poll()
        let now = clock.now()
        do {
            // Held a little less than one interval, so this instance's next tick finds it due;
            // extended before each document. Taken first: an instance whose turn it is not
            // costs one statement a minute.
            let lease = now.addingTimeInterval(configuration.interval.seconds * 0.9)
            guard let failures = try await warnings.takeTurn(owner: owner, until: lease) else { return poll }
            guard try await warnings.categoryExists(configuration.policy) else {
                logger.error("weather warnings: the alert category does not exist; nothing is fetched until it does",
                             metadata: ["category": "\(configuration.policy.category)"])
                return poll
            }
            let lastSuccess = try await warnings.lastFeedSuccess()
            let caughtUp = lastSuccess.map { now.timeIntervalSince($0) < 600 } ?? false
            let url = caughtUp ? configuration.feedURL : configuration.longFeedURL
            do {
                try await read(url, validators: try await warnings.validators(url), into: &poll)
                try await warnings.feedRead(url, lastModified: poll.lastModified, etag: poll.etag)
                try await warnings.endTurn(owner: owner, nextAt: lease, failed: false)
            } catch {
                let wait = min(configuration.interval.seconds * pow(2, Double(min(failures + 1, 10))), configuration.maxBackoff.seconds)
                logger.warning("weather warnings: the feed or a document could not be read; backing off",
                               metadata: ["error": "\(error)", "retry_in_s": "\(Int(wait))"])
                try await warnings.forgetValidators(url)
                try await warnings.endTurn(owner: owner, nextAt: now.addingTimeInterval(wait), failed: true)
            }
        } catch {
            if !Task.isCancelled { logger.error("weather warnings: poll failed", metadata: ["error_type": "\(type(of: error))"]) }
        }
        return poll
    }

    struct HTTPStatusError: Error, CustomStringConvertible {
        let status: Int
        var description: String { "HTTP \(status)" }
    }

    struct TurnLost: Error, CustomStringConvertible {
        var description: String { "the turn to poll ran out and another instance took it" }
    }

    private func read(_ url: String, validators: JMAFeedValidators, into poll: inout Poll) async throws {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "User-Agent", value: configuration.userAgent)
        if let lastModified = validators.lastModified { request.headers.add(name: "If-Modified-Since", value: lastModified) }
        if let etag = validators.etag { request.headers.add(name: "If-None-Match", value: etag) }
        let response = try await http.execute(request, timeout: .seconds(Int64(configuration.requestTimeout.seconds)))
        poll.feedStatus = Int(response.status.code)
        if response.status == .notModified { return }
        guard response.status == .ok else { throw HTTPStatusError(status: Int(response.status.code)) }
        let body = try await response.body.collect(upTo: configuration.maxFeedBytes)
        let entries = try JMAXML.feed(Data(body.readableBytesView))
        poll.lastModified = response.headers.first(name: "Last-Modified")
        poll.etag = response.headers.first(name: "ETag")

        let prefectures = configuration.policy.prefectures
        let wanted = entries
            .filter { WarningDocument.family(ofTitle: $0.title) != nil && $0.officeCode.map { prefectures.contains(String($0.prefix(2))) } == true }
            .enumerated().sorted { ($0.element.updated ?? .distantPast, $0.offset) < ($1.element.updated ?? .distantPast, $1.offset) }
            .map(\.element.url)
        var seen = Set<String>()
        var pending = try await warnings.claimDocuments(wanted.filter { seen.insert($0).inserted })
        while !pending.isEmpty {
            let documentURL = pending.removeFirst()
            do {
                // The turn is kept for as long as a document can take, or given up: another
                // instance must never apply later documents while this one still holds
                // earlier ones.
                guard try await warnings.extendTurn(owner: owner, until: clock.now().addingTimeInterval(configuration.requestTimeout.seconds + 60)) else {
                    throw TurnLost()
                }
                let data: Data
                do {
                    data = try await fetch(documentURL)
                } catch let error as HTTPStatusError where error.status == 404 || error.status == 410 {
                    // Listed but gone: waiting for it would hold up every later document.
                    // What it issued is caught up from the next document's 継続.
                    logger.warning("weather warnings: a listed document is gone", metadata: ["url": "\(documentURL)", "status": "\(error.status)"])
                    try await warnings.documentUnreadable(documentURL, reason: "\(error): listed in the feed but gone")
                    continue
                }
                poll.documents += 1
                let document: WarningDocument
                do {
                    document = try JMAXML.warningDocument(data)
                } catch {
                    logger.warning("weather warnings: a document could not be read", metadata: ["url": "\(documentURL)", "error": "\(error)"])
                    try await warnings.documentUnreadable(documentURL, reason: "\(error)")
                    continue
                }
                let applied = try await warnings.apply(document, url: documentURL, policy: configuration.policy, logger: logger)
                poll.alerts += applied.alerts.count
                poll.pending += applied.pending.count
                if !applied.alerts.isEmpty { Counter(label: "kairan_weather_warning_alerts_total").increment(by: applied.alerts.count) }
            } catch {
                // Given back in order (this one and every later one), so that a later
                // document is never applied before an earlier one; the next poll reads the
                // feed in full and claims them again.
                for url in [documentURL] + pending { try? await warnings.releaseDocument(url) }
                throw error
            }
        }
    }

    private func fetch(_ url: String) async throws -> Data {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "User-Agent", value: configuration.userAgent)
        let response = try await http.execute(request, timeout: .seconds(Int64(configuration.requestTimeout.seconds)))
        guard response.status == .ok else { throw HTTPStatusError(status: Int(response.status.code)) }
        return Data(try await response.body.collect(upTo: configuration.maxDocumentBytes).readableBytesView)
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
