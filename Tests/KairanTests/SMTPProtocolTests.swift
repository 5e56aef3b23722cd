import Foundation
import Logging
import NIOCore
import NIOEmbedded
import NIOSSL
import Testing

@testable import KairanDelivery

/// The SMTP client, state by state, on an `EmbeddedChannel`: the relay's bytes arrive exactly
/// as a test splits them, the client's commands are read back as written, and time moves
/// only when a test moves it — no network, no sleeping.
@Suite struct SMTPProtocolTests {
    /// A session's channel: the reply decoder and the handler running the state machine.
    struct Session {
        let channel: EmbeddedChannel
        let ready: EventLoopFuture<SMTPCapabilities>

        init(requireStartTLS: Bool = false, credentials: (String, String)? = nil, tls: SMTPClientHandler.TLS? = nil, timeout: TimeAmount = .seconds(60)) throws {
            channel = EmbeddedChannel()
            let promise = channel.eventLoop.makePromise(of: SMTPCapabilities.self)
            ready = promise.futureResult
            let configuration = SMTPClientStateMachine.Configuration(heloName: "kairan.town.example.jp", requireStartTLS: requireStartTLS,
                                                                     credentials: credentials)
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPReplyDecoder()))
            try channel.pipeline.syncOperations.addHandler(SMTPClientHandler(configuration: configuration, tls: tls, replyTimeout: timeout, ready: promise))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 25)).wait()
        }

        /// The relay says `text` (any number of lines, or part of one).
        func relay(_ text: String) throws {
            try channel.writeInbound(ByteBuffer(string: text))
        }

        /// Everything the client wrote since the last look, as text.
        func written() throws -> String {
            var text = ""
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
            return text
        }

        /// Greeting and EHLO, up to a ready session offering `extensions`.
        func establish(_ extensions: [String] = ["PIPELINING", "8BITMIME", "SIZE 10240000"]) throws -> SMTPCapabilities {
            try relay("220 relay.town.example.jp ESMTP\r\n")
            #expect(try written() == "EHLO kairan.town.example.jp\r\n")
            let lines = ["relay.town.example.jp"] + extensions
            try relay(lines.enumerated().map { "250\($0.offset == lines.count - 1 ? " " : "-")\($0.element)\r\n" }.joined())
            return try #require(try outcome(ready)?.get())
        }

        func send(to recipient: String = "<taro@docomo.ne.jp>", message: String = "Subject: 訓練\r\n\r\n本文\r\n") -> EventLoopFuture<MailSendResult> {
            let promise = channel.eventLoop.makePromise(of: MailSendResult.self)
            let bytes = Array(message.utf8)
            let transaction = SMTPClientStateMachine.Transaction(
                reversePath: "bounce+1@town.example.jp", recipientPath: recipient, size: bytes.count, eightBit: true,
                data: SMTPConnection.dotStuffed(bytes, allocator: channel.allocator))
            channel.writeAndFlush(SMTPClientRequest.transaction(transaction, promise), promise: nil)
            return promise.futureResult
        }
    }

    /// The outcome of a future the embedded loop has already run; nil while pending.
    static func outcome<T: Sendable>(_ future: EventLoopFuture<T>) -> Result<T, any Error>? {
        // The embedded loop runs the callback right here, on this thread.
        let box = OutcomeBox<T>()
        future.whenComplete { box.result = $0 }
        return box.result
    }

    func outcome<T: Sendable>(_ future: EventLoopFuture<T>) -> Result<T, any Error>? { Self.outcome(future) }

    func failure<T: Sendable>(_ future: EventLoopFuture<T>) -> SMTPProtocolError? {
        guard case .failure(let error)? = outcome(future) else { return nil }
        return error as? SMTPProtocolError
    }

    // MARK: - Establishing the session

    @Test func aMultiLineEHLOReplySplitAcrossReadsIsOneReply() throws {
        let session = try Session()
        try session.relay("220 relay ESMTP\r\n")
        #expect(try session.written() == "EHLO kairan.town.example.jp\r\n")
        // Split inside a line, inside the code, and between CR and LF.
        for piece in ["250-relay.town.exa", "mple.jp\r\n25", "0-PIPELINING\r", "\n250-8BITMIME\r\n250 SIZE 10240000", "\r\n"] {
            #expect(outcome(session.ready) == nil, "not before the last line")
            try session.relay(piece)
        }
        let capabilities = try #require(try outcome(session.ready)?.get())
        #expect(capabilities.pipelining && capabilities.eightBitMIME && capabilities.maxSize == 10_240_000 && !capabilities.startTLS)
    }

    @Test func aRelayWithoutESMTPGetsHELOAndPlainSMTP() throws {
        let session = try Session()
        try session.relay("220 old relay\r\n")
        _ = try session.written()
        try session.relay("502 5.5.1 command not recognized\r\n")
        #expect(try session.written() == "HELO kairan.town.example.jp\r\n")
        try session.relay("250 hello\r\n")
        let capabilities = try #require(try outcome(session.ready)?.get())
        #expect(!capabilities.pipelining && !capabilities.eightBitMIME)
    }

    @Test func aGreetingOtherThan220EndsTheSession() throws {
        let session = try Session()
        try session.relay("554 5.3.2 no service for you\r\n")
        #expect(failure(session.ready) == .unexpectedReply(stage: "greeting", SMTPReply(code: 554, lines: ["5.3.2 no service for you"])))
        #expect(!session.channel.isActive)
    }

    @Test func startTLSPutsTLSFirstInThePipelineBeforeTheSecondEHLO() throws {
        let tls = try NIOSSLContext(configuration: .makeClientConfiguration())
        let session = try Session(requireStartTLS: true, tls: .init(context: tls, serverName: "relay.town.example.jp"))
        try session.relay("220 relay ESMTP\r\n")
        _ = try session.written()
        try session.relay("250-relay\r\n250-STARTTLS\r\n250 PIPELINING\r\n")
        #expect(try session.written() == "STARTTLS\r\n")
        try session.relay("220 2.0.0 go ahead\r\n")
        // In the same read: TLS is in place and the handshake has begun, so the EHLO that
        // follows can only go out encrypted.
        #expect((try? session.channel.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)) != nil)
        var hello = try #require(try session.channel.readOutbound(as: ByteBuffer.self))
        #expect(hello.readInteger(as: UInt8.self) == 0x16, "a TLS handshake record, not plaintext")
        #expect(outcome(session.ready) == nil, "not ready before the EHLO inside TLS is answered")
    }

    @Test func aRelayThatDoesNotOfferStartTLSIsRefusedWhenTLSIsRequired() throws {
        let session = try Session(requireStartTLS: true)
        try session.relay("220 relay ESMTP\r\n250-relay\r\n250 PIPELINING\r\n")
        #expect(failure(session.ready) == .missingExtension("STARTTLS"))
        #expect(try !session.written().contains("MAIL"))
        #expect(!session.channel.isActive)
    }

    @Test func authLoginGoesStepByStep() throws {
        let session = try Session(credentials: ("kairan", "秘密"))
        try session.relay("220 relay ESMTP\r\n")
        _ = try session.written()
        try session.relay("250-relay\r\n250 AUTH LOGIN\r\n")
        #expect(try session.written() == "AUTH LOGIN\r\n")
        try session.relay("334 VXNlcm5hbWU6\r\n")
        #expect(try session.written() == Data("kairan".utf8).base64EncodedString() + "\r\n")
        try session.relay("334 UGFzc3dvcmQ6\r\n")
        #expect(try session.written() == Data("秘密".utf8).base64EncodedString() + "\r\n")
        #expect(outcome(session.ready) == nil)
        try session.relay("235 2.7.0 Authentication successful\r\n")
        #expect(try outcome(session.ready)?.get() != nil)
    }

    @Test func refusedCredentialsEndTheSession() throws {
        let session = try Session(credentials: ("kairan", "wrong"))
        try session.relay("220 relay ESMTP\r\n250-relay\r\n250 AUTH PLAIN LOGIN\r\n")
        #expect(try session.written().hasPrefix("EHLO kairan.town.example.jp\r\nAUTH PLAIN "))
        try session.relay("535 5.7.8 Authentication credentials invalid\r\n")
        #expect(failure(session.ready) == .unexpectedReply(stage: "AUTH PLAIN", SMTPReply(code: 535, lines: ["5.7.8 Authentication credentials invalid"])))
    }

    // MARK: - Transactions

    @Test func aPipelinedTransactionWritesTheEnvelopeOnceThenTheMessage() throws {
        let session = try Session()
        _ = try session.establish()
        let sent = session.send()
        #expect(try session.written() == "MAIL FROM:<bounce+1@town.example.jp> BODY=8BITMIME SIZE=27\r\nRCPT TO:<taro@docomo.ne.jp>\r\nDATA\r\n")
        try session.relay("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n")
        #expect(try session.written() == "Subject: 訓練\r\n\r\n本文\r\n.\r\n")
        #expect(outcome(sent) == nil)
        try session.relay("250 2.0.0 Ok: queued as 4Xyz\r\n")
        #expect(try outcome(sent)?.get() == .accepted("250 2.0.0 Ok: queued as 4Xyz"))
        // The transaction ended with its message: the next needs no RSET.
        _ = session.send()
        #expect(try session.written().hasPrefix("MAIL FROM:"))
    }

    // MARK: - Pipelining across transactions (RFC 2920)

    static let envelope = "MAIL FROM:<bounce+1@town.example.jp> BODY=8BITMIME SIZE=27\r\nRCPT TO:<taro@docomo.ne.jp>\r\nDATA\r\n"
    static let message = "Subject: 訓練\r\n\r\n本文\r\n.\r\n"

    @Test func theNextTransactionsCommandsFollowTheMessagesEndInOneWrite() throws {
        let session = try Session()
        _ = try session.establish()
        let first = session.send()
        let second = session.send(to: "<hanako@ezweb.ne.jp>")
        // DATA ends a group: the second envelope waits for the first message.
        #expect(try session.written() == Self.envelope)
        try session.relay("250 Ok\r\n250 Ok\r\n354 go\r\n")
        let next = Self.envelope.replacingOccurrences(of: "taro@docomo.ne.jp", with: "hanako@ezweb.ne.jp")
        var written = ""
        while let buffer = try session.channel.readOutbound(as: ByteBuffer.self) {
            #expect(written.isEmpty, "one write")
            written += String(buffer: buffer)
        }
        #expect(written == Self.message + next)
        // The replies come in order: the first message's, then the second envelope's.
        try session.relay("250 2.0.0 queued as A\r\n250 Ok\r\n250 Ok\r\n354 go\r\n")
        #expect(try outcome(first)?.get() == .accepted("250 2.0.0 queued as A"))
        #expect(outcome(second) == nil)
        #expect(try session.written() == Self.message)
        try session.relay("250 2.0.0 queued as B\r\n")
        #expect(try outcome(second)?.get() == .accepted("250 2.0.0 queued as B"))
        #expect(try outcome(session.ready)?.get() != nil)
    }

    @Test func aTransactionStartedAfterTheMessageWentOutIsWrittenAtOnce() throws {
        let session = try Session()
        _ = try session.establish()
        let first = session.send()
        _ = try session.written()
        try session.relay("250 Ok\r\n250 Ok\r\n354 go\r\n")
        #expect(try session.written() == Self.message)
        let second = session.send()
        #expect(try session.written() == Self.envelope)
        // A third waits for a free place: two are open.
        #expect(failure(session.send()) == .sessionBusy)
        try session.relay("250 queued\r\n250 Ok\r\n250 Ok\r\n354 go\r\n")
        #expect(try outcome(first)?.get() == .accepted("250 queued"))
        #expect(try session.written() == Self.message)
        #expect(outcome(second) == nil)
    }

    @Test func aRefusedEnvelopeIsResetBeforeTheNextTransaction() throws {
        let session = try Session()
        _ = try session.establish()
        let first = session.send()
        let second = session.send()
        _ = try session.written()
        // MAIL accepted, RCPT refused, DATA refused: the relay still holds the sender.
        try session.relay("250 Ok\r\n550 5.1.1 unknown user\r\n554 5.5.1 no valid recipients\r\n")
        #expect(try outcome(first)?.get() == .recipientRefused(code: 550, "550 5.1.1 unknown user"))
        #expect(try session.written() == "RSET\r\n" + Self.envelope)
        try session.relay("250 Ok\r\n250 Ok\r\n250 Ok\r\n354 go\r\n")
        #expect(try session.written() == Self.message)
        try session.relay("250 queued\r\n")
        #expect(try outcome(second)?.get() == .accepted("250 queued"))
    }

    @Test func a421ForTheFirstMessageFailsTheOneBehindIt() throws {
        let session = try Session()
        _ = try session.establish()
        let first = session.send()
        let second = session.send()
        _ = try session.written()
        try session.relay("250 Ok\r\n250 Ok\r\n354 go\r\n")
        _ = try session.written()
        try session.relay("421 4.7.0 closing\r\n")
        #expect(try outcome(first)?.get() == .temporary(code: 421, "421 4.7.0 closing"))
        #expect(failure(second) == .connectionClosed, "never read by the relay: sent again later")
        #expect(!session.channel.isActive)
    }

    @Test func withoutPipeliningTheNextTransactionWaitsForTheLastReply() throws {
        let session = try Session()
        _ = try session.establish(["8BITMIME"])
        let first = session.send()
        let second = session.send()
        #expect(try session.written() == "MAIL FROM:<bounce+1@town.example.jp> BODY=8BITMIME\r\n")
        try session.relay("250 Ok\r\n")
        _ = try session.written()
        try session.relay("250 Ok\r\n")
        _ = try session.written()
        try session.relay("354 go\r\n")
        #expect(try session.written() == Self.message, "the message alone")
        try session.relay("250 queued\r\n")
        #expect(try outcome(first)?.get() == .accepted("250 queued"))
        #expect(try session.written() == "MAIL FROM:<bounce+1@town.example.jp> BODY=8BITMIME\r\n")
        #expect(outcome(second) == nil)
    }

    @Test func aDotAloneOnALineInTheMessageCannotEndItEarly() throws {
        let session = try Session()
        _ = try session.establish()
        _ = session.send(message: "本文\r\n.\r\n続き\r\n")
        _ = try session.written()
        try session.relay("250 Ok\r\n250 Ok\r\n354 go\r\n")
        #expect(try session.written() == "本文\r\n..\r\n続き\r\n.\r\n")
    }

    @Test func a421MidPipelineIsATemporaryFailureAndTheSessionCloses() throws {
        let session = try Session()
        _ = try session.establish()
        let sent = session.send()
        _ = try session.written()
        try session.relay("250 Ok\r\n421 4.7.0 Too many messages from you, closing\r\n")
        #expect(try outcome(sent)?.get() == .temporary(code: 421, "421 4.7.0 Too many messages from you, closing"))
        #expect(!session.channel.isActive)
        #expect(try session.written().isEmpty, "no message after the relay hung up")
    }

    @Test func withoutPipeliningTheClientStopsAtTheFirstRefusal() throws {
        let session = try Session()
        _ = try session.establish(["8BITMIME"])
        let sent = session.send()
        #expect(try session.written() == "MAIL FROM:<bounce+1@town.example.jp> BODY=8BITMIME\r\n")
        try session.relay("250 Ok\r\n")
        #expect(try session.written() == "RCPT TO:<taro@docomo.ne.jp>\r\n")
        try session.relay("550 5.1.1 <taro@docomo.ne.jp>: Recipient address rejected\r\n")
        #expect(try outcome(sent)?.get() == .recipientRefused(code: 550, "550 5.1.1 <taro@docomo.ne.jp>: Recipient address rejected"))
        #expect(try session.written().isEmpty, "no DATA after a refused recipient")
    }

    @Test func a354AfterARefusedRecipientIsEndedEmptyAndTheRefusalReported() throws {
        let session = try Session()
        _ = try session.establish()
        let sent = session.send()
        _ = try session.written()
        try session.relay("250 Ok\r\n550 5.1.1 unknown user\r\n354 go ahead anyway\r\n")
        #expect(try session.written() == ".\r\n", "the empty transaction is ended; the message is not sent")
        #expect(outcome(sent) == nil)
        try session.relay("554 5.5.1 no valid recipients\r\n")
        #expect(try outcome(sent)?.get() == .recipientRefused(code: 550, "550 5.1.1 unknown user"))
        #expect(session.channel.isActive, "the session is still usable")
    }

    @Test func aPositiveReplyToDATAOtherThan354BreaksTheSession() throws {
        let session = try Session()
        _ = try session.establish()
        let sent = session.send()
        try session.relay("250 Ok\r\n250 Ok\r\n250 Ok\r\n")
        #expect(failure(sent) == .unexpectedReply(stage: "DATA", SMTPReply(code: 250, lines: ["Ok"])))
        #expect(!session.channel.isActive)
    }

    @Test func aReplyNobodyAskedForEndsTheSession() throws {
        let session = try Session()
        _ = try session.establish()
        // An idle session's injected reply would shift every later answer onto the wrong command.
        try session.relay("250 Ok\r\n")
        #expect(!session.channel.isActive)
        #expect(failure(session.send()) == .tooManyUnsolicitedReplies)
    }

    // MARK: - Timeouts

    @Test func aRelayThatNeverGreetsIsGivenUpOnAtTheTimeout() throws {
        let session = try Session(timeout: .seconds(30))
        session.channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        #expect(outcome(session.ready) == nil)
        session.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(failure(session.ready) == .timeout)
        #expect(!session.channel.isActive)
    }

    @Test func aRelayThatStopsAnsweringMidTransactionFailsItAtTheTimeout() throws {
        let session = try Session(timeout: .seconds(30))
        _ = try session.establish()
        // Idle sessions owe nothing: no timer runs while the pool holds them.
        session.channel.embeddedEventLoop.advanceTime(by: .seconds(600))
        #expect(session.channel.isActive)
        let sent = session.send()
        try session.relay("250 Ok\r\n")
        session.channel.embeddedEventLoop.advanceTime(by: .seconds(20))
        try session.relay("250 Ok\r\n")
        // Each reply restarts the clock: 20 s + 20 s is not a timeout.
        session.channel.embeddedEventLoop.advanceTime(by: .seconds(20))
        #expect(outcome(sent) == nil)
        session.channel.embeddedEventLoop.advanceTime(by: .seconds(11))
        #expect(failure(sent) == .timeout)
        #expect(!session.channel.isActive)
    }

    // MARK: - Reply parsing

    @Test func malformedAndOversizedRepliesFailTheSession() throws {
        do {
            let session = try Session()
            try? session.relay("hello there\r\n")
            #expect(failure(session.ready) == .malformedReply)
        }
        do {
            let session = try Session()
            // A line that never ends is refused once it passes the bound, not buffered on.
            try? session.relay("220-" + String(repeating: "x", count: 3000))
            #expect(failure(session.ready) == .lineTooLong)
        }
    }

    @Test func tooManyContinuationLinesAreRefused() throws {
        let session = try Session()
        try? session.relay(String(repeating: "220-x\r\n", count: SMTPReplyDecoder.maxLines + 1))
        #expect(failure(session.ready) == .tooManyLines)
    }

    // MARK: - The pool

    final class FakeSession: Sendable {
        let number: Int
        init(_ number: Int) { self.number = number }
    }

    @Test func thePoolServesWaitersInOrderAndALaterCallerCannotOvertake() async throws {
        let opened = Counter()
        let pool = SessionPool<FakeSession>(limit: 1, logger: Logger(label: "test")) {
            FakeSession(await opened.next())
        } isUsable: { _ in true } close: { _ in }
        let first = try await pool.checkout()
        let waiter = Task { try await pool.checkout() }
        while await pool.waiting == 0 { await Task.yield() }
        await pool.checkin(first, reusable: true)
        // The session was handed to the waiter at check-in: a caller arriving now waits.
        let late = Task { try await pool.checkout() }
        while await pool.waiting == 0 { await Task.yield() }
        #expect(try await waiter.value === first)
        #expect(await pool.waiting == 1, "the late caller is still waiting")
        await pool.checkin(first, reusable: false)
        #expect(try await late.value.number == 2, "the freed slot went to it: it opened a new session")
        #expect(await opened.value == 2)
    }

    final class OutcomeBox<T: Sendable>: @unchecked Sendable {
        var result: Result<T, any Error>?
    }

    actor Counter {
        private(set) var value = 0
        func next() -> Int {
            value += 1
            return value
        }
    }

    // MARK: - Dot-stuffing (RFC 5321 §4.5.2)

    private func stuffed(_ message: String) -> String {
        String(buffer: SMTPConnection.dotStuffed(Array(message.utf8), allocator: ByteBufferAllocator()))
    }

    @Test func aDotAloneOnALineCannotEndTheMessageEarly() {
        #expect(stuffed("本文\r\n.\r\n続き\r\n") == "本文\r\n..\r\n続き\r\n.\r\n")
    }

    @Test func everyLineStartingWithADotGetsOneMore() {
        #expect(stuffed(".first\r\n..second\r\nthird.\r\n") == "..first\r\n...second\r\nthird.\r\n.\r\n")
    }

    @Test func aMessageWithoutAFinalLineBreakGetsOneBeforeTheTerminator() {
        #expect(stuffed("one line") == "one line\r\n.\r\n")
        #expect(stuffed("") == "\r\n.\r\n")
    }
}
