import Foundation
import NIOCore
import NIOEmbedded
import Testing

@testable import KairanDelivery

/// The SMTP client's reply parsing, reply hand-out and dot-stuffing, on an `EmbeddedChannel`:
/// the server's bytes arrive exactly as a test splits them, with no network and no timing.
@Suite struct SMTPProtocolTests {
    /// A channel with the client's reply pipeline: the decoder and the handler that gives
    /// each reply to the command that asked for it.
    private func makeChannel() throws -> (EmbeddedChannel, SMTPClientHandler) {
        let handler = SMTPClientHandler()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPReplyDecoder()))
        try channel.pipeline.syncOperations.addHandler(handler)
        return (channel, handler)
    }

    private func expectReply(_ channel: EmbeddedChannel, _ handler: SMTPClientHandler) -> EventLoopFuture<SMTPReply> {
        let promise = channel.eventLoop.makePromise(of: SMTPReply.self)
        handler.expect(promise)
        return promise.futureResult
    }

    private func receive(_ channel: EmbeddedChannel, _ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    /// The outcome of a future an `EmbeddedChannel` has already run.
    private func outcome(_ future: EventLoopFuture<SMTPReply>) -> Result<SMTPReply, any Error>? {
        var result: Result<SMTPReply, any Error>?
        future.whenComplete { result = $0 }
        return result
    }

    @Test func aMultiLineReplySplitAcrossReadsIsOneReply() throws {
        let (channel, handler) = try makeChannel()
        let ehlo = expectReply(channel, handler)
        // Split inside a line, inside the code, and between CR and LF.
        for piece in ["250-relay.town.exa", "mple.jp\r\n25", "0-PIPELINING\r", "\n250-8BITMIME\r\n250 SIZE 10240000", "\r\n"] {
            #expect(outcome(ehlo) == nil, "not before the last line")
            try receive(channel, piece)
        }
        let reply = try #require(try outcome(ehlo)?.get())
        #expect(reply.code == 250)
        #expect(reply.lines == ["relay.town.example.jp", "PIPELINING", "8BITMIME", "SIZE 10240000"])
    }

    @Test func pipelinedRepliesInOneReadGoToTheirCommandsInOrder() throws {
        let (channel, handler) = try makeChannel()
        let mail = expectReply(channel, handler)
        let rcpt = expectReply(channel, handler)
        let data = expectReply(channel, handler)
        try receive(channel, "250 2.1.0 Ok\r\n550 5.1.1 <taro@docomo.ne.jp>: Recipient address rejected\r\n354 End data with <CR><LF>.<CR><LF>\r\n")
        #expect(try outcome(mail)?.get().code == 250)
        #expect(try outcome(rcpt)?.get() == SMTPReply(code: 550, lines: ["5.1.1 <taro@docomo.ne.jp>: Recipient address rejected"]))
        #expect(try outcome(data)?.get().code == 354)
    }

    @Test func a421MidPipelineAnswersItsCommandAndTheRestFailWhenTheServerCloses() throws {
        let (channel, handler) = try makeChannel()
        let mail = expectReply(channel, handler)
        let rcpt = expectReply(channel, handler)
        let data = expectReply(channel, handler)
        try receive(channel, "250 Ok\r\n421 4.7.0 Too many messages from you, closing\r\n")
        #expect(try outcome(mail)?.get().code == 250)
        let shed = try #require(try outcome(rcpt)?.get())
        #expect(shed.code == 421 && shed.isTemporary)
        #expect(outcome(data) == nil, "still waiting until the server closes")
        channel.pipeline.fireChannelInactive()
        #expect(throws: SMTPProtocolError.self) { try outcome(data)?.get() }
    }

    @Test func aReplyNobodyAskedForEndsTheSession() throws {
        let (channel, handler) = try makeChannel()
        // The greeting comes before anyone asked: it is kept for the first command.
        try receive(channel, "220 relay ESMTP\r\n")
        let greeting = expectReply(channel, handler)
        #expect(try outcome(greeting)?.get().code == 220)
        let rset = expectReply(channel, handler)
        // An injected second reply would shift every later answer onto the wrong command.
        try receive(channel, "250 Ok\r\n250 Ok\r\n")
        #expect(try outcome(rset)?.get().code == 250)
        #expect(!channel.isActive, "the session is closed")
        let next = expectReply(channel, handler)
        #expect(throws: SMTPProtocolError.self) { try outcome(next)?.get() }
    }

    @Test func malformedAndOversizedRepliesFailTheWaitingCommand() throws {
        do {
            let (channel, handler) = try makeChannel()
            let waiting = expectReply(channel, handler)
            try? receive(channel, "hello there\r\n")
            #expect(throws: SMTPProtocolError.self) { try outcome(waiting)?.get() }
        }
        do {
            let (channel, handler) = try makeChannel()
            let waiting = expectReply(channel, handler)
            // A line that never ends is refused once it passes the bound, not buffered on.
            try? receive(channel, "250-" + String(repeating: "x", count: 3000))
            #expect(throws: SMTPProtocolError.self) { try outcome(waiting)?.get() }
        }
    }

    @Test func tooManyContinuationLinesAreRefused() throws {
        let (channel, handler) = try makeChannel()
        let waiting = expectReply(channel, handler)
        let lines = String(repeating: "250-x\r\n", count: SMTPReplyDecoder.maxLines + 1)
        try? receive(channel, lines)
        #expect(throws: SMTPProtocolError.self) { try outcome(waiting)?.get() }
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
