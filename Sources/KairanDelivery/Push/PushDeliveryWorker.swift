import AsyncHTTPClient
import Foundation
import KairanCore
import KairanStore
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Tunables of the Web Push worker.
public struct PushDeliveryConfiguration: Sendable {
    public var workerID: String
    public var batchSize = 200
    /// Pushes in flight at once (each one HTTPS request to a push service).
    public var concurrency = 32
    /// How long a claimed push is ours, renewed every third of it while its batch is being
    /// sent; a killed worker's pushes go out from another worker once it runs out.
    public var lease: TimeInterval = 10
    public var maxAttempts = 8
    /// First retry delay; doubles per attempt up to the cap.
    public var retryBase: TimeInterval = 30
    public var retryCap: TimeInterval = 3600
    /// One push service's answer, connection included.
    public var requestTimeout: TimeAmount = .seconds(15)
    /// Longest idle sleep (a NOTIFY wakes the worker as soon as pushes are queued).
    public var pollInterval: Duration = .seconds(60)

    public init(workerID: String) {
        self.workerID = workerID
    }
}

/// Sends queued Web Pushes (RFC 8030) to the browsers' push services: each payload
/// encrypted for its device (RFC 8291), each request signed with the town's VAPID key
/// (RFC 8292). A device the push service says is gone (404, 410) is removed. Any number of
/// these may run against one database.
public final class PushDeliveryWorker: Service, Sendable {
    let database: Database
    let listenURL: DatabaseURL?
    /// VAPID's `sub`: who a push service can contact about this server's pushes.
    let contact: String
    let settings: PushSettings
    let configuration: PushDeliveryConfiguration
    let clock: any WallClock
    let logger: Logger
    /// Its own client: redirects are refused (a push service that redirects is not one we
    /// checked), and it is shut down with the worker. Made on the first push, so a worker
    /// that never ran (a process stopped during start-up) has nothing to shut down.
    private let http = Mutex<HTTPClient?>(nil)
    private let loadedSigner = Mutex<VAPIDSigner?>(nil)
    /// One VAPID header per push service, reused for an hour (it is valid for 12): an
    /// ECDSA signature per push was a third of a push's CPU.
    private let authorizations = Mutex<[String: (header: String, until: Date)]>([:])
    public let passes = PassCounter()
    private let outcomes = Counter(label: "kairan_push_sent_total")
    private let gone = Counter(label: "kairan_push_gone_total")
    private let failures = Counter(label: "kairan_push_failed_total")
    private let recorder: PushOutcomeRecorder

    public init(database: Database, listenURL: DatabaseURL?, contact: String, settings: PushSettings, configuration: PushDeliveryConfiguration,
                clock: any WallClock, logger: Logger) {
        self.database = database
        self.listenURL = listenURL
        self.contact = contact
        self.settings = settings
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        let worker = configuration.workerID
        recorder = PushOutcomeRecorder(logger: logger) { [database, clock] outcomes in
            let now = clock.now()
            try await database.withTransaction { db in
                try await PushStore.record(outcomes, worker: worker, now: now, on: db)
            }
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await runWokenPasses(
                listeningTo: PushStore.channel, on: self.listenURL, safetyInterval: self.configuration.pollInterval,
                firstWaitWithoutListener: .milliseconds(100), clock: self.clock, logger: self.logger, passes: self.passes
            ) {
                await self.drain()
            } nextDue: {
                await self.nextDue()
            }
        }
        await shutdown()
    }

    /// Closes the HTTP client (`run` does this itself; tests that only `drain` call it).
    public func shutdown() async {
        let client = http.withLock { client -> HTTPClient? in
            defer { client = nil }
            return client
        }
        try? await client?.shutdown()
    }

    private func httpClient() -> HTTPClient {
        http.withLock { client in
            if let client { return client }
            var settings = HTTPClient.Configuration(redirectConfiguration: .disallow,
                                                    timeout: .init(connect: configuration.requestTimeout, read: configuration.requestTimeout))
            // Most pushes go to one or two services (FCM, Apple's, Mozilla's): as many
            // connections to one as pushes in flight when it speaks only HTTP/1.1.
            settings.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.concurrency)
            let made = HTTPClient(eventLoopGroupProvider: .singleton, configuration: settings)
            client = made
            return made
        }
    }

    private func signer() async throws -> VAPIDSigner {
        if let signer = loadedSigner.withLock({ $0 }) { return signer }
        let key = try await database.withConnection { db in try await VAPIDKey.load(on: db) }
        let signer = VAPIDSigner(key: try key.signingKey, subject: contact)
        loadedSigner.withLock { $0 = signer }
        return signer
    }

    private func nextDue() async -> Date? {
        do {
            return try await database.withConnection { db in try await PushStore.nextDue(on: db) }
        } catch {
            if !Task.isCancelled { logger.warning("reading the next push due failed; will retry", metadata: ["error_type": "\(type(of: error))"]) }
            return nil
        }
    }

    /// Claims and sends until nothing is due; returns how many pushes were handled.
    @discardableResult
    public func drain() async -> Int {
        let signer: VAPIDSigner
        do {
            signer = try await self.signer()
        } catch {
            logger.debug("cannot read the VAPID key yet; will retry", metadata: ["error_type": "\(type(of: error))"])
            return 0
        }
        var total = 0
        while !Task.isCancelled {
            let now = clock.now()
            let claimed: [ClaimedPush]
            do {
                claimed = try await database.withConnection { db in
                    try await PushStore.claim(worker: configuration.workerID, limit: configuration.batchSize, lease: configuration.lease, now: now, on: db)
                }
            } catch {
                if !Task.isCancelled { logger.warning("claiming pushes failed; will retry", metadata: ["error_type": "\(type(of: error))"]) }
                return total
            }
            if claimed.isEmpty { return total }
            let renewal = renewLeases(on: claimed.map(\.id))
            defer { renewal.cancel() }
            await withTaskGroup(of: Void.self) { group in
                var started = 0
                for push in claimed {
                    // At most `concurrency` requests at once.
                    if started >= configuration.concurrency { await group.next() }
                    group.addTask { await self.deliver(push, signer: signer) }
                    started += 1
                }
            }
            total += claimed.count
            if claimed.count < configuration.batchSize { return total }
        }
        return total
    }

    /// Keeps the batch's lease alive while it is being sent (a slow push service may take
    /// its full timeout per push).
    private func renewLeases(on ids: [Int64]) -> Task<Void, Never> {
        renewingLease(configuration.lease, logger: logger) { [database, clock, configuration] in
            let until = clock.now().addingTimeInterval(configuration.lease)
            try await database.withConnection { db in
                try await PushStore.renewLease(ids: ids, worker: configuration.workerID, until: until, on: db)
            }
        }
    }

    /// Sends one push and records the answer, committed with the other outcomes of the
    /// moment. Recorded even during shutdown: a push that went out and is not recorded goes
    /// again after the lease.
    private func deliver(_ push: ClaimedPush, signer: VAPIDSigner) async {
        let outcome = await send(push, signer: signer)
        switch outcome {
        case .sent: outcomes.increment()
        case .gone: gone.increment()
        case .failed:
            failures.increment()
            logger.warning("push failed", metadata: ["push_delivery_id": "\(push.id)", "status": "\(Self.statusText(outcome))"])
        case .retry: break
        }
        await recorder.record(PushStore.RecordedOutcome(id: push.id, subscription: push.subscriptionID, outcome: outcome))
    }

    static func statusText(_ outcome: PushOutcome) -> String {
        switch outcome {
        case .sent(let status), .failed(let status), .gone(let status), .retry(let status, _): status
        }
    }

    func send(_ push: ClaimedPush, signer: VAPIDSigner) async -> PushOutcome {
        let url: URL
        do {
            url = try PushEndpoint.check(push.endpoint, settings: settings)
        } catch {
            return .failed(status: "endpoint refused (\(error))")
        }
        // The name as it resolves now: a public name may point at this machine or the
        // town's network (checked for every address, unless it is the test suite's service).
        if let host = url.host, !(settings.allowLoopbackHTTP && url.scheme == "http") {
            guard let addresses = try? await Self.resolve(host), !addresses.isEmpty else {
                return retryOrFail(push, status: "cannot resolve the push service")
            }
            if addresses.contains(where: { !PushEndpoint.isPublic($0) }) {
                return .failed(status: "endpoint resolves to a private address")
            }
        }
        let body: [UInt8]
        let authorization: String
        do {
            body = try WebPushEncryption.encrypt(Array(push.payload.utf8), p256dh: push.p256dh, auth: push.auth)
            authorization = try self.authorization(for: url, signer: signer)
        } catch {
            return .failed(status: "cannot encrypt for this device (\(type(of: error)))")
        }
        var request = HTTPClientRequest(url: push.endpoint)
        request.method = .POST
        request.headers.add(name: "TTL", value: String(push.ttlSeconds))
        request.headers.add(name: "Urgency", value: push.urgency)
        if let topic = push.topic { request.headers.add(name: "Topic", value: topic) }
        request.headers.add(name: "Content-Encoding", value: "aes128gcm")
        request.headers.add(name: "Content-Type", value: "application/octet-stream")
        request.headers.add(name: "Authorization", value: authorization)
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await httpClient().execute(request, timeout: configuration.requestTimeout)
            // The answer's text is not needed; read a little so the connection can be reused.
            _ = try? await response.body.collect(upTo: 4096)
            let status = "\(response.status.code) \(response.status.reasonPhrase)".prefix(100)
            switch response.status.code {
            case 200..<300:
                return .sent(status: String(status))
            case 404, 410:
                return .gone(status: String(status))
            case 429:
                let wait = response.headers.first(name: "Retry-After").flatMap(TimeInterval.init).map { min(max($0, 1), 3600) }
                if let wait, push.attempts < configuration.maxAttempts { return .retry(status: String(status), retryAt: clock.now().addingTimeInterval(wait)) }
                return retryOrFail(push, status: String(status))
            case 500..<600:
                return retryOrFail(push, status: String(status))
            default:
                // 400, 401, 403 (a key or VAPID problem), 413: sending again changes nothing.
                return .failed(status: String(status))
            }
        } catch {
            return retryOrFail(push, status: "no answer (\(type(of: error)))")
        }
    }

    /// The push service judges the claim's expiry by its own clock, so it is signed with the
    /// machine's time, not the worker's (a test's clock may be days behind).
    private func authorization(for url: URL, signer: VAPIDSigner) throws -> String {
        let origin = "\(url.scheme ?? "")://\(url.host ?? "")" + (url.port.map { ":\($0)" } ?? "")
        let now = Date()
        if let cached = authorizations.withLock({ $0[origin] }), cached.until > now { return cached.header }
        let header = try signer.authorization(for: url, now: now)
        authorizations.withLock { cache in
            // Bounded: a handful of push services in practice; an odd endpoint's origin
            // cannot grow it without end.
            if cache.count > 100 { cache.removeAll() }
            cache[origin] = (header, now.addingTimeInterval(3600))
        }
        return header
    }

    func retryOrFail(_ push: ClaimedPush, status: String) -> PushOutcome {
        guard push.attempts < configuration.maxAttempts else { return .failed(status: status) }
        let delay = min(configuration.retryCap, configuration.retryBase * pow(2, Double(push.attempts - 1))) * Double.random(in: 0.5...1.0)
        return .retry(status: status, retryAt: clock.now().addingTimeInterval(delay))
    }

    /// Every address `host` resolves to (blocking resolver, so on NIO's thread pool).
    static func resolve(_ host: String) async throws -> [[UInt8]] {
        if let literal = PushEndpoint.ipLiteral(host) { return [literal] }
        return try await NIOThreadPool.singleton.runIfActive {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, nil, &hints, &list) == 0 else { return [] }
            defer { freeaddrinfo(list) }
            var addresses: [[UInt8]] = []
            var entry = list
            while let info = entry?.pointee {
                if info.ai_family == AF_INET, let address = info.ai_addr {
                    address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                        var bytes = v4.pointee.sin_addr
                        addresses.append(withUnsafeBytes(of: &bytes) { Array($0) })
                    }
                } else if info.ai_family == AF_INET6, let address = info.ai_addr {
                    address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                        var bytes = v6.pointee.sin6_addr
                        addresses.append(withUnsafeBytes(of: &bytes) { Array($0) })
                    }
                }
                entry = info.ai_next
            }
            return addresses
        }
    }
}
