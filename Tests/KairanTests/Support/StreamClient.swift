import Foundation
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import KairanStore
import Logging
import NIOCore
import NIOWebSocket
import Synchronization
import Testing

@testable import KairanServer

/// Builds the real application on a fresh database and serves it on a loopback port, for
/// tests that need real sockets (WebSocket clients).
func withLiveApp(
    clock: TestClock = TestClock(),
    configure: @escaping (inout ServerConfiguration) -> Void = { _ in },
    _ test: @escaping @Sendable (any TestClientProtocol, DatabaseURL) async throws -> Void
) async throws {
    try await TestDatabase.withFreshDatabase { url in
        try await serveLive(url: url, clock: clock, configure: configure) { client in try await test(client, url) }
    }
}

/// One more live instance on an existing database (the multi-instance tests run two).
func serveLive(
    url: DatabaseURL, clock: TestClock = TestClock(), configure: (inout ServerConfiguration) -> Void = { _ in },
    _ test: @escaping @Sendable (any TestClientProtocol) async throws -> Void
) async throws {
    var configuration = ServerConfiguration.testing(url)
    configuration.port = 0
    configure(&configuration)
    let app = try buildApplication(configuration, clock: clock, logger: TestDatabase.logger)
    try await app.test(.live) { client in try await test(client) }
}

/// A WebSocket client on `/v1/stream` that collects every JSON frame it receives.
final class StreamClient: Sendable {
    /// Raw JSON texts as received (parsed on demand: `[String: Any]` is not Sendable).
    let frames: Mutex<[String]> = Mutex([])
    private let arrivals: AsyncStream<Void>
    private let arrived: AsyncStream<Void>.Continuation
    private let outgoing: AsyncStream<String>
    private let send: AsyncStream<String>.Continuation
    /// While false, the client does not read from the socket (a slow consumer).
    let reading: Mutex<Bool>
    let closeCode: Mutex<WebSocketErrorCode?> = Mutex(nil)
    let failure: Mutex<String?> = Mutex(nil)

    private let task: Mutex<Task<Void, any Error>?> = Mutex(nil)

    /// Connects in the background; `close()` ends the connection, `ended()` waits for it.
    static func open(port: Int, path: String = "/v1/stream", token: String? = nil, origin: String? = nil, language: String? = nil) -> StreamClient {
        let client = StreamClient()
        let task = Task { try await client.run(port: port, path: path, token: token, origin: origin, language: language) }
        client.task.withLock { $0 = task }
        return client
    }

    /// Closes from the client side (normal closure) and stops waiting.
    func close() {
        finish()
        task.withLock { $0?.cancel() }
    }

    /// Waits until the connection is over, however it ended.
    func ended() async {
        _ = try? await task.withLock { $0 }?.value
    }

    init(reading: Bool = true) {
        (arrivals, arrived) = AsyncStream.makeStream(of: Void.self)
        (outgoing, send) = AsyncStream.makeStream(of: String.self)
        self.reading = Mutex(reading)
    }

    /// Connects and runs until the server closes or `finish()` is called. Run it in a task.
    func run(port: Int, path: String = "/v1/stream", token: String? = nil, origin: String? = nil, language: String? = nil) async throws {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        if let origin { headers[.origin] = origin }
        if let language { headers[.acceptLanguage] = language }
        var logger = Logger(label: "stream-client")
        logger.logLevel = .warning
        do {
            try await connect(port: port, path: path, headers: headers, logger: logger)
        } catch {
            failure.withLock { $0 = "\(error)" }
            arrived.finish()
            throw error
        }
    }

    private func connect(port: Int, path: String, headers: HTTPFields, logger: Logger) async throws {
        let close = try await WebSocketClient.connect(
            url: "ws://127.0.0.1:\(port)\(path)", configuration: .init(maxFrameSize: 1 << 20, additionalHeaders: headers), logger: logger
        ) { inbound, outbound, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await text in self.outgoing { try await outbound.write(.text(text)) }
                    try await outbound.close(.normalClosure, reason: nil)
                }
                group.addTask {
                    var iterator = inbound.messages(maxSize: 1 << 22).makeAsyncIterator()
                    while true {
                        while !self.reading.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(20)) }
                        guard let message = try await iterator.next() else { break }
                        if case .text(let text) = message {
                            self.frames.withLock { $0.append(text) }
                            self.arrived.yield()
                        }
                    }
                }
                try await group.next()
                group.cancelAll()
            }
        }
        closeCode.withLock { $0 = close?.closeCode }
        arrived.finish()
    }

    func subscribe(_ stream: String, after: Int? = nil) {
        var message: [String: Any] = ["type": "subscribe", "stream": stream]
        if let after { message["after"] = after }
        send.yield(jsonObject(message))
    }

    func sendRaw(_ text: String) { send.yield(text) }

    func finish() { send.finish() }

    var received: [[String: Any]] {
        frames.withLock { $0 }.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// How many event frames arrived (cheap: no parsing, for polling under load).
    var eventCount: Int { frames.withLock { $0.reduce(0) { $0 + ($1.hasPrefix(#"{"type":"event""#) ? 1 : 0) } } }

    func events(_ stream: String? = nil) -> [[String: Any]] {
        received.filter { $0["type"] as? String == "event" && (stream == nil || $0["stream"] as? String == stream) }
    }

    /// Waits until `condition` holds over the frames received so far (or 15 s pass).
    @discardableResult
    func wait(for what: String = "frames", _ condition: ([[String: Any]]) -> Bool) async throws -> [[String: Any]] {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            let frames = received
            // Conditions may look at the client's live state rather than this snapshot:
            // return what has arrived by now, which includes everything they saw.
            if condition(frames) { return received }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("timed out waiting for \(what); got \(received.count) frames: \(received.suffix(3)); connection error: \(failure.withLock { $0 } ?? "none")")
        return received
    }

    /// Proves a negative without sleeping: sends a request the server answers on this
    /// socket, and waits for the answer. Every frame the hub had queued for this socket
    /// before the request arrived comes first (all of a socket's writes run on its event
    /// loop, in order), so once a `witness` subscribed to the same stream has an event, a
    /// round trip here shows whether this socket got it too.
    func roundTrip() async throws {
        let marker = "group:\(Int.random(in: 1_000_000_000...2_000_000_000))"
        sendRaw(jsonObject(["type": "unsubscribe", "stream": marker]))
        try await wait(for: "the round trip") { frames in
            frames.contains { $0["type"] as? String == "unsubscribed" && $0["stream"] as? String == marker }
        }
    }

    func waitForSubscribed(_ stream: String) async throws -> [String: Any] {
        let frames = try await wait(for: "subscribed \(stream)") { frames in
            frames.contains { ($0["type"] as? String == "subscribed" || $0["type"] as? String == "error") && $0["stream"] as? String == stream }
        }
        return try #require(frames.last { $0["stream"] as? String == stream && ["subscribed", "error"].contains($0["type"] as? String) })
    }
}
