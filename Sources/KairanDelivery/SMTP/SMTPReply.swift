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

enum SMTPProtocolError: Error, Equatable, CustomStringConvertible {
    case lineTooLong
    case tooManyLines
    case malformedReply
    case connectionClosed
    case timeout
    case unexpectedReply(stage: String, SMTPReply)
    case missingExtension(String)
    case tooManyUnsolicitedReplies
    /// A transaction asked of a session that was not idle.
    case sessionBusy
    /// The connection failed underneath the protocol (TLS, a socket error): its kind only.
    case connectionFailed(String)

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
        case .sessionBusy: "SMTP session asked for a transaction while busy"
        case .connectionFailed(let kind): "SMTP connection failed (\(kind))"
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

extension String {
    func trimmingSuffixWhitespace(limit: Int) -> String {
        var text = String(prefix(limit))
        while text.last?.isWhitespace == true { text.removeLast() }
        return text
    }
}
