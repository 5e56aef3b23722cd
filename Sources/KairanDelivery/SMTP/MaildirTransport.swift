import Foundation
#if canImport(Glibc)
import Glibc
#endif
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
    /// leaving a duplicate. Written to tmp/, flushed to disk and renamed into new/, as Maildir
    /// readers expect: a reader never sees half a message. A write that fails (a full disk)
    /// leaves nothing behind and is a temporary failure with the system's reason, retried
    /// later like a relay's 452.
    public func send(deliveryID: Int64, reversePath: String, recipient: EmailAddress, message: [UInt8]) async throws -> MailSendResult {
        let name = "kairan-delivery-\(deliveryID).eml"
        var data = Array("Return-Path: <\(reversePath)>\r\nDelivered-To: \(recipient.raw)\r\n".utf8)
        data.append(contentsOf: message)
        let temporary = directory.appendingPathComponent("tmp").appendingPathComponent(name).path
        let final = directory.appendingPathComponent("new").appendingPathComponent(name).path
        if let failure = Self.writeDurably(data, to: temporary) {
            unlink(temporary)
            return .temporary(code: 452, "452 4.3.1 maildir not written: \(failure)")
        }
        if rename(temporary, final) != 0 {
            let failure = String(cString: strerror(errno))
            unlink(temporary)
            return .temporary(code: 451, "451 4.3.0 maildir rename failed: \(failure)")
        }
        return .accepted("250 written to maildir")
    }

    /// Writes `bytes` to a new file at `path` and syncs it; the system's reason on failure.
    static func writeDurably(_ bytes: [UInt8], to path: String) -> String? {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else { return String(cString: strerror(errno)) }
        defer { close(descriptor) }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { buffer in
                write(descriptor, buffer.baseAddress! + written, buffer.count - written)
            }
            if result < 0 {
                if errno == EINTR { continue }
                return String(cString: strerror(errno))
            }
            written += result
        }
        // tmpfs and most file systems report a full disk at write; some only here.
        if fsync(descriptor) != 0 { return String(cString: strerror(errno)) }
        return nil
    }
}
