import Foundation
import KairanCore
import KairanStore
import Logging
import Metrics
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The inbound SMTP listener on its own port: 空メール to the registration address, address
/// changes, and bounce reports to VERP addresses. Everything else is refused at RCPT, so
/// it is no open relay and keeps no mail it has no use for.
public final class InboundSMTPService: Service, Sendable {
    let configuration: InboundMailConfiguration
    let identity: MailIdentity
    let database: Database
    let clock: any WallClock
    let logger: Logger
    let limits = InboundSMTPSession.Limits()
    private let setupRetries = Counter(label: "kairan_inbound_smtp_setup_retries_total")
    private let refusedConnections = Counter(label: "kairan_inbound_smtp_connections_refused_total")
    /// Sessions open now, in all and per client address.
    private let open = OpenConnections()
    /// The bound port (useful when configured as 0), once listening.
    public let boundPort: AsyncStream<Int>
    private let boundPortContinuation: AsyncStream<Int>.Continuation

    public init(configuration: InboundMailConfiguration, identity: MailIdentity, database: Database, clock: any WallClock, logger: Logger) {
        self.configuration = configuration
        self.identity = identity
        self.database = database
        self.clock = clock
        self.logger = logger
        (boundPort, boundPortContinuation) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))
    }

    public func run() async throws {
        let composer = try await loadComposer()
        let processor = InboundMailProcessor(database: database, composer: composer, configuration: configuration, clock: clock, logger: logger)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .bind(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    // A client that goes quiet for 5 minutes is dropped (RFC 5321 §4.5.3.2).
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .minutes(5)))
                    try channel.pipeline.syncOperations.addHandler(CloseOnIdleHandler())
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        if let port = server.channel.localAddress?.port { boundPortContinuation.yield(port) }
        logger.info("inbound SMTP listening", metadata: ["address": "\(configuration.host):\(server.channel.localAddress?.port ?? configuration.port)",
                                                         "entry": "\(configuration.entryLocalPart)@\(identity.mailDomain)"])
        // On shutdown, open sessions are cut too: a sending server retries what it could not
        // finish, and nothing half-received was acknowledged.
        do {
            try await cancelWhenGracefulShutdown {
                try await server.executeThenClose { connections in
                    try await withThrowingDiscardingTaskGroup { group in
                        for try await connection in connections {
                            let client = connection.channel.remoteAddress?.ipAddress ?? "unknown"
                            guard self.open.admit(client, total: self.configuration.maxConnections,
                                                  perClient: self.configuration.maxConnectionsPerClient) else {
                                group.addTask { await self.refuseBusy(connection) }
                                continue
                            }
                            group.addTask {
                                defer { self.open.release(client) }
                                await self.serve(connection, processor: processor)
                            }
                        }
                    }
                }
            }
        } catch is CancellationError {
            // Graceful shutdown.
        }
    }

    private func loadComposer() async throws -> MailComposer {
        var delay: Duration = .milliseconds(200)
        for attempt in 1... {
            do {
                return try await MailComposer.load(identity: identity, database: database)
            } catch {
                // The database pool starts alongside this service, so the first tries may
                // fail quietly; a database that stays away is said in the log, with a count.
                if attempt >= 5 {
                    logger.warning("inbound SMTP cannot read its mail identity from the database; retrying", metadata: [
                        "attempt": "\(attempt)", "error_type": "\(type(of: error))"])
                    setupRetries.increment()
                }
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
        preconditionFailure("unreachable")
    }

    /// Over the connection limits: 421 at the greeting (RFC 5321 §3.1), and closed. A
    /// sending server tries again later.
    private func refuseBusy(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        refusedConnections.increment()
        try? await connection.executeThenClose { _, outbound in
            try await outbound.write(ByteBuffer(string: "421 4.7.0 \(identity.mailDomain) too many connections, try again later\r\n"))
        }
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>, processor: InboundMailProcessor) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var session = InboundSMTPSession(domain: identity.mailDomain, limits: limits) { local, domain in
                    processor.classify(localPart: local, domain: domain)
                }
                try await outbound.write(ByteBuffer(string: session.greeting + "\r\n"))
                var pending = ByteBuffer()
                for try await chunk in inbound {
                    var chunk = chunk
                    pending.writeBuffer(&chunk)
                    var replies = ""
                    while let lf = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = pending.readString(length: lf - pending.readerIndex) ?? ""
                        pending.moveReaderIndex(forwardBy: 1)
                        switch session.receive(line) {
                        case .none:
                            continue
                        case .reply(let text):
                            replies += text + "\r\n"
                        case .close(let text):
                            try await outbound.write(ByteBuffer(string: replies + text + "\r\n"))
                            return
                        case .deliver(let message):
                            do {
                                try await processor.process(message)
                                replies += "250 2.0.0 accepted\r\n"
                            } catch {
                                logger.warning("inbound message not stored; asking the sender to retry", metadata: ["error_type": "\(type(of: error))"])
                                replies += "451 4.3.0 temporary failure, try again later\r\n"
                            }
                        }
                    }
                    pending.discardReadBytes()
                    // A line longer than any SMTP line, with no end in sight.
                    if pending.readableBytes > limits.maxLine * 1024 {
                        try await outbound.write(ByteBuffer(string: replies + "500 5.5.2 line too long, closing\r\n"))
                        return
                    }
                    // Replies go out together: a pipelining client gets them in one write.
                    if !replies.isEmpty { try await outbound.write(ByteBuffer(string: replies)) }
                }
            }
        } catch {
            logger.debug("inbound SMTP connection ended", metadata: ["error_type": "\(type(of: error))"])
        }
    }
}

/// Closes a connection when IdleStateHandler reports it idle.
final class CloseOnIdleHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}

/// Counts open sessions, in all and per client address.
final class OpenConnections: Sendable {
    private let state = Mutex<(total: Int, byClient: [String: Int])>((0, [:]))

    /// Takes a place for a session from `client`, unless a limit is reached.
    func admit(_ client: String, total: Int, perClient: Int) -> Bool {
        state.withLock { state in
            guard state.total < total, state.byClient[client, default: 0] < perClient else { return false }
            state.total += 1
            state.byClient[client, default: 0] += 1
            return true
        }
    }

    func release(_ client: String) {
        state.withLock { state in
            state.total -= 1
            let left = state.byClient[client, default: 1] - 1
            state.byClient[client] = left > 0 ? left : nil
        }
    }
}
