import HTTPTypes
import Hummingbird
import HummingbirdCore
import KairanGateway
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// Every connection of the server: HTTP/1.1 handled by Hummingbird, and `GET /v1/stream`
/// upgraded to a WebSocket served by the stream gateway's NIO handlers.
///
/// Why not hummingbird-websocket's upgrade channel: it runs each socket as an async task
/// tree for the socket's whole life, which costs several times the memory of the socket
/// itself (see `StreamGateway`). Here the upgrade decision still runs through the router
/// (ticket middleware, authentication, the stream route's checks), and on success the
/// connection's task ends: the socket lives on as NIO handlers alone.
public struct StreamUpgradeChannel: HTTPChannelHandler {
    public enum UpgradeResult: Sendable {
        /// Upgraded: the gateway's handlers own the channel now.
        case stream
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// The router refused the upgrade: its answer is written, then the connection closes.
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, Refusal?)
    }

    /// The router's refusal, as the client should see it (status, headers, JSON body).
    public struct Refusal: Sendable {
        let head: HTTPResponse
        let body: ByteBuffer
    }

    public struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        public let channel: any Channel
    }

    public let responder: HTTPChannelHandler.Responder
    let upgradeResponder: @Sendable (Request, KairanRequestContext) async throws -> Response
    let gateway: StreamGateway?
    let http1: HTTP1Channel.Configuration

    public init<Upgrader: HTTPResponder>(
        responder: @escaping HTTPChannelHandler.Responder, upgradeResponder: Upgrader, gateway: StreamGateway?, http1: HTTP1Channel.Configuration
    ) where Upgrader.Context == KairanRequestContext {
        self.responder = Self.redirectingLateUpgrades(responder)
        self.upgradeResponder = { request, context in try await upgradeResponder.respond(to: request, context: context) }
        self.gateway = gateway
        self.http1 = http1
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let attempt = NIOLockedValueBox(UpgradeAttempt())
            let upgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                // Client messages are small requests; a larger frame closes with 1009.
                maxFrameSize: StreamGateway.maxInboundMessageBytes,
                shouldUpgrade: { channel, head in
                    attempt.withLockedValue { $0.tried = true }
                    return decide(head, channel: channel, logger: logger, attempt: attempt)
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        guard let gateway, let grant = attempt.withLockedValue({ $0.grant }) else {
                            preconditionFailure("upgraded without the stream route's grant")
                        }
                        // The HTTP guards have nothing left to guard on a WebSocket, and every
                        // frame written would pass through them.
                        let pipeline = channel.pipeline.syncOperations
                        for context in [try? pipeline.context(handlerType: HTTPParseErrorResponder.self),
                                        try? pipeline.context(handlerType: HTTPHeadGuard.self)].compactMap({ $0 }) {
                            pipeline.removeHandler(context: context, promise: nil)
                        }
                        try gateway.serve(channel, grant: grant)
                        return UpgradeResult.stream
                    }
                }
            )
            let configuration = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try channel.pipeline.syncOperations.addHandlers(http1.additionalChannelHandlers())
                        try channel.pipeline.syncOperations.addHandler(
                            HTTPConnectionStateHandler(idleTimeout: http1.idleTimeout.map { .init($0) }, logger: logger))
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        let (tried, refusal) = attempt.withLockedValue { ($0.tried, $0.refusal) }
                        return tried ? UpgradeResult.refused(asyncChannel, refusal) : UpgradeResult.notUpgraded(asyncChannel)
                    }
                }
            )
            var pipeline = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(upgradeConfiguration: configuration)
            pipeline.enablePipelining = false  // HTTP is pipelined by NIOAsyncChannel
            pipeline.enableErrorHandling = false  // Hummingbird and the HTTP guard answer errors
            pipeline.enableResponseHeaderValidation = false  // HTTPTypes validated them already
            pipeline.decoderConfiguration.maxHeaderFieldSize = http1.httpDecoder.maxHeaderFieldSize
            pipeline.decoderConfiguration.maxHeaderListSize = http1.httpDecoder.maxHeaderListSize
            pipeline.decoderConfiguration.maxHeaderFieldCount = http1.httpDecoder.maxHeaderFieldCount
            let negotiated = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: pipeline)
            return Value(upgradeResult: negotiated, channel: channel)
        }
    }

    public func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgradeResult.get() {
            case .stream:
                // The socket is the gateway's; this connection's task is done.
                return
            case .notUpgraded(let http1):
                await handleHTTP(asyncChannel: http1, logger: logger)
            case .refused(let http1, let refusal):
                await writeRefusal(refusal, on: http1, logger: logger)
            }
        } catch let error as ChannelError where error == .inputClosed {
            logger.trace("connection closed before its first request")
        } catch {
            logger.debug("connection ended before its first request", metadata: ["error.type": "\(type(of: error))"])
        }
    }

    // MARK: - The upgrade decision

    private struct UpgradeAttempt {
        var tried = false
        var grant: StreamSocketGrant?
        var refusal: Refusal?
    }

    /// Runs the request through the router; the stream route answers 200 and leaves a
    /// grant when the socket may open. Any other answer is kept to be written as it is.
    private func decide(
        _ head: HTTPRequestHead, channel: any Channel, logger: Logger, attempt: NIOLockedValueBox<UpgradeAttempt>
    ) -> EventLoopFuture<HTTPHeaders?> {
        // Only the stream opens as a WebSocket; other URLs are not run through the router
        // for an upgrade request (a handler's side effects must not happen on a request
        // that is refused anyway).
        let path = head.uri.split(separator: "?", maxSplits: 1).first ?? ""
        guard gateway != nil, path == "/v1/stream" else { return channel.eventLoop.makeSucceededFuture(nil) }
        let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
        promise.completeWithTask {
            let request = Request(head: try HTTPRequest(head, secure: false, splitCookie: false), body: .init(buffer: ByteBuffer()))
            var logger = logger
            logger[metadataKey: "hb.request.id"] = .stringConvertible(RequestID())
            var context = KairanRequestContext(source: .init(channel: channel, logger: logger))
            let slot = StreamUpgradeSlot()
            context.streamUpgrade = slot
            let response = try await upgradeResponder(request, context)
            if response.status == .ok, let grant = slot.grant {
                attempt.withLockedValue { $0.grant = grant }
                return HTTPHeaders()
            }
            if response.status.code >= 400 {
                let refusal = try await Refusal(response)
                attempt.withLockedValue { $0.refusal = refusal }
            }
            return nil
        }
        return promise.futureResult
    }

    private func writeRefusal(_ refusal: Refusal?, on channel: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, logger: Logger) async {
        let refusal = refusal ?? Refusal(status: .badRequest, code: "bad_request", message: "only /v1/stream opens as a WebSocket")
        do {
            try await channel.executeThenClose { _, outbound in
                try await outbound.write(contentsOf: [.head(refusal.head), .body(refusal.body), .end(nil)])
            }
        } catch {
            logger.trace("could not write the upgrade's refusal", metadata: ["error.type": "\(type(of: error))"])
        }
    }

    /// An `Upgrade: websocket` on a connection's later request cannot be upgraded by NIO's
    /// handler (it only looks at the first): the client is sent to the same URL again
    /// (307) on a new connection, where the upgrade runs.
    static func redirectingLateUpgrades(_ responder: @escaping HTTPChannelHandler.Responder) -> HTTPChannelHandler.Responder {
        struct RedirectedToNewConnection: Error {}
        return { request, responseWriter, channel in
            guard request.headers[.upgrade]?.lowercased() == "websocket" else {
                return try await responder(request, responseWriter, channel)
            }
            var location = request.uri.path
            if let query = request.uri.query { location += "?\(query)" }
            try await responseWriter.writeResponse(HTTPResponse(status: .temporaryRedirect, headerFields: [.connection: "close", .location: location]))
            throw RedirectedToNewConnection()
        }
    }
}

extension StreamUpgradeChannel.Refusal {
    init(_ response: Response) async throws {
        /// Collects a (small: an error's JSON) response body.
        final class Collected: @unchecked Sendable {
            // @unchecked: written by one writer, read after it finished.
            var buffer = ByteBuffer()
        }
        struct CollectingWriter: ResponseBodyWriter {
            let into: Collected
            mutating func write(_ buffer: ByteBuffer) async throws {
                var buffer = buffer
                guard into.buffer.readableBytes + buffer.readableBytes <= 64 * 1024 else { return }
                into.buffer.writeBuffer(&buffer)
            }
            consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
        }
        let collected = Collected()
        try await response.body.write(CollectingWriter(into: collected))
        var fields = response.headers
        // A refusal ends the connection: the client opens a new one to try again.
        fields[.connection] = "close"
        fields[.contentLength] = String(collected.buffer.readableBytes)
        self.init(head: HTTPResponse(status: response.status, headerFields: fields), body: collected.buffer)
    }

    init(status: HTTPResponse.Status, code: String, message: String) {
        let body = ByteBuffer(string: #"{"error":{"code":"\#(code)","message":"\#(message)"}}"#)
        self.init(head: HTTPResponse(status: status, headerFields: [
            .contentType: "application/json; charset=utf-8", .contentLength: String(body.readableBytes), .connection: "close",
        ]), body: body)
    }
}
