import KairanCore
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// The town's MTA that Kairan hands every message to. Mail goes nowhere else.
public struct SMTPRelayConfiguration: Sendable {
    public enum Security: String, Sendable, CaseIterable {
        /// Plain SMTP: for a relay on the same host or a private network only.
        case none
        /// RFC 3207 STARTTLS after EHLO; refuses to continue without it.
        case startTLS = "starttls"
        /// TLS from the first byte (submissions, port 465).
        case implicitTLS = "tls"
    }

    public var host: String
    public var port: Int
    public var security: Security
    public var username: String?
    public var password: String?
    /// Extra CA certificates (PEM file) to trust, e.g. the town's private CA.
    public var caFile: String?
    /// The name we give in EHLO.
    public var heloName: String
    public var maxConnections: Int
    public var connectTimeout: TimeAmount = .seconds(10)
    public var commandTimeout: TimeAmount = .seconds(60)

    public init(host: String, port: Int, security: Security = .none, username: String? = nil, password: String? = nil,
                caFile: String? = nil, heloName: String, maxConnections: Int = 20) {
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.caFile = caFile
        self.heloName = heloName
        self.maxConnections = maxConnections
    }
}

final class SMTPRelaySession: MailSession {
    let connection: SMTPConnection
    private let counts = Mutex<[String: Int]>([:])
    init(_ connection: SMTPConnection) { self.connection = connection }
    func messagesSent(to domain: String) -> Int { counts.withLock { $0[domain, default: 0] } }
    func noteSent(to domain: String) { counts.withLock { $0[domain, default: 0] += 1 } }
    var eightBitAllowed: Bool { connection.capabilities.eightBitMIME }
    /// Two with PIPELINING: the next message's commands follow this one's end of data.
    var pipelineDepth: Int { connection.capabilities.pipelining ? 2 : 1 }
    func start(deliveryID: Int64, reversePath: String, recipient: EmailAddress, message: [UInt8]) -> PendingSend {
        let future = connection.start(reversePath: reversePath, recipient: recipient, message: message, eightBit: true)
        return PendingSend { try await future.get() }
    }
    func send(deliveryID: Int64, reversePath: String, recipient: EmailAddress, message: [UInt8]) async throws -> MailSendResult {
        try await start(deliveryID: deliveryID, reversePath: reversePath, recipient: recipient, message: message).outcome()
    }
}

/// A bounded pool of persistent SMTP sessions with the relay.
public final class SMTPRelayTransport: MailTransport {
    let configuration: SMTPRelayConfiguration
    let tlsContext: NIOSSLContext?
    let group: any EventLoopGroup
    let pool: SessionPool<SMTPRelaySession>

    public init(_ configuration: SMTPRelayConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) throws {
        self.configuration = configuration
        self.group = group
        if configuration.security != .none {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let caFile = configuration.caFile {
                tls.additionalTrustRoots = [.file(caFile)]
            }
            tlsContext = try NIOSSLContext(configuration: tls)
        } else {
            tlsContext = nil
        }
        let configuration = configuration
        let tlsContext = tlsContext
        pool = SessionPool(limit: configuration.maxConnections, logger: logger) {
            SMTPRelaySession(try await SMTPConnection.open(configuration, tlsContext: tlsContext, group: group))
        } isUsable: { session in
            session.connection.isActive
        } close: { session in
            await session.connection.quit()
        }
    }

    public var maxSessions: Int { configuration.maxConnections }

    public func checkout() async throws -> any MailSession { try await pool.checkout() }

    public func checkin(_ session: any MailSession, reusable: Bool) async {
        guard let session = session as? SMTPRelaySession else { return }
        await pool.checkin(session, reusable: reusable)
    }

    public func shutdown() async { await pool.shutdown() }
}
