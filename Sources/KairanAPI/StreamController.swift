import Foundation
import Hummingbird
import HummingbirdWebSocket
import KairanCore
import KairanGateway
import KairanServices
import KairanStore
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import ServiceLifecycle

/// The live stream: `GET /v1/stream` upgraded to a WebSocket.
///
/// Authenticated at the handshake (bearer header, or `?ticket=` from
/// `POST /v1/stream/tickets` for browsers), `Origin` checked against the allow-list, and
/// refused with a JSON error before any upgrade. Then a small JSON protocol:
///
///     → {"type":"subscribe","stream":"thread:7","after":41}   (after: last offset seen; optional)
///     ← {"type":"event","stream":"thread:7","offset":42,"kind":"post.created","data":{…}}   (replayed, then live)
///     ← {"type":"subscribed","stream":"thread:7","offset":42}
///     ← {"type":"gap","stream":"thread:7","offset":97}        (missed events are gone: refetch over REST)
///     → {"type":"unsubscribe","stream":"thread:7"}
///     ← {"type":"error","code":"forbidden","message":"…","stream":"group:3"}   (the socket stays open)
///     ← {"type":"revoked","stream":"group:3"}                 (membership ended)
struct StreamController {
    let dependencies: APIDependencies

    /// Largest message a client may send; larger closes the socket with 1009.
    static let maxInboundMessageBytes = 4096

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.post("/v1/stream/tickets", use: createTicket)
        guard let hub = dependencies.streamHub else { return }
        routes.group()
            .add(middleware: StreamTicketMiddleware(dependencies: dependencies))
            .ws("/v1/stream", shouldUpgrade: shouldUpgrade) { inbound, outbound, context in
                try await Self.serve(inbound: inbound, outbound: outbound, context: context, hub: hub,
                                     queueLimitBytes: dependencies.streamQueueLimitBytes, now: dependencies.clock.now())
            }
    }

    struct Ticket: ResponseEncodable {
        let ticket: String
        let expiresAt: Date
    }

    @Sendable func createTicket(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<Ticket> {
        let actor = try context.requireActor()
        guard let session = context.session else { throw APIError.unauthenticated }
        let (ticket, expiresAt) = try await dependencies.services.sessions.issueStreamTicket(actor, session: session.sessionID, logger: context.logger)
        return EditedResponse(status: .created, response: Ticket(ticket: ticket, expiresAt: expiresAt))
    }

    @Sendable func shouldUpgrade(_ request: Request, context: KairanRequestContext) async throws -> RouterShouldUpgrade {
        guard Self.originAllowed(request, allowList: dependencies.allowedOrigins) else {
            throw APIError(.forbidden, code: "origin_not_allowed", message: "this origin may not open the stream")
        }
        _ = try context.requireActor()
        guard request.headers[.upgrade]?.lowercased() == "websocket" else {
            throw APIError(.upgradeRequired, code: "upgrade_required", message: "open this URL with a WebSocket client")
        }
        return .upgrade([:])
    }

    /// Cross-site WebSocket hijacking guard. A browser always sends the page's origin
    /// (http or https); pages from the allow-list and from this server itself may connect.
    /// Native clients send no Origin, or their own `ws://` URL, which no browser page can.
    static func originAllowed(_ request: Request, allowList: Set<String>) -> Bool {
        let host = request.head.authority ?? ""
        for origin in request.headers[values: .origin].map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if allowList.contains(origin) || origin.hasPrefix("ws://") || origin.hasPrefix("wss://") { continue }
            if !host.isEmpty && (origin == "http://\(host)" || origin == "https://\(host)") { continue }
            return false
        }
        return true
    }

    // MARK: - One connection

    static func serve(
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, context: WebSocketRouterContext<KairanRequestContext>,
        hub: StreamHub, queueLimitBytes: Int, now: Date
    ) async throws {
        guard let session = context.requestContext.session else {
            try await outbound.close(.policyViolation, reason: "not authenticated")
            return
        }
        // Frames go straight to the channel on its event loop (see `broadcast`); this task
        // only reads the client's requests. No writer task per socket.
        let connection = WebSocketStreamConnection(channel: context.requestContext.channel, limitBytes: queueLimitBytes)
        let subscriber = StreamSubscriber(actor: session.actor, sessionID: session.sessionID, connection: connection,
                                          language: MessageLanguage.negotiate(context.request.headers[.acceptLanguage]))
        await hub.register(subscriber)
        // The login ends by itself at its expiry: so does the socket (a logout closes it
        // through the hub, on every instance).
        let remaining = max(0, session.expiresAt.timeIntervalSince(now))
        let expiry = connection.eventLoop.scheduleTask(in: .milliseconds(Int64(min(remaining, 400 * 86400) * 1000))) {
            connection.closeOnLoop(code: 1008, reason: "session expired; log in again")
        }
        defer { expiry.cancel() }
        subscriber.send(#"{"type":"ready","accountId":\#(session.actor.accountID)}"#)
        do {
            // A server shutting down closes its streams; clients reconnect and catch up.
            try await cancelWhenGracefulShutdown {
                for try await message in inbound.messages(maxSize: maxInboundMessageBytes) {
                    await handle(message, subscriber: subscriber, hub: hub)
                }
            }
        } catch is CancellationError {
            await hub.remove(subscriber)
            // Best effort while shutting down: a socket that is already gone needs no close frame.
            try? await outbound.close(.goingAway, reason: "server restarting; reconnect with your last offsets")
            return
        }
        await hub.remove(subscriber)
        if connection.droppedAsSlow {
            context.logger.info("stream client too slow; disconnected", metadata: ["account_id": "\(session.actor.accountID)"])
        }
    }

    struct ClientMessage: Decodable {
        let type: String
        let stream: String?
        let after: Int64?
    }

    static func handle(_ message: WebSocketMessage, subscriber: StreamSubscriber, hub: StreamHub) async {
        // A message that does not decode gets a `bad_message` error frame (below), not silence.
        guard case .text(let text) = message,
              let request = try? JSONDecoder().decode(ClientMessage.self, from: Data(text.utf8)) else {
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

/// Spends a `?ticket=` on the stream route, for browsers that cannot send headers there.
struct StreamTicketMiddleware: RouterMiddleware {
    typealias Context = KairanRequestContext
    let dependencies: APIDependencies

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard context.session == nil, let text = request.uri.queryParameters["ticket"] else {
            return try await next(request, context)
        }
        guard text.count <= 100 else { throw APIError(.unauthorized, code: "invalid_ticket", message: "the ticket is malformed") }
        guard let session = try await dependencies.services.sessions.spendStreamTicket(String(text), logger: context.logger) else {
            throw APIError(.unauthorized, code: "invalid_ticket", message: "the ticket is unknown, used or expired; ask for a new one")
        }
        var context = context
        context.session = AuthenticatedSession(sessionID: session.id, actor: Actor(accountID: session.accountID, roles: session.roles),
                                               expiresAt: session.expiresAt)
        return try await next(request, context)
    }
}

/// A WebSocket as the hub writes to it. Frames are encoded once per broadcast and written
/// below NIO's frame encoder (server frames are unmasked, so every socket gets the same
/// bytes). The socket's own backpressure decides: a client with more than `limitBytes`
/// waiting in its outbound buffer is closed with 1013, so a slow reader never grows the
/// server's memory or delays anyone.
final class WebSocketStreamConnection: StreamConnection, @unchecked Sendable {
    // @unchecked: `encoderContext` and `dropped` are touched only on the channel's event loop.
    let channel: any Channel
    let limitBytes: Int
    private var encoderContext: ChannelHandlerContext?
    private var dropped = false
    private let droppedFlag = NIOLockedValueBox(false)

    init(channel: any Channel, limitBytes: Int) {
        self.channel = channel
        self.limitBytes = limitBytes
    }

    var eventLoop: any EventLoop { channel.eventLoop }
    var droppedAsSlow: Bool { droppedFlag.withLockedValue { $0 } }

    func encode(_ text: ByteBuffer) -> ByteBuffer {
        let length = text.readableBytes
        var frame = ByteBufferAllocator().buffer(capacity: length + 10)
        frame.writeInteger(UInt8(0x81))  // FIN, text
        if length < 126 {
            frame.writeInteger(UInt8(length))
        } else if length <= Int(UInt16.max) {
            frame.writeInteger(UInt8(126))
            frame.writeInteger(UInt16(length))
        } else {
            frame.writeInteger(UInt8(127))
            frame.writeInteger(UInt64(length))
        }
        var payload = text
        frame.writeBuffer(&payload)
        return frame
    }

    func writeOnLoop(_ encoded: ByteBuffer) {
        guard !dropped else { return }
        // `isWritable` is a cheap flag (false past NIO's high watermark); only then is the
        // exact backlog looked up.
        // The option is unreadable only on a closed channel, which needs no dropping.
        if !channel.isWritable, let buffered = try? channel.syncOptions?.getOption(.bufferedWritableBytes), buffered > limitBytes {
            dropSlowClient()
            return
        }
        guard let encoder = encoderContextOnLoop() else { return }
        encoder.write(NIOAny(encoded), promise: nil)
    }

    /// Stops writing to a client that fell too far behind: a close frame (1013, try again
    /// later) goes after what is already queued, for a client that catches up; if it has
    /// not drained within a few seconds the connection is dropped. Either way nothing more
    /// is queued for it.
    private static let slowClientsDropped = Counter(label: "kairan_ws_slow_clients_dropped_total")

    private func dropSlowClient() {
        dropped = true
        droppedFlag.withLockedValue { $0 = true }
        Self.slowClientsDropped.increment()
        if let encoder = encoderContextOnLoop() {
            var close = ByteBuffer()
            close.writeInteger(UInt8(0x88))  // FIN, close
            let reason = "client too slow; reconnect with your last offsets"
            close.writeInteger(UInt8(2 + reason.utf8.count))
            close.writeInteger(UInt16(1013))
            close.writeString(reason)
            encoder.writeAndFlush(NIOAny(close), promise: nil)
        }
        let channel = self.channel
        channel.eventLoop.scheduleTask(in: .seconds(5)) { channel.close(promise: nil) }
    }

    func closeOnLoop(code: UInt16, reason: String) {
        guard !dropped else { return }
        dropped = true
        let channel = self.channel
        guard let encoder = encoderContextOnLoop() else {
            channel.close(promise: nil)
            return
        }
        var close = ByteBuffer()
        close.writeInteger(UInt8(0x88))  // FIN, close
        close.writeInteger(UInt8(2 + reason.utf8.count))
        close.writeInteger(code)
        close.writeString(reason)
        // The client gets the close frame (after what was queued before it), then the TCP
        // close: a client that ignores the frame cannot keep the socket, nor can one that
        // stopped reading (the frame never leaves; the socket goes after 5 s).
        encoder.writeAndFlush(NIOAny(close)).whenComplete { _ in channel.close(promise: nil) }
        channel.eventLoop.scheduleTask(in: .seconds(5)) { channel.close(promise: nil) }
    }

    private func encoderContextOnLoop() -> ChannelHandlerContext? {
        if encoderContext == nil {
            // Nil once the pipeline is no longer a WebSocket one (closing): nothing to write to.
            encoderContext = try? channel.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self)
        }
        return encoderContext
    }

    func flushOnLoop() {
        if !dropped { encoderContext?.flush() }
    }
}
