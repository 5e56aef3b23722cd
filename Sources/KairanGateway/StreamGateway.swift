import Foundation
import KairanCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket

/// What a stream socket was opened with, decided at the handshake: who, with which login
/// (and until when), and the language of its error frames.
public struct StreamSocketGrant: Sendable {
    public let actor: Actor
    public let sessionID: Int64
    public let expiresAt: Date
    public let language: MessageLanguage

    public init(actor: Actor, sessionID: Int64, expiresAt: Date, language: MessageLanguage) {
        self.actor = actor
        self.sessionID = sessionID
        self.expiresAt = expiresAt
        self.language = language
    }
}

/// Serves upgraded `/v1/stream` sockets with plain NIO channel handlers.
///
/// Why not a task per connection: an idle socket should cost what its channel costs. With
/// an async task tree per connection (reader loop, ping task, handler task group, async
/// channel buffers) an idle socket took about 45 KB; here it is the channel, its WebSocket
/// codec and three small objects, and the only timers are one heartbeat per event loop
/// and the login's expiry. Frames from the hub are written straight to the channel on its
/// event loop (`WebSocketStreamConnection`); the client's requests (subscribe,
/// unsubscribe) are handled one at a time by a task that exists only while some wait
/// (`StreamRequests`).
public final class StreamGateway: Sendable {
    public let hub: StreamHub
    /// Bytes a client may leave unread before it is disconnected (1013).
    public let queueLimitBytes: Int
    /// A ping goes to every socket this often; one that sent nothing back by the next
    /// round is closed.
    public let heartbeatPeriod: TimeAmount
    let clock: any WallClock
    let logger: Logger
    private let heartbeats = NIOLockedValueBox<[ObjectIdentifier: LoopHeartbeat]>([:])

    /// Largest message a client may send; larger closes the socket with 1009.
    public static let maxInboundMessageBytes = 4096

    public init(hub: StreamHub, queueLimitBytes: Int, heartbeatPeriod: TimeAmount = .seconds(30), clock: any WallClock, logger: Logger) {
        self.hub = hub
        self.queueLimitBytes = queueLimitBytes
        self.heartbeatPeriod = heartbeatPeriod
        self.clock = clock
        self.logger = logger
    }

    /// Takes over a channel just upgraded to WebSocket (NIO's frame encoder and decoder are
    /// in its pipeline). On the channel's event loop.
    public func serve(_ channel: any Channel, grant: StreamSocketGrant) throws {
        let encoder = try channel.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self)
        let connection = WebSocketStreamConnection(channel: channel, encoder: encoder, limitBytes: queueLimitBytes)
        try channel.pipeline.syncOperations.addHandler(StreamSocketHandler(gateway: self, grant: grant, connection: connection))
    }

    func heartbeat(on loop: any EventLoop) -> LoopHeartbeat {
        heartbeats.withLockedValue { beats in
            if let beat = beats[ObjectIdentifier(loop)] { return beat }
            let beat = LoopHeartbeat(loop: loop, period: heartbeatPeriod)
            beats[ObjectIdentifier(loop)] = beat
            return beat
        }
    }
}

/// One stream socket after the upgrade: reads the client's frames, answers pings and
/// close frames, and hands complete text messages to `StreamRequests`.
final class StreamSocketHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let connection: WebSocketStreamConnection
    private let gateway: StreamGateway
    private let grant: StreamSocketGrant
    private let subscriber: StreamSubscriber
    private let requests: StreamRequests
    private var heartbeat: LoopHeartbeat?
    private var expiry: Scheduled<Void>?
    /// A message arriving in fragments: what came so far, and whether it is text.
    private var fragments: (buffer: ByteBuffer, text: Bool)?
    /// A ping went out and nothing has come back since.
    private var awaitingAnswer = false
    private var ended = false

    private static let ping: ByteBuffer = ByteBuffer(bytes: [0x89, 0x00])  // FIN, ping, no payload, unmasked

    init(gateway: StreamGateway, grant: StreamSocketGrant, connection: WebSocketStreamConnection) {
        self.gateway = gateway
        self.grant = grant
        self.connection = connection
        self.subscriber = StreamSubscriber(actor: grant.actor, sessionID: grant.sessionID, connection: connection, language: grant.language)
        self.requests = StreamRequests(subscriber: subscriber, hub: gateway.hub)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let heartbeat = gateway.heartbeat(on: context.eventLoop)
        heartbeat.join(self)
        self.heartbeat = heartbeat
        // The login ends by itself at its expiry: so does the socket (a logout closes it
        // through the hub, on every instance).
        let remaining = max(0, grant.expiresAt.timeIntervalSince(gateway.clock.now()))
        let connection = self.connection
        expiry = context.eventLoop.scheduleTask(in: .milliseconds(Int64(min(remaining, 400 * 86400) * 1000))) {
            connection.closeOnLoop(code: 1008, reason: "session expired; log in again")
        }
        requests.start()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        end()
    }

    func channelInactive(context: ChannelHandlerContext) {
        end()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        awaitingAnswer = false
        // RFC 6455 §5.1–5.5: a client masks every frame, sets no reserved bit (no extension
        // was negotiated), and sends control frames whole and short.
        guard frame.maskKey != nil, !frame.rsv1, !frame.rsv2, !frame.rsv3 else {
            return connection.closeOnLoop(code: 1002, reason: "protocol error")
        }
        switch frame.opcode {
        case .text, .binary:
            guard fragments == nil else { return connection.closeOnLoop(code: 1002, reason: "a new message began before the last one ended") }
            if frame.fin {
                deliver(frame.unmaskedData, text: frame.opcode == .text)
            } else {
                fragments = (frame.unmaskedData, frame.opcode == .text)
            }
        case .continuation:
            guard var buffer = fragments?.buffer, let text = fragments?.text else {
                return connection.closeOnLoop(code: 1002, reason: "a continuation with no message")
            }
            var data = frame.unmaskedData
            guard buffer.readableBytes + data.readableBytes <= StreamGateway.maxInboundMessageBytes else {
                fragments = nil
                return connection.closeOnLoop(code: 1009, reason: "message too large")
            }
            buffer.writeBuffer(&data)
            if frame.fin {
                fragments = nil
                deliver(buffer, text: text)
            } else {
                fragments = (buffer, text)
            }
        case .ping:
            guard frame.fin, frame.length <= 125 else { return connection.closeOnLoop(code: 1002, reason: "protocol error") }
            guard !connection.isClosing else { return }
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .pong:
            break
        case .connectionClose:
            // The client is leaving: echo its status code (RFC 6455 §5.5.1), then close.
            var data = frame.unmaskedData
            let code = data.readInteger(as: UInt16.self) ?? 1000
            connection.closeOnLoop(code: code == 1005 || code == 1006 || code == 1015 ? 1000 : code, reason: "")
        default:
            connection.closeOnLoop(code: 1002, reason: "unknown opcode")
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            // The server is shutting down: clients reconnect (to another instance, or this one
            // once it is back) and catch up from their offsets.
            connection.closeOnLoop(code: 1001, reason: "server restarting; reconnect with your last offsets")
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // WebSocket protocol errors (an oversized frame: 1009) were answered by NIO's
        // protocol error handler before this; anything else (a reset) ends the socket.
        if !(error is NIOWebSocketError) { context.close(promise: nil) }
    }

    /// One heartbeat round: a socket that answered nothing since the last ping is gone.
    func heartbeatTick() {
        if awaitingAnswer {
            connection.closeOnLoop(code: 1001, reason: "no answer to ping")
        } else {
            awaitingAnswer = true
            connection.writeOnLoop(Self.ping)
        }
    }

    private func deliver(_ message: ByteBuffer, text: Bool) {
        // A message that is not text gets a `bad_message` error frame, not silence.
        guard requests.submit(text ? message : nil) else {
            return connection.closeOnLoop(code: 1008, reason: "too many requests at once")
        }
    }

    private func end() {
        guard !ended else { return }
        ended = true
        heartbeat?.leave(self)
        expiry?.cancel()
        requests.finish()
        if connection.droppedAsSlow {
            gateway.logger.info("stream client too slow; disconnected", metadata: ["account_id": "\(grant.actor.accountID)"])
        }
    }
}

/// One ping timer per event loop for all of its stream sockets, instead of one per socket.
/// Runs only while the loop has sockets.
final class LoopHeartbeat: @unchecked Sendable {
    // @unchecked: `sockets` and `timer` are touched on `loop` only.
    let loop: any EventLoop
    let period: TimeAmount
    private var sockets: [ObjectIdentifier: StreamSocketHandler] = [:]
    private var timer: RepeatedTask?

    init(loop: any EventLoop, period: TimeAmount) {
        self.loop = loop
        self.period = period
    }

    func join(_ socket: StreamSocketHandler) {
        loop.preconditionInEventLoop()
        sockets[ObjectIdentifier(socket)] = socket
        if timer == nil {
            timer = loop.scheduleRepeatedTask(initialDelay: period, delay: period) { [self] _ in tick() }
        }
    }

    func leave(_ socket: StreamSocketHandler) {
        sockets[ObjectIdentifier(socket)] = nil
        if sockets.isEmpty {
            timer?.cancel()
            timer = nil
        }
    }

    private func tick() {
        // A copy: closing a socket during the round makes it leave.
        let sockets = self.sockets.values
        for socket in sockets { socket.heartbeatTick() }
        for socket in sockets { socket.connection.flushOnLoop() }
    }
}

/// The client's requests on one socket, handled in arrival order and one at a time (a
/// subscribe asks the database), off the event loop. A task runs only while requests wait.
final class StreamRequests: Sendable {
    enum Item {
        /// A text message, or nil for one that was not text.
        case message(ByteBuffer?)
        case end
    }

    private struct State {
        var waiting: [Item] = []
        var running = false
        var ended = false
    }

    /// Requests that may wait behind the one being handled; more closes the socket (1008).
    static let maxWaiting = 32

    private let subscriber: StreamSubscriber
    private let hub: StreamHub
    private let state = NIOLockedValueBox(State())

    init(subscriber: StreamSubscriber, hub: StreamHub) {
        self.subscriber = subscriber
        self.hub = hub
    }

    /// Registers the client with the hub and sends `ready`; requests that arrive meanwhile
    /// wait for it.
    func start() {
        state.withLockedValue { $0.running = true }
        let (subscriber, hub) = (self.subscriber, self.hub)
        Task {
            await hub.register(subscriber)
            subscriber.send(#"{"type":"ready","accountId":\#(subscriber.actor.accountID)}"#)
            await drain()
        }
    }

    /// False when too many requests already wait.
    func submit(_ message: ByteBuffer?) -> Bool {
        let startWorker: Bool? = state.withLockedValue { state in
            guard !state.ended else { return false }
            guard state.waiting.count < Self.maxWaiting else { return nil }
            state.waiting.append(.message(message))
            guard !state.running else { return false }
            state.running = true
            return true
        }
        guard let startWorker else { return false }
        if startWorker { Task { await drain() } }
        return true
    }

    /// The socket closed: requests not yet handled are dropped, and the client leaves the
    /// hub after the one being handled (so no subscription outlives the socket).
    func finish() {
        let startWorker = state.withLockedValue { state in
            guard !state.ended else { return false }
            state.ended = true
            state.waiting = [.end]
            guard !state.running else { return false }
            state.running = true
            return true
        }
        if startWorker { Task { await drain() } }
    }

    private func drain() async {
        while true {
            let next: Item? = state.withLockedValue { state in
                guard !state.waiting.isEmpty else {
                    state.running = false
                    return nil
                }
                return state.waiting.removeFirst()
            }
            switch next {
            case nil: return
            case .message(let text): await handle(text)
            case .end: await hub.remove(subscriber)
            }
        }
    }

    struct ClientMessage: Decodable {
        let type: String
        let stream: String?
        let after: Int64?
    }

    private func handle(_ text: ByteBuffer?) async {
        guard let text, let request = try? JSONDecoder().decode(ClientMessage.self, from: Data(text.readableBytesView)) else {
            subscriber.sendError("bad_message", "send JSON text messages such as {\"type\":\"subscribe\",\"stream\":\"group:1\"}")
            return
        }
        switch request.type {
        case "subscribe", "unsubscribe":
            guard let name = request.stream, let stream = StreamName(name) else {
                subscriber.sendError("bad_stream", "stream must be group:<id>, thread:<id>, user:<id>, org:<id>, class:<id>, notice:<id> or alert:<id>")
                return
            }
            if request.type == "unsubscribe" {
                await hub.unsubscribe(subscriber, from: stream)
                subscriber.send(#"{"type":"unsubscribed","stream":"\#(stream)"}"#)
                return
            }
            if let after = request.after, after < 0 {
                subscriber.sendError("bad_offset", "after must be 0 or more", stream: stream.description)
                return
            }
            // On success the hub itself sends `subscribed` (and `gap`), in order with the events.
            switch await hub.subscribe(subscriber, to: stream, after: request.after) {
            case .subscribed, .gap:
                break
            case .denied(let reason):
                subscriber.sendError("forbidden", reason, japanese: "このストリームを購読する権限がありません。", stream: stream.description)
            case .unavailable:
                subscriber.sendError("unavailable", "the server could not check this subscription just now; subscribe again", stream: stream.description)
            case .notFound:
                subscriber.sendError("not_found", "no such stream", stream: stream.description)
            case .tooManySubscriptions:
                subscriber.sendError("too_many_subscriptions", "at most \(hub.maxSubscriptionsPerClient) streams per connection",
                                     japanese: "1つの接続で購読できるのは \(hub.maxSubscriptionsPerClient) ストリームまでです。", stream: stream.description)
            }
        default:
            subscriber.sendError("bad_message", "type must be subscribe or unsubscribe", japanese: "type には subscribe か unsubscribe を指定してください。")
        }
    }
}
