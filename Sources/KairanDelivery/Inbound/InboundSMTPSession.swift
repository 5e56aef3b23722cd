import Foundation
import KairanCore

/// Who an inbound message is for.
public enum InboundRecipient: Sendable, Equatable {
    /// The registration address (空メール).
    case entry
    /// `<entry>+<code>`: an address change started from the settings page.
    case change(code: String)
    /// A VERP return path: a bounce report for this delivery job.
    case bounce(deliveryID: Int64)
}

/// The SMTP server side of one connection, as a pure state machine (RFC 5321 subset): it
/// is fed lines and says what to answer. Everything is bounded: line length, recipients,
/// message size, commands per session.
struct InboundSMTPSession {
    enum Action: Equatable {
        case reply(String)
        case close(String)
        /// A complete message: process it, then answer.
        case deliver(Message)
        /// Inside DATA: nothing to say yet.
        case none
    }

    /// One received message. `sender` is the envelope path; nil for the null sender `<>`
    /// (bounce reports). `data` is dot-unstuffed, with CRLF line ends.
    struct Message: Equatable {
        let sender: String?
        let recipients: [InboundRecipient]
        let data: String
    }

    struct Limits {
        var maxLine = 1000
        var maxRecipients = 10
        var maxMessageBytes = 256 * 1024
        var maxCommands = 500
    }

    let domain: String
    let limits: Limits
    let classify: (_ localPart: String, _ domain: String) -> InboundRecipient?

    private var greeted = false
    private var sender: String??
    private var recipients: [InboundRecipient] = []
    private var inData = false
    private var dataLines: [String] = []
    private var dataBytes = 0
    private var tooBig = false
    private var commands = 0

    init(domain: String, limits: Limits = Limits(), classify: @escaping (String, String) -> InboundRecipient?) {
        self.domain = domain
        self.limits = limits
        self.classify = classify
    }

    var greeting: String { "220 \(domain) Kairan ESMTP" }

    mutating func receive(_ rawLine: String) -> Action {
        var line = rawLine
        if line.hasSuffix("\r") { line.removeLast() }
        if inData { return receiveData(line) }
        commands += 1
        if commands > limits.maxCommands { return .close("421 4.7.0 \(domain) too many commands, closing") }
        if line.utf8.count > limits.maxLine { return .reply("500 5.5.2 line too long") }
        let upper = line.uppercased()
        let verb = upper.split(separator: " ", maxSplits: 1).first.map(String.init) ?? ""
        switch verb {
        case "EHLO":
            greeted = true
            reset()
            return .reply("250-\(domain)\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE \(limits.maxMessageBytes)\r\n250 ENHANCEDSTATUSCODES")
        case "HELO":
            greeted = true
            reset()
            return .reply("250 \(domain)")
        case "MAIL":
            guard greeted else { return .reply("503 5.5.1 say EHLO first") }
            guard sender == nil else { return .reply("503 5.5.1 sender already given") }
            guard upper.hasPrefix("MAIL FROM:"), let path = Self.path(in: line, after: "MAIL FROM:".count) else {
                return .reply("501 5.5.4 syntax: MAIL FROM:<address>")
            }
            if let size = Self.sizeParameter(upper), size > limits.maxMessageBytes { return .reply("552 5.3.4 message too big") }
            sender = .some(path.isEmpty ? nil : path)
            return .reply("250 2.1.0 ok")
        case "RCPT":
            guard sender != nil else { return .reply("503 5.5.1 need MAIL first") }
            guard upper.hasPrefix("RCPT TO:"), let path = Self.path(in: line, after: "RCPT TO:".count),
                  let at = path.lastIndex(of: "@") else {
                return .reply("501 5.5.4 syntax: RCPT TO:<address>")
            }
            guard recipients.count < limits.maxRecipients else { return .reply("452 4.5.3 too many recipients") }
            let local = Self.unquoted(String(path[..<at]))
            guard let recipient = classify(local, String(path[path.index(after: at)...])) else {
                return .reply("550 5.1.1 no such mailbox here")
            }
            recipients.append(recipient)
            return .reply("250 2.1.5 ok")
        case "DATA":
            guard sender != nil else { return .reply("503 5.5.1 need MAIL first") }
            guard !recipients.isEmpty else { return .reply("554 5.5.1 no valid recipients") }
            inData = true
            return .reply("354 end data with <CR><LF>.<CR><LF>")
        case "RSET":
            reset()
            return .reply("250 2.0.0 ok")
        case "NOOP":
            return .reply("250 2.0.0 ok")
        case "VRFY":
            return .reply("252 2.5.0 cannot verify")
        case "QUIT":
            return .close("221 2.0.0 bye")
        case "STARTTLS", "AUTH":
            return .reply("502 5.5.1 not offered")
        default:
            return .reply("500 5.5.2 command not recognised")
        }
    }

    private mutating func receiveData(_ line: String) -> Action {
        if line == "." {
            inData = false
            defer { reset() }
            if tooBig { return .reply("552 5.3.4 message exceeds \(limits.maxMessageBytes) bytes") }
            return .deliver(Message(sender: sender ?? nil, recipients: recipients, data: dataLines.joined(separator: "\r\n") + "\r\n"))
        }
        let text = line.hasPrefix(".") ? String(line.dropFirst()) : line
        dataBytes += text.utf8.count + 2
        if dataBytes > limits.maxMessageBytes {
            // Keep reading to the end of DATA, but keep nothing more.
            tooBig = true
            dataLines = []
        } else {
            dataLines.append(text)
        }
        return .none
    }

    private mutating func reset() {
        sender = nil
        recipients = []
        dataLines = []
        dataBytes = 0
        tooBig = false
    }

    /// The address between < and > after the command, ignoring parameters.
    static func path(in line: String, after offset: Int) -> String? {
        let rest = line.dropFirst(offset).drop { $0 == " " }
        guard rest.first == "<", let close = rest.firstIndex(of: ">") else { return nil }
        return String(rest[rest.index(after: rest.startIndex)..<close])
    }

    static func unquoted(_ local: String) -> String {
        guard local.count >= 2, local.hasPrefix("\""), local.hasSuffix("\"") else { return local }
        return String(local.dropFirst().dropLast()).replacingOccurrences(of: "\\\"", with: "\"").replacingOccurrences(of: "\\\\", with: "\\")
    }

    static func sizeParameter(_ upper: String) -> Int? {
        guard let range = upper.range(of: " SIZE=") else { return nil }
        return Int(upper[range.upperBound...].prefix { $0.isNumber })
    }

    /// The sender as an address, unquoting a legacy local part.
    static func senderAddress(_ path: String?) -> EmailAddress? {
        guard let path, let at = path.lastIndex(of: "@") else { return nil }
        let local = unquoted(String(path[..<at]))
        // A sender path we cannot read is treated as no sender: the message is still
        // classified by its recipient, and nothing is replied to an address we cannot trust.
        return try? EmailAddress(local + String(path[at...]))
    }
}
