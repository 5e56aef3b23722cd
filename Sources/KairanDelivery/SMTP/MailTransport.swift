import KairanCore

/// A session that can carry messages to their recipients: an SMTP session with the relay,
/// or the development Maildir.
public protocol MailSession: AnyObject, Sendable {
    /// Whether an 8-bit body may be sent (the relay offered 8BITMIME).
    var eightBitAllowed: Bool { get }
    /// One message to one recipient. Throws only when the session itself broke (the
    /// caller cannot know whether the message arrived).
    func send(deliveryID: Int64, reversePath: String, recipient: EmailAddress, message: [UInt8]) async throws -> MailSendResult
    /// How many messages may be started before the oldest one's outcome is awaited.
    var pipelineDepth: Int { get }
    /// Starts one message; its outcome is awaited later, so the session may carry the next
    /// message while the relay answers this one.
    func start(deliveryID: Int64, reversePath: String, recipient: EmailAddress, message: [UInt8]) -> PendingSend
    /// Messages this session has carried to `domain` over its whole life (a pooled session
    /// is reused across batches; carriers count per SMTP session).
    func messagesSent(to domain: String) -> Int
    func noteSent(to domain: String)
}

extension MailSession {
    public var pipelineDepth: Int { 1 }

    /// Sends when the outcome is awaited (a session that cannot pipeline).
    public func start(deliveryID: Int64, reversePath: String, recipient: EmailAddress, message: [UInt8]) -> PendingSend {
        PendingSend { try await self.send(deliveryID: deliveryID, reversePath: reversePath, recipient: recipient, message: message) }
    }
}

/// A message on its way: `outcome()` waits for the relay's answer. Throws only when the
/// session itself broke (nobody can know whether the message arrived).
public struct PendingSend: Sendable {
    public let outcome: @Sendable () async throws -> MailSendResult

    public init(_ outcome: @escaping @Sendable () async throws -> MailSendResult) {
        self.outcome = outcome
    }
}

/// Where mail goes. Sessions are checked out, used by one task at a time, and checked in.
public protocol MailTransport: Sendable {
    func checkout() async throws -> any MailSession
    /// Returns the session to the pool, or ends it when `reusable` is false (a per-session
    /// message cap reached, a 421, an error).
    func checkin(_ session: any MailSession, reusable: Bool) async
    func shutdown() async
    /// How many sessions may be open at once.
    var maxSessions: Int { get }
}
