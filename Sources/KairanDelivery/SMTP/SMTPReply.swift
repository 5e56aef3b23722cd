import NIOCore

/// One SMTP reply: a three-digit code and its text lines (RFC 5321 §4.2).
public struct SMTPReply: Sendable, Equatable, CustomStringConvertible {
    public let code: Int
    public let lines: [String]

    public init(code: Int, lines: [String]) {
        self.code = code
        self.lines = lines
    }

    public var isPositive: Bool { (200..<400).contains(code) }
    public var isTemporary: Bool { (400..<500).contains(code) }
    public var isPermanent: Bool { code >= 500 }

    /// Code and first line, bounded: what the delivery record keeps. Server text never
    /// carries the message body, only the server's words about it.
    public var description: String { "\(code) \(lines.first ?? "")".trimmingSuffixWhitespace(limit: 300) }
}

enum SMTPProtocolError: Error, CustomStringConvertible {
    case lineTooLong
    case tooManyLines
    case malformedReply
    case connectionClosed
    case timeout
    case unexpectedReply(stage: String, SMTPReply)
    case missingExtension(String)
    case tooManyUnsolicitedReplies

    var description: String {
        switch self {
        case .lineTooLong: "SMTP reply line longer than 2048 bytes"
        case .tooManyLines: "SMTP reply with more than 200 lines"
        case .malformedReply: "malformed SMTP reply"
        case .connectionClosed: "SMTP connection closed"
        case .timeout: "SMTP server did not answer in time"
        case .unexpectedReply(let stage, let reply): "unexpected reply to \(stage): \(reply)"
        case .missingExtension(let name): "the relay does not offer \(name)"
        case .tooManyUnsolicitedReplies: "SMTP server sent replies nobody asked for"
        }
    }
}

/// Splits the byte stream into replies. Bounded: a hostile or broken server cannot make us
/// buffer without limit.
struct SMTPReplyDecoder: ByteToMessageDecoder {
    typealias InboundOut = SMTPReply
    static let maxLineLength = 2048
    static let maxLines = 200

    private var lines: [String] = []

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let lf = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > Self.maxLineLength { throw SMTPProtocolError.lineTooLong }
            return .needMoreData
        }
        let length = lf - buffer.readerIndex
        guard length <= Self.maxLineLength else { throw SMTPProtocolError.lineTooLong }
        var line = buffer.readString(length: length) ?? ""
        buffer.moveReaderIndex(forwardBy: 1)
        if line.hasSuffix("\r") { line.removeLast() }
        let bytes = Array(line.utf8)
        guard bytes.count >= 3, bytes[0...2].allSatisfy({ $0 >= 48 && $0 <= 57 }) else { throw SMTPProtocolError.malformedReply }
        let code = Int(bytes[0] - 48) * 100 + Int(bytes[1] - 48) * 10 + Int(bytes[2] - 48)
        let text = bytes.count > 4 ? String(decoding: bytes[4...], as: UTF8.self) : ""
        lines.append(text)
        guard lines.count <= Self.maxLines else { throw SMTPProtocolError.tooManyLines }
        if bytes.count > 3 && bytes[3] == UInt8(ascii: "-") { return .continue }
        let reply = SMTPReply(code: code, lines: lines)
        lines = []
        context.fireChannelRead(wrapInboundOut(reply))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue, buffer.readableBytes > 0 {}
        return .needMoreData
    }
}

/// Hands replies to whoever asked for them, in order: the client registers one promise per
/// command it pipelines, before writing.
final class SMTPClientHandler: ChannelInboundHandler {
    typealias InboundIn = SMTPReply

    private var waiting = CircularBuffer<EventLoopPromise<SMTPReply>>()
    /// Replies that came before anyone asked: only the greeting may.
    private var unclaimed = CircularBuffer<SMTPReply>()
    private var anyExpected = false
    private var failure: (any Error)?

    func expect(_ promise: EventLoopPromise<SMTPReply>) {
        anyExpected = true
        if let failure {
            promise.fail(failure)
        } else if let reply = unclaimed.popFirst() {
            promise.succeed(reply)
        } else {
            waiting.append(promise)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = unwrapInboundIn(data)
        if let promise = waiting.popFirst() {
            promise.succeed(reply)
        } else if !anyExpected && unclaimed.isEmpty {
            unclaimed.append(reply)
        } else {
            // A reply nobody asked for (an injected one, or an idle session's 421) would
            // shift every later reply onto the wrong command: the session is done.
            fail(SMTPProtocolError.tooManyUnsolicitedReplies)
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(SMTPProtocolError.connectionClosed)
        context.fireChannelInactive()
    }

    private func fail(_ error: any Error) {
        if failure == nil { failure = error }
        while let promise = waiting.popFirst() { promise.fail(error) }
    }
}

extension String {
    func trimmingSuffixWhitespace(limit: Int) -> String {
        var text = String(prefix(limit))
        while text.last?.isWhitespace == true { text.removeLast() }
        return text
    }
}
