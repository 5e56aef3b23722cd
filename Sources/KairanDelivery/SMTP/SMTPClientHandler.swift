import NIOCore
import NIOSSL

/// What a session is asked to do, written into its channel.
enum SMTPClientRequest: Sendable {
    case transaction(SMTPClientStateMachine.Transaction, EventLoopPromise<MailSendResult>)
    case quit(EventLoopPromise<Void>)
}

/// Drives `SMTPClientStateMachine` on the channel's event loop: replies in, commands out,
/// TLS put in place the moment the relay agrees to STARTTLS (no hop through a task between
/// the 220 and the handshake), and a timer that closes a session whose relay stops answering.
final class SMTPClientHandler: ChannelDuplexHandler {
    typealias InboundIn = SMTPReply
    typealias OutboundIn = SMTPClientRequest
    typealias OutboundOut = ByteBuffer

    /// How TLS is started when STARTTLS is agreed.
    struct TLS {
        let context: NIOSSLContext
        let serverName: String?
    }

    private var machine: SMTPClientStateMachine
    private let tls: TLS?
    private let replyTimeout: TimeAmount
    /// Completed once: with the relay's capabilities when the session is ready, or failed.
    private let ready: EventLoopPromise<SMTPCapabilities>
    private var readyDone = false
    /// The open transactions' outcomes, oldest first (two while one is pipelined behind
    /// another).
    private var transactions = CircularBuffer<EventLoopPromise<MailSendResult>>(initialCapacity: 2)
    private var quitting: EventLoopPromise<Void>?
    private var timer: Scheduled<Void>?
    /// When the reply owed now must have come; nil when none is owed.
    private var deadline: NIODeadline?
    private var failure: SMTPProtocolError?

    init(configuration: SMTPClientStateMachine.Configuration, tls: TLS?, replyTimeout: TimeAmount, ready: EventLoopPromise<SMTPCapabilities>) {
        self.machine = SMTPClientStateMachine(configuration: configuration)
        self.tls = tls
        self.replyTimeout = replyTimeout
        self.ready = ready
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { armTimer(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        // The greeting is owed from now.
        armTimer(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        perform(machine.replyReceived(unwrapInboundIn(data)), context: context)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        promise?.succeed()
        switch unwrapOutboundIn(data) {
        case .transaction(let request, let result):
            if let failure { return result.fail(failure) }
            guard let action = machine.start(request) else { return result.fail(SMTPProtocolError.sessionBusy) }
            transactions.append(result)
            perform(action, context: context)
        case .quit(let done):
            guard failure == nil, let action = machine.quit() else {
                context.close(promise: nil)
                return done.succeed()
            }
            quitting = done
            perform(action, context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(error as? SMTPProtocolError ?? .connectionFailed(String(describing: type(of: error))))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.connectionClosed)
        context.fireChannelInactive()
    }

    private func perform(_ action: SMTPClientStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .write(let bytes):
            context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
        case .startTLSAndWrite(let bytes):
            guard let tls else { return fail(.missingExtension("TLS context"), context: context) }
            do {
                let handler = try NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverName)
                try context.pipeline.syncOperations.addHandler(handler, position: .first)
            } catch {
                return fail(.connectionFailed("TLS: \(type(of: error))"), context: context)
            }
            context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
        case .ready(let capabilities):
            readyDone = true
            ready.succeed(capabilities)
        case .finishTransaction(let result):
            transactions.popFirst()?.succeed(result)
        case .finishTransactionAndWrite(let result, let bytes):
            context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
            transactions.popFirst()?.succeed(result)
        case .finishTransactionAndClose(let result):
            let promise = transactions.popFirst()
            failure = .connectionClosed
            promise?.succeed(result)
            // A transaction behind it never reached the relay's reading.
            failAll(.connectionClosed)
            context.close(promise: nil)
        case .quitFinished:
            let promise = quitting
            quitting = nil
            context.close(promise: nil)
            promise?.succeed()
        case .failAndClose(let error):
            fail(error, context: context)
        }
        if machine.isAwaitingReply { armTimer(context: context) } else { cancelTimer() }
    }

    private func fail(_ error: SMTPProtocolError, context: ChannelHandlerContext) {
        machine.closed()
        failAll(error)
        context.close(promise: nil)
    }

    /// Every promise still open fails with the first error the session met.
    private func failAll(_ error: SMTPProtocolError) {
        machine.closed()
        cancelTimer(ended: true)
        if failure == nil { failure = error }
        let error = failure ?? error
        if !readyDone {
            readyDone = true
            ready.fail(error)
        }
        while let promise = transactions.popFirst() { promise.fail(error) }
        // QUIT's reply is a courtesy: a session that ends while quitting has quit.
        quitting?.succeed()
        quitting = nil
    }

    /// The relay owes a reply within `replyTimeout` of the last one (or of the command).
    ///
    /// Moving the deadline is a store: the one scheduled check, when it fires, sleeps again
    /// until the deadline as it then is (cancelling and scheduling a task for every reply
    /// was a few percent of the worker's CPU in a town-wide alert).
    private func armTimer(context: ChannelHandlerContext) {
        deadline = context.eventLoop.now + replyTimeout
        if timer == nil { scheduleCheck(context: context) }
    }

    private func scheduleCheck(context: ChannelHandlerContext) {
        guard let deadline else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.timer = nil
            guard let deadline = handler.deadline else { return }  // no reply owed now
            if deadline > context.eventLoop.now {
                handler.scheduleCheck(context: context)
            } else {
                handler.fail(.timeout, context: context)
            }
        }
    }

    /// No reply is owed: the scheduled check finds nothing to do (or, for a session that
    /// ended, is cancelled).
    private func cancelTimer(ended: Bool = false) {
        deadline = nil
        if ended {
            timer?.cancel()
            timer = nil
        }
    }
}
