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

/// One SMTP session with the relay: EHLO, optional STARTTLS and AUTH, then any number of
/// one-recipient transactions, pipelined when the relay offers PIPELINING.
final class SMTPConnection: Sendable {
    let channel: any Channel
    private let handler: NIOLoopBound<SMTPClientHandler>
    let capabilities: SMTPCapabilities
    let commandTimeout: TimeAmount
    /// Transactions begun on this session; RSET goes before every one but the first.
    private let transactions: Mutex<Int>

    private init(channel: any Channel, handler: NIOLoopBound<SMTPClientHandler>, capabilities: SMTPCapabilities, commandTimeout: TimeAmount) {
        self.channel = channel
        self.handler = handler
        self.capabilities = capabilities
        self.commandTimeout = commandTimeout
        self.transactions = Mutex(0)
    }

    var isActive: Bool { channel.isActive }

    /// Connects and runs the greeting, EHLO, STARTTLS and AUTH as configured.
    static func open(_ configuration: SMTPRelayConfiguration, tlsContext: NIOSSLContext?, group: any EventLoopGroup) async throws -> SMTPConnection {
        let implicitTLS = configuration.security == .implicitTLS
        let host = configuration.host
        // SNI takes names only; a relay given as an IP address is verified against its IP SAN.
        let serverName: String? = host.contains(":") || host.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : host
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if implicitTLS, let tlsContext {
                        let tls = try NIOSSLClientHandler(context: tlsContext, serverHostname: serverName)
                        try channel.pipeline.syncOperations.addHandler(tls)
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPReplyDecoder()))
                    try channel.pipeline.syncOperations.addHandler(SMTPClientHandler())
                }
            }
            .connect(host: configuration.host, port: configuration.port)
            .get()
        do {
            let handler = try await channel.pipeline.handler(type: SMTPClientHandler.self).map {
                NIOLoopBound($0, eventLoop: channel.eventLoop)
            }.get()
            let timeout = configuration.commandTimeout
            let greeting = try await exchange(channel, handler, ByteBuffer(), replies: 1, timeout: timeout)[0]
            guard greeting.code == 220 else { throw SMTPProtocolError.unexpectedReply(stage: "greeting", greeting) }
            var capabilities = try await hello(channel, handler, name: configuration.heloName, timeout: timeout)
            if configuration.security == .startTLS {
                guard capabilities.startTLS else { throw SMTPProtocolError.missingExtension("STARTTLS") }
                let reply = try await exchange(channel, handler, ByteBuffer(string: "STARTTLS\r\n"), replies: 1, timeout: timeout)[0]
                guard reply.code == 220 else { throw SMTPProtocolError.unexpectedReply(stage: "STARTTLS", reply) }
                guard let tlsContext else { throw SMTPProtocolError.missingExtension("TLS context") }
                try await channel.eventLoop.submit {
                    let tls = try NIOSSLClientHandler(context: tlsContext, serverHostname: serverName)
                    try channel.pipeline.syncOperations.addHandler(tls, position: .first)
                }.get()
                // RFC 3207: everything learned before TLS is forgotten; ask again.
                capabilities = try await hello(channel, handler, name: configuration.heloName, timeout: timeout)
            }
            if let username = configuration.username, let password = configuration.password {
                try await authenticate(channel, handler, capabilities: capabilities, username: username, password: password, timeout: timeout)
            }
            return SMTPConnection(channel: channel, handler: handler, capabilities: capabilities, commandTimeout: timeout)
        } catch {
            try? await channel.close()
            throw error
        }
    }

    private static func hello(_ channel: any Channel, _ handler: NIOLoopBound<SMTPClientHandler>, name: String, timeout: TimeAmount) async throws -> SMTPCapabilities {
        let reply = try await exchange(channel, handler, ByteBuffer(string: "EHLO \(name)\r\n"), replies: 1, timeout: timeout)[0]
        if reply.code == 250 { return SMTPCapabilities(ehlo: reply) }
        // A relay without ESMTP: plain SMTP, no pipelining, 7-bit bodies.
        let helo = try await exchange(channel, handler, ByteBuffer(string: "HELO \(name)\r\n"), replies: 1, timeout: timeout)[0]
        guard helo.code == 250 else { throw SMTPProtocolError.unexpectedReply(stage: "HELO", helo) }
        return SMTPCapabilities()
    }

    private static func authenticate(
        _ channel: any Channel, _ handler: NIOLoopBound<SMTPClientHandler>, capabilities: SMTPCapabilities,
        username: String, password: String, timeout: TimeAmount
    ) async throws {
        func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
        if capabilities.authMechanisms.contains("PLAIN") {
            let token = Data([0] + Array(username.utf8) + [0] + Array(password.utf8)).base64EncodedString()
            let reply = try await exchange(channel, handler, ByteBuffer(string: "AUTH PLAIN \(token)\r\n"), replies: 1, timeout: timeout)[0]
            guard reply.code == 235 else { throw SMTPProtocolError.unexpectedReply(stage: "AUTH PLAIN", reply) }
        } else if capabilities.authMechanisms.contains("LOGIN") {
            var reply = try await exchange(channel, handler, ByteBuffer(string: "AUTH LOGIN\r\n"), replies: 1, timeout: timeout)[0]
            guard reply.code == 334 else { throw SMTPProtocolError.unexpectedReply(stage: "AUTH LOGIN", reply) }
            reply = try await exchange(channel, handler, ByteBuffer(string: base64(username) + "\r\n"), replies: 1, timeout: timeout)[0]
            guard reply.code == 334 else { throw SMTPProtocolError.unexpectedReply(stage: "AUTH LOGIN user", reply) }
            reply = try await exchange(channel, handler, ByteBuffer(string: base64(password) + "\r\n"), replies: 1, timeout: timeout)[0]
            guard reply.code == 235 else { throw SMTPProtocolError.unexpectedReply(stage: "AUTH LOGIN password", reply) }
        } else {
            throw SMTPProtocolError.missingExtension("AUTH PLAIN or LOGIN")
        }
    }

    /// Writes `commands` in one flush and waits for `replies` replies. Promises are
    /// registered before the write, on the channel's event loop, so no reply can be missed.
    private static func exchange(
        _ channel: any Channel, _ handler: NIOLoopBound<SMTPClientHandler>, _ commands: ByteBuffer, replies: Int, timeout: TimeAmount
    ) async throws -> [SMTPReply] {
        var result: [SMTPReply] = []
        for future in try await pipeline(channel, handler, commands, replies: replies, timeout: timeout) {
            result.append(try await future.get())
        }
        return result
    }

    /// Like `exchange`, but hands back one future per reply, so a caller can stop at a reply
    /// after which the server hangs up (421) without waiting for the ones that never come.
    private static func pipeline(
        _ channel: any Channel, _ handler: NIOLoopBound<SMTPClientHandler>, _ commands: ByteBuffer, replies: Int, timeout: TimeAmount
    ) async throws -> [EventLoopFuture<SMTPReply>] {
        let eventLoop = channel.eventLoop
        return try await eventLoop.submit { () -> [EventLoopFuture<SMTPReply>] in
            var futures: [EventLoopFuture<SMTPReply>] = []
            futures.reserveCapacity(replies)
            for _ in 0..<replies {
                let promise = eventLoop.makePromise(of: SMTPReply.self)
                handler.value.expect(promise)
                futures.append(promise.futureResult)
            }
            if commands.readableBytes > 0 { channel.writeAndFlush(commands, promise: nil) }
            // A server that stops answering must not hold a worker forever: closing the
            // channel fails every outstanding promise.
            let timer = eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
            EventLoopFuture.andAllComplete(futures, on: eventLoop).whenComplete { _ in timer.cancel() }
            return futures
        }.get()
    }

    private func exchange(_ commands: ByteBuffer, replies: Int) async throws -> [SMTPReply] {
        try await Self.exchange(channel, handler, commands, replies: replies, timeout: commandTimeout)
    }

    /// The path RCPT TO names. Legacy carrier local parts (`taro..yamada`) are not
    /// dot-atoms, so they go as a quoted string; the address bytes themselves stay as given.
    static func path(_ address: EmailAddress) -> String {
        address.needsQuotedLocalPart ? "<\"\(address.localPart)\"@\(address.domain)>" : "<\(address.raw)>"
    }

    /// One transaction: MAIL, RCPT, DATA, the message. `message` is the rendered message
    /// before dot-stuffing. Throws only when the session itself broke.
    func send(reversePath: String, recipient: EmailAddress, message: [UInt8], eightBit: Bool) async throws -> MailSendResult {
        let first = transactions.withLock { count in
            count += 1
            return count == 1
        }
        var envelope = ByteBuffer()
        if !first { envelope.writeString("RSET\r\n") }
        envelope.writeString("MAIL FROM:<\(reversePath)>")
        if eightBit && capabilities.eightBitMIME { envelope.writeString(" BODY=8BITMIME") }
        if capabilities.maxSize != nil { envelope.writeString(" SIZE=\(message.count)") }
        envelope.writeString("\r\nRCPT TO:\(Self.path(recipient))\r\nDATA\r\n")

        if capabilities.pipelining {
            let data = Self.dotStuffed(message, allocator: channel.allocator)
            return try await pipelinedTransaction(envelope: envelope, replies: first ? 3 : 4, afterRSET: !first, data: data).get()
        }
        // One command at a time, stopping at the first refusal.
        var replies: [SMTPReply] = []
        var lines = String(buffer: envelope).split(separator: "\r\n", omittingEmptySubsequences: true).map { String($0) + "\r\n" }
        if !first {
            let rset = try await exchange(ByteBuffer(string: lines.removeFirst()), replies: 1)[0]
            if rset.code == 421 { return .temporary(code: 421, rset.description) }
        }
        for line in lines {
            let reply = try await exchange(ByteBuffer(string: line), replies: 1)[0]
            if reply.code == 421 { return .temporary(code: 421, reply.description) }
            replies.append(reply)
            if !reply.isPositive { break }
        }
        switch try Self.conclude(replies) {
        case .finished(let result):
            return result
        case .endEmptyData(let result):
            _ = try await exchange(ByteBuffer(string: ".\r\n"), replies: 1)
            return result
        case .sendData:
            return Self.result(try await exchange(Self.dotStuffed(message, allocator: channel.allocator), replies: 1)[0])
        }
    }

    enum EnvelopeOutcome {
        case finished(MailSendResult)
        /// A relay that said 354 although the envelope failed: end the empty transaction so
        /// the session stays usable, then report the refusal.
        case endEmptyData(MailSendResult)
        case sendData
    }

    /// What the replies to MAIL, RCPT and DATA mean for the transaction. Throws when DATA
    /// got a positive reply other than 354: the replies are out of step with the commands,
    /// and nothing on this session can be trusted any more.
    static func conclude(_ replies: [SMTPReply]) throws -> EnvelopeOutcome {
        let dataReply = replies.count == 3 ? replies[2] : nil
        if let index = replies.firstIndex(where: { !$0.isPositive }) {
            let refused = replies[index]
            let outcome = index == 1 && refused.isPermanent
                ? MailSendResult.recipientRefused(code: refused.code, refused.description) : result(refused)
            return dataReply?.code == 354 ? .endEmptyData(outcome) : .finished(outcome)
        }
        guard let dataReply else { return .finished(.temporary(code: 451, "451 no reply to DATA")) }
        guard dataReply.code == 354 else { throw SMTPProtocolError.unexpectedReply(stage: "DATA", dataReply) }
        return .sendData
    }

    /// The whole pipelined transaction as one chain on the channel's event loop: one hop in,
    /// one hop out, however many replies (each hop between a task and the event loop costs
    /// a thread wake-up, and at thousands of messages a second those dominate).
    private func pipelinedTransaction(envelope: ByteBuffer, replies count: Int, afterRSET: Bool, data: ByteBuffer) -> EventLoopFuture<MailSendResult> {
        let channel = self.channel
        let handler = self.handler
        let timeout = commandTimeout
        let eventLoop = channel.eventLoop
        return eventLoop.flatSubmit {
            let timer = eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
            func expectReply() -> EventLoopFuture<SMTPReply> {
                let promise = eventLoop.makePromise(of: SMTPReply.self)
                handler.value.expect(promise)
                return promise.futureResult
            }
            let futures = (0..<count).map { _ in expectReply() }
            channel.writeAndFlush(envelope, promise: nil)
            // Replies in order; a 421 ends it there, since the server is hanging up and the
            // replies after it never come.
            func collect(_ index: Int, _ replies: [SMTPReply]) -> EventLoopFuture<(replies: [SMTPReply], closing: SMTPReply?)> {
                guard index < futures.count else { return eventLoop.makeSucceededFuture((replies, nil)) }
                return futures[index].flatMap { reply in
                    if reply.code == 421 { return eventLoop.makeSucceededFuture((replies, reply)) }
                    return collect(index + 1, replies + [reply])
                }
            }
            return collect(0, []).flatMap { collected -> EventLoopFuture<MailSendResult> in
                if let closing = collected.closing { return eventLoop.makeSucceededFuture(.temporary(code: 421, closing.description)) }
                let envelopeReplies = afterRSET ? Array(collected.replies.dropFirst()) : collected.replies
                let outcome: EnvelopeOutcome
                do {
                    outcome = try Self.conclude(envelopeReplies)
                } catch {
                    channel.close(promise: nil)
                    return eventLoop.makeFailedFuture(error)
                }
                switch outcome {
                case .finished(let result):
                    return eventLoop.makeSucceededFuture(result)
                case .endEmptyData(let result):
                    let reply = expectReply()
                    channel.writeAndFlush(ByteBuffer(string: ".\r\n"), promise: nil)
                    return reply.map { _ in result }
                case .sendData:
                    let reply = expectReply()
                    channel.writeAndFlush(data, promise: nil)
                    return reply.map(Self.result)
                }
            }.always { _ in timer.cancel() }
        }
    }

    static func result(_ reply: SMTPReply) -> MailSendResult {
        if reply.isPositive { return .accepted(reply.description) }
        if reply.isTemporary { return .temporary(code: reply.code, reply.description) }
        return .permanent(code: reply.code, reply.description)
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

    func quit() async {
        _ = try? await exchange(ByteBuffer(string: "QUIT\r\n"), replies: 1)
        try? await channel.close()
    }
}
