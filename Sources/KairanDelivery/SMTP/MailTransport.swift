import KairanCore

/// A session that can carry messages to their recipients: an SMTP session with the relay,
/// or the development Maildir.
public protocol MailSession: AnyObject, Sendable {
    /// Whether an 8-bit body may be sent (the relay offered 8BITMIME).
    var eightBitAllowed: Bool { get }
    /// One message to one recipient. Throws only when the session itself broke (the
    /// caller cannot know whether the message arrived).
    func send(deliveryID: Int64, reversePath: String, recipient: EmailAddress, message: [UInt8]) async throws -> MailSendResult
    /// Messages this session has carried to `domain` over its whole life (a pooled session
    /// is reused across batches; carriers count per SMTP session).
    func messagesSent(to domain: String) -> Int
    func noteSent(to domain: String)
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
