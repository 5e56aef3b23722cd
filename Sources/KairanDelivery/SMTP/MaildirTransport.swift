import Foundation
import KairanCore

/// Development default when no relay is configured: every message becomes one file in a
/// Maildir (`new/`), so a newcomer can read exactly what would have been sent.
public final class MaildirTransport: MailTransport, MailSession {
    let directory: URL

    public init(directory: String) throws {
        self.directory = URL(fileURLWithPath: directory)
        for sub in ["tmp", "new", "cur"] {
            try FileManager.default.createDirectory(at: self.directory.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
    }

    public var maxSessions: Int { 4 }
    public var eightBitAllowed: Bool { true }
    /// Files have no sessions: no per-session cap applies.
    public func messagesSent(to domain: String) -> Int { 0 }
    public func noteSent(to domain: String) {}
    public func checkout() async throws -> any MailSession { self }
    public func checkin(_ session: any MailSession, reusable: Bool) async {}
    public func shutdown() async {}

    /// Named after the delivery job, so a retried job overwrites its own file instead of
    /// leaving a duplicate. Written to tmp/ and renamed, as Maildir readers expect.
    public func send(deliveryID: Int64, reversePath: String, recipient: EmailAddress, message: [UInt8]) async throws -> MailSendResult {
        let name = "kairan-delivery-\(deliveryID).eml"
        var data = Data("Return-Path: <\(reversePath)>\r\nDelivered-To: \(recipient.raw)\r\n".utf8)
        data.append(contentsOf: message)
        let temporary = directory.appendingPathComponent("tmp").appendingPathComponent(name)
        let final = directory.appendingPathComponent("new").appendingPathComponent(name)
        try data.write(to: temporary)
        if rename(temporary.path, final.path) != 0 {
            return .temporary(code: 451, "maildir rename failed: errno \(errno)")
        }
        return .accepted("250 written to maildir")
    }
}
