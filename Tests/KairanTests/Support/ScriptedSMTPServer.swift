import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A real SMTP server on loopback whose replies a test scripts: error codes per recipient,
/// extensions offered, credentials required. It records every transaction and how many
/// commands arrived in one read (pipelining shows as several).
final class ScriptedSMTPServer: Sendable {
    struct Transaction: Sendable {
        var mailFrom: String = ""
        var recipients: [String] = []
        var data: String = ""
        var session: Int = 0
    }

    struct Script: Sendable {
        var extensions: [String] = ["PIPELINING", "8BITMIME", "SIZE 10485760"]
        /// A reply for RCPT TO whose line contains the key (e.g. "temp450" → "450 4.2.0 try later").
        var recipientReplies: [String: String] = [:]
        /// A reply for the end of DATA when the recipient line contains the key.
        var dataReplies: [String: String] = [:]
        /// AUTH PLAIN/LOGIN credentials required before MAIL (nil: no AUTH offered).
        var credentials: (user: String, password: String)?
        /// Offer STARTTLS with this context.
        var tls: NIOSSLContext?
        /// TLS from the first byte (port 465 style) with this context.
        var implicitTLS: NIOSSLContext?
        /// AUTH mechanisms offered when credentials are required.
        var authMechanisms = "PLAIN LOGIN"
        /// Replies given once and then forgotten (a key is consumed on first use).
        var once: Set<String> = []
    }

    fileprivate struct State {
        var transactions: [Transaction] = []
        var sessions = 0
        var maxCommandsPerRead = 0
        var commands: [String] = []
        var consumed: Set<String> = []
        var authenticated = 0
        var tlsSessions = 0
    }

    let script: Script
    private let state = Mutex(State())
    private let channel: Mutex<(any Channel)?> = Mutex(nil)

    init(_ script: Script = Script()) {
        self.script = script
    }

    var port: Int { channel.withLock { $0?.localAddress?.port ?? 0 } }
    var transactions: [Transaction] { state.withLock { $0.transactions } }
    var sessions: Int { state.withLock { $0.sessions } }
    var maxCommandsPerRead: Int { state.withLock { $0.maxCommandsPerRead } }
    var commands: [String] { state.withLock { $0.commands } }
    var authenticatedSessions: Int { state.withLock { $0.authenticated } }
    var tlsSessions: Int { state.withLock { $0.tlsSessions } }

    /// The sessions open now, so `goDown` can cut them as a relay that dies would.
    private let sessionChannels = Mutex<[ObjectIdentifier: any Channel]>([:])

    /// Starts listening, on `port` when given (to come back where the worker expects it).
    func start(port: Int = 0) async throws {
        let implicitTLS = script.implicitTLS
        let bound = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let implicitTLS {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: implicitTLS))
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineDecoder()))
                    try channel.pipeline.syncOperations.addHandler(Session(server: self))
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        channel.withLock { $0 = bound }
    }

    func stop() async {
        let bound = channel.withLock { $0 }
        try? await bound?.close()
    }

    /// The relay dies: it stops listening and every open session is cut mid-conversation.
    /// Returns the port, for `start(port:)` when it comes back.
    func goDown() async -> Int {
        let port = self.port
        let bound = channel.withLock { channel in
            defer { channel = nil }
            return channel
        }
        try? await bound?.close()
        for session in sessionChannels.withLock({ Array($0.values) }) { try? await session.close() }
        return port
    }

    /// Replies scripted for `key` unless already consumed (for `once` keys).
    fileprivate func scripted(_ table: [String: String], line: String) -> String? {
        for (key, reply) in table where line.contains(key) {
            if script.once.contains(key) {
                let first = state.withLock { $0.consumed.insert(key).inserted }
                if !first { continue }
            }
            return reply
        }
        return nil
    }

    fileprivate func record(_ body: (inout State) -> Void) { state.withLock { body(&$0) } }

    fileprivate final class Session: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        let server: ScriptedSMTPServer
        var current = Transaction()
        var inData = false
        var dataLines: [String] = []
        var commandsThisRead = 0
        var authStage: Int = 0
        var loginUser = ""
        var authenticated = false
        var sessionNumber = 0

        init(server: ScriptedSMTPServer) { self.server = server }

        func channelActive(context: ChannelHandlerContext) {
            let channel = context.channel
            server.sessionChannels.withLock { $0[ObjectIdentifier(channel)] = channel }
            server.record { state in
                state.sessions += 1
                self.sessionNumber = state.sessions
            }
            send(context, "220 scripted.test ESMTP")
        }

        func channelInactive(context: ChannelHandlerContext) {
            let id = ObjectIdentifier(context.channel)
            server.sessionChannels.withLock { _ = $0.removeValue(forKey: id) }
            context.fireChannelInactive()
        }

        func send(_ context: ChannelHandlerContext, _ line: String) {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: line + "\r\n")), promise: nil)
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            let count = commandsThisRead
            server.record { $0.maxCommandsPerRead = max($0.maxCommandsPerRead, count) }
            commandsThisRead = 0
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            var line = buffer.readString(length: buffer.readableBytes) ?? ""
            if line.hasSuffix("\r") { line.removeLast() }
            if inData {
                if line == "." {
                    inData = false
                    current.data = dataLines.joined(separator: "\r\n")
                    dataLines = []
                    let reply = server.scripted(server.script.dataReplies, line: current.recipients.joined()) ?? "250 2.0.0 queued"
                    if reply.hasPrefix("2") {
                        var transaction = current
                        transaction.session = sessionNumber
                        server.record { $0.transactions.append(transaction) }
                    }
                    current = Transaction()
                    send(context, reply)
                    if reply.hasPrefix("421") { context.close(promise: nil) }
                } else {
                    dataLines.append(line.hasPrefix("..") ? String(line.dropFirst()) : line)
                }
                return
            }
            commandsThisRead += 1
            server.record { $0.commands.append(line) }
            if authStage == 1 { authStage = 2; loginUser = line; send(context, "334 UGFzc3dvcmQ6"); return }
            if authStage == 2 {
                authStage = 0
                let decoded = { (text: String) in Data(base64Encoded: text).map { String(decoding: $0, as: UTF8.self) } ?? "" }
                if let credentials = server.script.credentials, decoded(loginUser) == credentials.user, decoded(line) == credentials.password {
                    authenticated = true
                    server.record { $0.authenticated += 1 }
                    send(context, "235 2.7.0 ok")
                } else {
                    send(context, "535 5.7.8 bad credentials")
                }
                return
            }
            let upper = line.uppercased()
            switch true {
            case upper.hasPrefix("EHLO"):
                var lines = ["250-scripted.test"] + server.script.extensions.map { "250-" + $0 }
                if server.script.credentials != nil { lines.append("250-AUTH " + server.script.authMechanisms) }
                if server.script.tls != nil && !context.pipeline.syncOperations.hasTLS { lines.append("250-STARTTLS") }
                lines[lines.count - 1] = "250 " + lines[lines.count - 1].dropFirst(4)
                send(context, lines.joined(separator: "\r\n"))
            case upper.hasPrefix("STARTTLS"):
                guard let tls = server.script.tls else { send(context, "502 no"); return }
                send(context, "220 2.0.0 go ahead")
                try? context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), position: .first)
                server.record { $0.tlsSessions += 1 }
            case upper.hasPrefix("AUTH PLAIN"):
                let token = line.split(separator: " ").last.map(String.init) ?? ""
                let decoded = Data(base64Encoded: token).map { Array($0) } ?? []
                let parts = decoded.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
                if let credentials = server.script.credentials, parts.count == 3, parts[1] == credentials.user, parts[2] == credentials.password {
                    authenticated = true
                    server.record { $0.authenticated += 1 }
                    send(context, "235 2.7.0 ok")
                } else {
                    send(context, "535 5.7.8 bad credentials")
                }
            case upper.hasPrefix("AUTH LOGIN"):
                authStage = 1
                send(context, "334 VXNlcm5hbWU6")
            case upper.hasPrefix("MAIL FROM"):
                if server.script.credentials != nil && !authenticated { send(context, "530 5.7.0 authentication required"); return }
                current = Transaction(mailFrom: line)
                send(context, "250 2.1.0 ok")
            case upper.hasPrefix("RCPT TO"):
                let reply = server.scripted(server.script.recipientReplies, line: line) ?? "250 2.1.5 ok"
                if reply.hasPrefix("2") { current.recipients.append(line) }
                send(context, reply)
                if reply.hasPrefix("421") { context.close(promise: nil) }
            case upper.hasPrefix("DATA"):
                if current.recipients.isEmpty { send(context, "554 5.5.1 no valid recipients"); return }
                inData = true
                send(context, "354 end with .")
            case upper.hasPrefix("RSET"):
                current = Transaction()
                send(context, "250 2.0.0 ok")
            case upper.hasPrefix("QUIT"):
                send(context, "221 2.0.0 bye")
                context.close(promise: nil)
            case upper.hasPrefix("NOOP"):
                send(context, "250 ok")
            default:
                send(context, "500 5.5.2 unknown command")
            }
        }
    }
}

extension ChannelPipeline.SynchronousOperations {
    var hasTLS: Bool { (try? handler(type: NIOSSLServerHandler.self)) != nil }
}

/// Splits input at LF (NIOExtras' LineBasedFrameDecoder is not in our dependency graph).
struct LineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let lf = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else { return .needMoreData }
        let line = buffer.readSlice(length: lf - buffer.readerIndex)!
        buffer.moveReaderIndex(forwardBy: 1)
        context.fireChannelRead(wrapInboundOut(line))
        return .continue
    }
}
