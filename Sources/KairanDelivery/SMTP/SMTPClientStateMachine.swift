import Foundation
import NIOCore

/// One SMTP client session as a value: which reply it waits for, and what to do when it
/// comes. It does no I/O; `SMTPClientHandler` feeds it replies and requests and carries out
/// the actions it returns, so every step of the protocol can be tested by feeding it bytes.
///
/// The session runs greeting → EHLO (HELO for a relay without ESMTP) → STARTTLS and EHLO
/// again when required → AUTH PLAIN or LOGIN when configured → ready, then any number of
/// one-recipient transactions, then QUIT.
///
/// With PIPELINING (RFC 2920) a transaction's MAIL, RCPT and DATA go in one write, and the
/// next transaction may be started before the relay has answered this one's message: its
/// commands follow the message's final "." in the same write (or at once, when the message
/// is already out), so a session costs one round trip per message instead of two. RSET
/// goes first only after a transaction that ended before its message (the relay still
/// holds its envelope).
struct SMTPClientStateMachine {
    struct Configuration: Sendable {
        /// The name given in EHLO.
        var heloName: String
        /// RFC 3207 STARTTLS after the first EHLO, refusing to go on without it.
        var requireStartTLS: Bool
        var credentials: (username: String, password: String)?
    }

    /// One message to one recipient. `data` is the message already dot-stuffed and ended
    /// with CRLF.CRLF.
    struct Transaction: Sendable {
        var reversePath: String
        /// The RCPT path, angle brackets included.
        var recipientPath: String
        /// The message's size before stuffing (declared with SIZE when the relay offers it).
        var size: Int
        /// The body has 8-bit bytes (declared with BODY=8BITMIME when the relay offers it).
        var eightBit: Bool
        var data: ByteBuffer
    }

    enum Action {
        case none
        case write(ByteBuffer)
        /// Put TLS first in the pipeline, then write (the EHLO that follows STARTTLS).
        case startTLSAndWrite(ByteBuffer)
        /// The session is established.
        case ready(SMTPCapabilities)
        case finishTransaction(MailSendResult)
        /// The oldest transaction's outcome, then the queued one's first commands.
        case finishTransactionAndWrite(MailSendResult, ByteBuffer)
        /// The relay said 421 (it is closing the session): the transaction's outcome, then
        /// close.
        case finishTransactionAndClose(MailSendResult)
        case quitFinished
        case failAndClose(SMTPProtocolError)
    }

    private enum AuthStep {
        case plain
        case loginStarted
        case loginUserSent
        case loginPasswordSent
    }

    private struct OpenTransaction {
        enum Phase {
            /// Replies owed for MAIL, RCPT and DATA (after RSET's, when one went first).
            case envelope
            /// The message was written; its reply ends the transaction.
            case data
            /// A relay that said 354 although the envelope failed: ".", then report `result`.
            case endingEmptyData(MailSendResult)
        }
        var phase = Phase.envelope
        /// Commands not yet written (one at a time, without PIPELINING).
        var unsent: [String]
        /// Replies owed for what was written.
        var owed: Int
        /// The next reply owed answers RSET.
        var awaitingRSET: Bool
        var envelopeReplies: [SMTPReply] = []
        let data: ByteBuffer
        let pipelined: Bool

        /// Its message, or the "." ending an empty one, has been written.
        var messageWritten: Bool {
            if case .envelope = phase { return false }
            return true
        }
    }

    private enum State {
        case awaitingGreeting
        case awaitingEHLO(afterTLS: Bool)
        case awaitingHELO(afterTLS: Bool)
        case awaitingStartTLS
        case authenticating(AuthStep, SMTPCapabilities)
        case idle(SMTPCapabilities)
        case transaction(OpenTransaction, SMTPCapabilities)
        case quitting
        case closed
    }

    /// The transaction after the current one.
    private enum Next {
        /// Asked for while the current one's envelope is unanswered: DATA must end a group,
        /// so its commands wait for the current message (or its end).
        case queued(Transaction)
        /// Written after the current message; its replies follow the current one's.
        case written(OpenTransaction)
    }

    private let configuration: Configuration
    private var state = State.awaitingGreeting
    private var next: Next?
    /// The last transaction ended before its message: the relay still holds its envelope.
    private var needsReset = false

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// Whether a reply is owed: the handler's timer runs exactly while this is true.
    var isAwaitingReply: Bool {
        switch state {
        case .idle, .closed: false
        default: true
        }
    }

    var isIdle: Bool {
        if case .idle = state { return true }
        return false
    }

    // MARK: - Events

    mutating func replyReceived(_ reply: SMTPReply) -> Action {
        switch state {
        case .awaitingGreeting:
            guard reply.code == 220 else { return fail(.unexpectedReply(stage: "greeting", reply)) }
            state = .awaitingEHLO(afterTLS: false)
            return .write(command("EHLO \(configuration.heloName)"))

        case .awaitingEHLO(let afterTLS):
            guard reply.code == 250 else {
                // A relay without ESMTP: plain SMTP, no pipelining, 7-bit bodies.
                state = .awaitingHELO(afterTLS: afterTLS)
                return .write(command("HELO \(configuration.heloName)"))
            }
            let capabilities = SMTPCapabilities(ehlo: reply)
            if configuration.requireStartTLS && !afterTLS {
                guard capabilities.startTLS else { return fail(.missingExtension("STARTTLS")) }
                state = .awaitingStartTLS
                return .write(command("STARTTLS"))
            }
            return helloDone(capabilities)

        case .awaitingHELO(let afterTLS):
            guard reply.code == 250 else { return fail(.unexpectedReply(stage: "HELO", reply)) }
            if configuration.requireStartTLS && !afterTLS { return fail(.missingExtension("STARTTLS")) }
            return helloDone(SMTPCapabilities())

        case .awaitingStartTLS:
            guard reply.code == 220 else { return fail(.unexpectedReply(stage: "STARTTLS", reply)) }
            // RFC 3207: everything learned before TLS is forgotten; ask again, through TLS.
            state = .awaitingEHLO(afterTLS: true)
            return .startTLSAndWrite(command("EHLO \(configuration.heloName)"))

        case .authenticating(let step, let capabilities):
            return authenticate(step, capabilities, reply)

        case .transaction(var transaction, let capabilities):
            return transactionReply(reply, &transaction, capabilities)

        case .quitting:
            state = .closed
            return .quitFinished

        case .idle, .closed:
            // A reply nobody asked for (an injected one, or an idle session's 421) would
            // shift every later reply onto the wrong command: the session is done.
            return fail(.tooManyUnsolicitedReplies)
        }
    }

    /// Starts a transaction: on an idle session at once; on a busy one as the next (one
    /// may wait behind the current). Nil when two are already open (the caller asked out of
    /// turn; the session itself is unharmed).
    mutating func start(_ transaction: Transaction) -> Action? {
        switch state {
        case .idle(let capabilities):
            let (open, bytes) = Self.open(transaction, capabilities, reset: needsReset)
            needsReset = false
            state = .transaction(open, capabilities)
            return .write(bytes)
        case .transaction(let current, let capabilities) where next == nil:
            guard capabilities.pipelining, current.messageWritten else {
                next = .queued(transaction)
                return Action.none
            }
            // The current message (or its empty end) is out: the relay will have finished
            // that transaction when it reads these.
            let (open, bytes) = Self.open(transaction, capabilities, reset: false)
            next = .written(open)
            return .write(bytes)
        default:
            return nil
        }
    }

    /// The commands that begin `transaction`: all of them when pipelining, else the first.
    private static func open(_ transaction: Transaction, _ capabilities: SMTPCapabilities, reset: Bool) -> (OpenTransaction, ByteBuffer) {
        var mail = "MAIL FROM:<\(transaction.reversePath)>"
        if transaction.eightBit && capabilities.eightBitMIME { mail += " BODY=8BITMIME" }
        if capabilities.maxSize != nil { mail += " SIZE=\(transaction.size)" }
        var commands = [mail, "RCPT TO:\(transaction.recipientPath)", "DATA"]
        if reset { commands.insert("RSET", at: 0) }
        if capabilities.pipelining {
            let open = OpenTransaction(unsent: [], owed: commands.count, awaitingRSET: reset, data: transaction.data, pipelined: true)
            return (open, ByteBuffer(string: commands.joined(separator: "\r\n") + "\r\n"))
        }
        let open = OpenTransaction(unsent: Array(commands.dropFirst()), owed: 1, awaitingRSET: reset, data: transaction.data, pipelined: false)
        return (open, ByteBuffer(string: commands[0] + "\r\n"))
    }

    /// The current transaction is over: the next one's replies come next, or its commands
    /// go now, or the session is idle.
    private mutating func finish(_ result: MailSendResult, messageWritten: Bool, _ capabilities: SMTPCapabilities) -> Action {
        switch next {
        case .written(let open):
            next = nil
            state = .transaction(open, capabilities)
            return .finishTransaction(result)
        case .queued(let transaction):
            next = nil
            let (open, bytes) = Self.open(transaction, capabilities, reset: !messageWritten)
            state = .transaction(open, capabilities)
            return .finishTransactionAndWrite(result, bytes)
        case nil:
            needsReset = !messageWritten
            state = .idle(capabilities)
            return .finishTransaction(result)
        }
    }

    /// QUIT on an idle session; nil otherwise (then the caller just closes).
    mutating func quit() -> Action? {
        guard case .idle = state else { return nil }
        state = .quitting
        return .write(command("QUIT"))
    }

    /// The connection ended or broke: whatever was owed will not come.
    mutating func closed() {
        state = .closed
        next = nil
    }

    // MARK: - Steps

    private mutating func helloDone(_ capabilities: SMTPCapabilities) -> Action {
        guard let (username, password) = configuration.credentials else {
            state = .idle(capabilities)
            return .ready(capabilities)
        }
        if capabilities.authMechanisms.contains("PLAIN") {
            state = .authenticating(.plain, capabilities)
            let token = Data([0] + Array(username.utf8) + [0] + Array(password.utf8)).base64EncodedString()
            return .write(command("AUTH PLAIN \(token)"))
        }
        if capabilities.authMechanisms.contains("LOGIN") {
            state = .authenticating(.loginStarted, capabilities)
            return .write(command("AUTH LOGIN"))
        }
        return fail(.missingExtension("AUTH PLAIN or LOGIN"))
    }

    private mutating func authenticate(_ step: AuthStep, _ capabilities: SMTPCapabilities, _ reply: SMTPReply) -> Action {
        guard let (username, password) = configuration.credentials else { return fail(.tooManyUnsolicitedReplies) }
        func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
        switch step {
        case .plain, .loginPasswordSent:
            guard reply.code == 235 else { return fail(.unexpectedReply(stage: step == .plain ? "AUTH PLAIN" : "AUTH LOGIN password", reply)) }
            state = .idle(capabilities)
            return .ready(capabilities)
        case .loginStarted:
            guard reply.code == 334 else { return fail(.unexpectedReply(stage: "AUTH LOGIN", reply)) }
            state = .authenticating(.loginUserSent, capabilities)
            return .write(command(base64(username)))
        case .loginUserSent:
            guard reply.code == 334 else { return fail(.unexpectedReply(stage: "AUTH LOGIN user", reply)) }
            state = .authenticating(.loginPasswordSent, capabilities)
            return .write(command(base64(password)))
        }
    }

    private mutating func transactionReply(_ reply: SMTPReply, _ transaction: inout OpenTransaction, _ capabilities: SMTPCapabilities) -> Action {
        if reply.code == 421 {
            // The relay is closing the session: the replies after this one never come.
            closed()
            return .finishTransactionAndClose(.temporary(code: 421, reply.description))
        }
        switch transaction.phase {
        case .data:
            return finish(Self.result(reply), messageWritten: true, capabilities)
        case .endingEmptyData(let result):
            return finish(result, messageWritten: true, capabilities)
        case .envelope:
            transaction.owed -= 1
            if transaction.awaitingRSET {
                // RSET's own answer says nothing about this message.
                transaction.awaitingRSET = false
            } else {
                transaction.envelopeReplies.append(reply)
            }
            if transaction.pipelined {
                guard transaction.owed == 0 else {
                    state = .transaction(transaction, capabilities)
                    return .none
                }
            } else if !transaction.unsent.isEmpty && (transaction.envelopeReplies.last?.isPositive ?? true) {
                // One command at a time, stopping at the first refusal.
                let next = transaction.unsent.removeFirst()
                transaction.owed = 1
                state = .transaction(transaction, capabilities)
                return .write(command(next))
            }
            let outcome: EnvelopeOutcome
            do {
                outcome = try Self.conclude(transaction.envelopeReplies)
            } catch let error as SMTPProtocolError {
                return fail(error)
            } catch {
                return fail(.malformedReply)
            }
            switch outcome {
            case .finished(let result):
                return finish(result, messageWritten: false, capabilities)
            case .endEmptyData(let result):
                transaction.phase = .endingEmptyData(result)
                state = .transaction(transaction, capabilities)
                return .write(followedByNext(command("."), capabilities))
            case .sendData:
                transaction.phase = .data
                state = .transaction(transaction, capabilities)
                return .write(followedByNext(transaction.data, capabilities))
            }
        }
    }

    /// The current message (or its empty end), and after it in the same write the commands
    /// of a transaction waiting for it, when pipelining.
    private mutating func followedByNext(_ bytes: ByteBuffer, _ capabilities: SMTPCapabilities) -> ByteBuffer {
        guard capabilities.pipelining, case .queued(let transaction) = next else { return bytes }
        let (open, commands) = Self.open(transaction, capabilities, reset: false)
        next = .written(open)
        var bytes = bytes
        var commandBytes = commands
        bytes.writeBuffer(&commandBytes)
        return bytes
    }

    private mutating func fail(_ error: SMTPProtocolError) -> Action {
        closed()
        return .failAndClose(error)
    }

    private func command(_ text: String) -> ByteBuffer {
        ByteBuffer(string: text + "\r\n")
    }

    // MARK: - Outcomes

    enum EnvelopeOutcome: Equatable {
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

    static func result(_ reply: SMTPReply) -> MailSendResult {
        if reply.isPositive { return .accepted(reply.description) }
        if reply.isTemporary { return .temporary(code: reply.code, reply.description) }
        return .permanent(code: reply.code, reply.description)
    }
}
