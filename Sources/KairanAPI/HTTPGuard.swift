import Foundation
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// Bounds on what a client may send before its request is answered.
public struct HTTPGuardLimits: Sendable {
    /// Longest request line (method, target, version); longer is 414.
    public var maxRequestLineBytes = 16 * 1024
    /// Largest request head (request line and headers); larger is 431.
    public var maxHeadBytes = 32 * 1024
    /// How long a new connection may take to send its first request head (slowloris);
    /// later requests on a kept-alive connection are bounded by the idle timeout.
    public var headTimeout: TimeAmount = .seconds(10)
    /// How long a connection we have finished with may stay half-open waiting for the
    /// client to close its side.
    public var lingerAfterClose: TimeAmount = .seconds(2)
    /// The longest a finished connection may take to send what is still queued for a
    /// client that reads slowly (or not at all).
    public var maxDrain: TimeAmount = .seconds(60)

    public init() {}
}

/// Wraps the HTTP + WebSocket child channel so that nothing a client sends can hold a
/// socket without an answer.
///
/// Without it, Hummingbird's upgrade-capable pipeline leaves a connection whose first
/// request does not parse (`GARBAGE`, `BREW /v1/me`, a 0xFF byte in the path, an 80 KB
/// request line) open and silent for good: the parser's error reaches no handler that
/// answers. Two handlers fix that:
/// - `HTTPHeadGuard`, first in the pipeline, sees the raw bytes: it bounds the first
///   request's line, head and arrival time, writes the error responses itself (as raw
///   bytes, below the HTTP codec, whose state after a parse error is not to be trusted), and
///   closes any connection we are done with after a short linger.
/// - `HTTPParseErrorResponder`, after the parser, turns the parser's errors on any request
///   of the connection into the right status (400, 405, 431) through the guard.
public struct GuardedHTTPChannel<Inner: ServerChildChannel>: ServerChildChannel {
    public typealias Value = Inner.Value
    let inner: Inner
    let limits: HTTPGuardLimits

    public init(_ inner: Inner, limits: HTTPGuardLimits = .init()) {
        self.inner = inner
        self.limits = limits
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let headGuard = HTTPHeadGuard(limits: limits, logger: logger)
        do {
            try channel.pipeline.syncOperations.addHandler(headGuard, position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        let loopBound = NIOLoopBound(headGuard, eventLoop: channel.eventLoop)
        return inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            // After the upgrade handler: it sees the HTTP decoder's errors, and stays in
            // place (as a pass-through) whatever the upgrade adds after it.
            try channel.pipeline.syncOperations.addHandler(HTTPParseErrorResponder(headGuard: loopBound.value))
            return value
        }
    }

    public func handle(value: Value, logger: Logger) async {
        // This logger only reports how a connection's upgrade negotiation ended. When the
        // guard refuses junk and closes, that negotiation "fails" and would be logged as an
        // error for every piece of junk; the guard logs the refusal itself. Requests log
        // through the application's logger, untouched.
        var quiet = logger
        quiet.logLevel = .critical
        await inner.handle(value: value, logger: quiet)
    }
}

/// A refusal written by the guard: status line, JSON error body, `Connection: close`.
struct HTTPRefusal: Equatable {
    let status: Int
    let reason: String
    let code: String
    let message: String

    static let badRequest = HTTPRefusal(status: 400, reason: "Bad Request", code: "bad_request", message: "the request could not be parsed as HTTP/1.1")
    static let unknownMethod = HTTPRefusal(status: 405, reason: "Method Not Allowed", code: "method_not_allowed", message: "unknown HTTP method")
    static let requestTimeout = HTTPRefusal(status: 408, reason: "Request Timeout", code: "request_timeout", message: "the request head did not arrive in time")
    static let uriTooLong = HTTPRefusal(status: 414, reason: "URI Too Long", code: "uri_too_long", message: "the request line is too long")
    static let headersTooLarge = HTTPRefusal(status: 431, reason: "Request Header Fields Too Large", code: "headers_too_large",
                                             message: "the request headers are too large")

    /// The parser's errors as the client should hear them.
    init(_ error: HTTPParserError) {
        switch error {
        case .invalidMethod: self = .unknownMethod
        case .headerOverflow: self = .headersTooLarge
        default: self = .badRequest
        }
    }

    init(status: Int, reason: String, code: String, message: String) {
        self.status = status
        self.reason = reason
        self.code = code
        self.message = message
    }

    var bytes: ByteBuffer {
        let body = #"{"error":{"code":"\#(code)","message":"\#(message)"}}"#
        var buffer = ByteBuffer()
        buffer.writeString("HTTP/1.1 \(status) \(reason)\r\nContent-Type: application/json; charset=utf-8\r\n")
        if status == 405 { buffer.writeString("Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n") }
        buffer.writeString("Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
        return buffer
    }
}

/// First handler of every connection, on raw bytes. See `GuardedHTTPChannel`.
final class HTTPHeadGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum State {
        /// Counting the first request's head: bytes so far, whether its request line ended,
        /// and the last bytes seen (a CRLFCRLF may straddle two reads).
        case awaitingHead(bytes: Int, lineEnded: Bool, tail: [UInt8])
        /// The first head arrived: bytes go through untouched.
        case passing
        /// We answered and closed our side: what the client still sends is dropped.
        case refused
    }

    private let limits: HTTPGuardLimits
    private let logger: Logger
    private var state = State.awaitingHead(bytes: 0, lineEnded: false, tail: [])
    /// The first request line while it arrives, to tell an unknown method on a well-formed
    /// line (405) from a line that is no request at all (400); only the verdict is kept.
    private var firstLine: [UInt8] = []
    private var firstLineIsRequestShaped = false
    private var context: ChannelHandlerContext?
    private var headTimer: Scheduled<Void>?
    private var lingerTimer: Scheduled<Void>?

    init(limits: HTTPGuardLimits, logger: Logger) {
        self.limits = limits
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { startHeadTimer(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        headTimer?.cancel()
        lingerTimer?.cancel()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        startHeadTimer(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        headTimer?.cancel()
        lingerTimer?.cancel()
        context.fireChannelInactive()
    }

    private func startHeadTimer(context: ChannelHandlerContext) {
        guard headTimer == nil, case .awaitingHead = state else { return }
        headTimer = context.eventLoop.assumeIsolated().scheduleTask(in: limits.headTimeout) { [weak self] in
            guard let self, case .awaitingHead = self.state else { return }
            self.refuse(.requestTimeout)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .passing:
            context.fireChannelRead(data)
        case .refused:
            break
        case .awaitingHead(let bytes, let lineEnded, let tail):
            let buffer = unwrapInboundIn(data)
            let view = buffer.readableBytesView
            var lineEnded = lineEnded
            var window = tail
            var headEnd = false
            var counted = bytes
            for byte in view {
                counted += 1
                if !lineEnded {
                    if byte == UInt8(ascii: "\n") {
                        lineEnded = true
                        firstLineIsRequestShaped = Self.looksLikeRequestLine(firstLine)
                        firstLine = []
                    } else {
                        firstLine.append(byte)
                    }
                }
                if !lineEnded && counted > limits.maxRequestLineBytes {
                    refuse(.uriTooLong)
                    return
                }
                window.append(byte)
                if window.count > 4 { window.removeFirst(window.count - 4) }
                if window == [13, 10, 13, 10] || window.suffix(2) == [10, 10] {
                    headEnd = true
                    break
                }
            }
            if !headEnd && counted > limits.maxHeadBytes {
                refuse(.headersTooLarge)
                return
            }
            if headEnd {
                headTimer?.cancel()
                headTimer = nil
                state = .passing
            } else {
                state = .awaitingHead(bytes: counted, lineEnded: lineEnded, tail: window)
            }
            context.fireChannelRead(data)
        }
    }

    /// Whatever closes our side of the connection (Hummingbird after a `Connection: close`
    /// response, or after its own 400), the socket is gone soon after: a client that never
    /// closes its side cannot hold it.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .output else {
            context.close(mode: mode, promise: promise)
            return
        }
        let shut = context.eventLoop.makePromise(of: Void.self)
        shut.futureResult.cascade(to: promise)
        scheduleLinger(context: context, after: shut.futureResult)
        context.close(mode: .output, promise: shut)
    }

    /// Closes the socket `lingerAfterClose` after our side has been shut (NIO shuts it once
    /// every pending write is out, so a large response to a slow reader is not cut off), or
    /// at the latest `maxDrain` after the close was asked for.
    private func scheduleLinger(context: ChannelHandlerContext, after shut: EventLoopFuture<Void>) {
        guard lingerTimer == nil else { return }
        let channel = context.channel
        let linger = limits.lingerAfterClose
        let eventLoop = context.eventLoop
        lingerTimer = eventLoop.scheduleTask(in: limits.maxDrain) { channel.close(promise: nil) }
        shut.whenComplete { _ in
            eventLoop.scheduleTask(in: linger) { channel.close(promise: nil) }
        }
    }

    /// The parser's error as the client should hear it. An unknown method is 405 only on
    /// a first request whose line has a request's shape; the guard does not see later
    /// request lines, and 400 is true of them too.
    func refuse(_ error: HTTPParserError, firstRequest: Bool) {
        var refusal = HTTPRefusal(error)
        if refusal == .unknownMethod && !(firstRequest && firstLineIsRequestShaped) { refusal = .badRequest }
        refuse(refusal)
    }

    /// `TOKEN SP target SP HTTP/1.x` (with or without the CR).
    static func looksLikeRequestLine(_ line: [UInt8]) -> Bool {
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        return parts.count == 3 && !parts[0].isEmpty && !parts[1].isEmpty && parts[2].hasPrefix("HTTP/1.")
    }

    /// Answers with `refusal` and closes: the response, then our side of the connection,
    /// then after a short linger (so the client can read the answer rather than a reset) the
    /// whole socket. Called on the event loop.
    func refuse(_ refusal: HTTPRefusal) {
        guard let context else { return }
        if case .refused = state { return }
        state = .refused
        headTimer?.cancel()
        headTimer = nil
        logger.debug("malformed HTTP request refused", metadata: ["status": "\(refusal.status)"])
        context.writeAndFlush(wrapOutboundOut(refusal.bytes), promise: nil)
        let shut = context.eventLoop.makePromise(of: Void.self)
        scheduleLinger(context: context, after: shut.futureResult)
        context.close(mode: .output, promise: shut)
    }
}

/// After the HTTP decoder: its parse errors become the guard's refusals, for the first
/// request and every later one on the connection. A refusal waits for the responses to the
/// requests that parsed before the junk (pipelined on the same connection), so those are
/// answered first. It counts the requests still owed an answer, so it also closes a
/// connection whose client gave up on one (see `RequestDeadlineMiddleware`). Removes itself
/// when the connection becomes a WebSocket.
final class HTTPParseErrorResponder: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let headGuard: HTTPHeadGuard
    private var unanswered = 0
    private var parsedRequests = 0
    /// A request whose head arrived and whose end has not: a parse error now is inside its
    /// body, and Hummingbird answers that one itself (the handler reading the body sees it).
    private var readingRequest = false
    private var pendingError: HTTPParserError?

    init(headGuard: HTTPHeadGuard) {
        self.headGuard = headGuard
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            unanswered += 1
            parsedRequests += 1
            readingRequest = true
        case .end:
            readingRequest = false
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        unanswered = max(0, unanswered - 1)
        context.write(data, promise: promise)
        if unanswered == 0, let error = pendingError {
            pendingError = nil
            context.flush()
            headGuard.refuse(error, firstRequest: false)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? HTTPParserError else {
            if parsedRequests == 0 {
                // The upgrade itself failed (its handler reports and then passes on raw
                // bytes): nothing HTTP-shaped will come through here any more.
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            }
            context.fireErrorCaught(error)
            return
        }
        if readingRequest {
            context.fireErrorCaught(error)
        } else if unanswered == 0 {
            // Answered here; passing it on would only make Hummingbird write a second, bare 400.
            headGuard.refuse(error, firstRequest: parsedRequests == 0)
        } else {
            // Junk pipelined after requests still being answered: those answers go first.
            pendingError = error
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.upgradeComplete) = event as? HTTPServerUpgradeEvents {
            // Frames from here on: nothing for an HTTP parser's errors.
            context.fireUserInboundEventTriggered(event)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
        if case .some(.inputClosed) = event as? ChannelEvent, unanswered > 0 {
            // The client closed its side before its answer came: it has given up (no HTTP
            // client half-closes and then waits; nginx calls this 499). Closing the
            // connection is what tells the request's deadline watcher to stop its work.
            context.close(promise: nil)
        }
    }
}
