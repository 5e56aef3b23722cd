import Foundation
import KairanCore
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// What the relay said it supports in its EHLO reply.
struct SMTPCapabilities: Sendable, Equatable {
    var pipelining = false
    var eightBitMIME = false
    var startTLS = false
    var authMechanisms: Set<String> = []
    var maxSize: Int?

    init() {}

    init(ehlo reply: SMTPReply) {
        for line in reply.lines.dropFirst() {
            let words = line.uppercased().split(separator: " ")
            guard let keyword = words.first else { continue }
            switch keyword {
            case "PIPELINING": pipelining = true
            case "8BITMIME": eightBitMIME = true
            case "STARTTLS": startTLS = true
            case "AUTH": authMechanisms.formUnion(words.dropFirst().map(String.init))
            case "SIZE": maxSize = words.count > 1 ? Int(words[1]) : nil
            default: continue
            }
        }
    }
}

/// How one message went, in the relay's words.
public enum MailSendResult: Sendable, Equatable {
    case accepted(String)
    case temporary(code: Int, String)
    case permanent(code: Int, String)
    /// A permanent refusal of the recipient itself at RCPT (user unknown and the like): the
    /// only synchronous refusal that says something about the address. A 5xx at MAIL or
    /// DATA is about the sender, the relay or the message, and must not count against
    /// every resident's address.
    case recipientRefused(code: Int, String)
}

/// One SMTP session with the relay. The protocol is `SMTPClientStateMachine`, run on the
/// channel's event loop by `SMTPClientHandler`; this is the async face the pool hands out.
final class SMTPConnection: Sendable {
    let channel: any Channel
    let capabilities: SMTPCapabilities

    private init(channel: any Channel, capabilities: SMTPCapabilities) {
        self.channel = channel
        self.capabilities = capabilities
    }

    var isActive: Bool { channel.isActive }

    /// Connects and runs the greeting, EHLO, STARTTLS and AUTH as configured.
    static func open(_ configuration: SMTPRelayConfiguration, tlsContext: NIOSSLContext?, group: any EventLoopGroup) async throws -> SMTPConnection {
        let implicitTLS = configuration.security == .implicitTLS
        let host = configuration.host
        // SNI takes names only; a relay given as an IP address is verified against its IP SAN.
        let serverName: String? = host.contains(":") || host.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : host
        let machine = SMTPClientStateMachine.Configuration(
            heloName: configuration.heloName, requireStartTLS: configuration.security == .startTLS,
            credentials: configuration.username.flatMap { user in configuration.password.map { (user, $0) } })
        let eventLoop = group.next()
        let ready = eventLoop.makePromise(of: SMTPCapabilities.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(configuration.connectTimeout)
                .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if implicitTLS, let tlsContext {
                            try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tlsContext, serverHostname: serverName))
                        }
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPReplyDecoder()))
                        try channel.pipeline.syncOperations.addHandler(SMTPClientHandler(
                            configuration: machine, tls: tlsContext.map { .init(context: $0, serverName: serverName) },
                            replyTimeout: configuration.commandTimeout, ready: ready))
                    }
                }
                .connect(host: configuration.host, port: configuration.port)
                .get()
        } catch {
            ready.fail(error)
            throw error
        }
        do {
            return SMTPConnection(channel: channel, capabilities: try await ready.futureResult.get())
        } catch {
            // The session failed to start; closing it is tidying up, and the error that
            // matters is the one thrown.
            try? await channel.close()
            throw error
        }
    }

    /// The path RCPT TO names. Legacy carrier local parts (`taro..yamada`) are not
    /// dot-atoms, so they go as a quoted string; the address bytes themselves stay as given.
    static func path(_ address: EmailAddress) -> String {
        address.needsQuotedLocalPart ? "<\"\(address.localPart)\"@\(address.domain)>" : "<\(address.raw)>"
    }

    /// Starts one transaction: MAIL, RCPT, DATA, the message. `message` is the rendered
    /// message before dot-stuffing. A second may be started before the first's outcome (it
    /// is pipelined behind it); the future fails only when the session itself broke.
    func start(reversePath: String, recipient: EmailAddress, message: [UInt8], eightBit: Bool) -> EventLoopFuture<MailSendResult> {
        let transaction = SMTPClientStateMachine.Transaction(
            reversePath: reversePath, recipientPath: Self.path(recipient), size: message.count, eightBit: eightBit,
            data: Self.dotStuffed(message, allocator: channel.allocator))
        let result = channel.eventLoop.makePromise(of: MailSendResult.self)
        // A channel already closed never reaches the handler (which takes the write at once):
        // its write fails, and so does the transaction.
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { _ in result.fail(SMTPProtocolError.connectionClosed) }
        channel.writeAndFlush(SMTPClientRequest.transaction(transaction, result), promise: written)
        return result.futureResult
    }

    /// RFC 5321 §4.5.2: a line starting with "." gets another "."; then CRLF.CRLF.
    static func dotStuffed(_ message: [UInt8], allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: message.count + 16)
        var start = 0
        if message.first == UInt8(ascii: ".") { buffer.writeInteger(UInt8(ascii: ".")) }
        var index = 0
        while index < message.count - 1 {
            if message[index] == UInt8(ascii: "\n") && message[index + 1] == UInt8(ascii: ".") {
                buffer.writeBytes(message[start...index])
                buffer.writeInteger(UInt8(ascii: "."))
                start = index + 1
            }
            index += 1
        }
        if start < message.count { buffer.writeBytes(message[start...]) }
        if message.last != UInt8(ascii: "\n") { buffer.writeString("\r\n") }
        buffer.writeString(".\r\n")
        return buffer
    }

    /// QUIT, then close. Never throws: a session that breaks while quitting has ended anyway.
    func quit() async {
        let done = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(SMTPClientRequest.quit(done), promise: nil)
        // A channel already closed never reaches the handler's `write`: the write fails.
        channel.closeFuture.whenComplete { _ in done.succeed() }
        try? await done.futureResult.get()
        try? await channel.close()
    }
}
