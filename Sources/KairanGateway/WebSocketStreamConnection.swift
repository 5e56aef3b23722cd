import Metrics
import NIOCore
import NIOWebSocket

/// A stream socket as the hub writes to it. Frames are encoded once per broadcast and
/// written below NIO's frame encoder (server frames are unmasked, so every socket gets the
/// same bytes). The socket's own backpressure decides: a client with more than `limitBytes`
/// waiting in its outbound buffer is closed with 1013, so a slow reader never grows the
/// server's memory or delays anyone.
final class WebSocketStreamConnection: StreamConnection, @unchecked Sendable {
    // @unchecked: `encoder`, `closing` and `droppedAsSlow` are touched only on the channel's
    // event loop.
    let channel: any Channel
    let limitBytes: Int
    private let encoder: ChannelHandlerContext
    private var closing = false

    init(channel: any Channel, encoder: ChannelHandlerContext, limitBytes: Int) {
        self.channel = channel
        self.encoder = encoder
        self.limitBytes = limitBytes
    }

    var eventLoop: any EventLoop { channel.eventLoop }
    /// Closed with 1013 for leaving too much unread.
    private(set) var droppedAsSlow = false
    /// A close frame is on its way (or the socket is gone): nothing more is written.
    var isClosing: Bool { closing }

    func encode(_ text: ByteBuffer) -> ByteBuffer {
        let length = text.readableBytes
        var frame = ByteBufferAllocator().buffer(capacity: length + 10)
        frame.writeInteger(UInt8(0x81))  // FIN, text
        if length < 126 {
            frame.writeInteger(UInt8(length))
        } else if length <= Int(UInt16.max) {
            frame.writeInteger(UInt8(126))
            frame.writeInteger(UInt16(length))
        } else {
            frame.writeInteger(UInt8(127))
            frame.writeInteger(UInt64(length))
        }
        var payload = text
        frame.writeBuffer(&payload)
        return frame
    }

    func writeOnLoop(_ encoded: ByteBuffer) {
        guard !closing else { return }
        // `isWritable` is a cheap flag (false past NIO's high watermark); only then is the
        // exact backlog looked up.
        // The option is unreadable only on a closed channel, which needs no dropping.
        if !channel.isWritable, let buffered = try? channel.syncOptions?.getOption(.bufferedWritableBytes), buffered > limitBytes {
            droppedAsSlow = true
            Self.slowClientsDropped.increment()
            closeOnLoop(code: 1013, reason: "client too slow; reconnect with your last offsets")
            return
        }
        encoder.write(NIOAny(encoded), promise: nil)
    }

    func flushOnLoop() {
        if !closing { encoder.flush() }
    }

    private static let slowClientsDropped = Counter(label: "kairan_ws_slow_clients_dropped_total")

    /// The client gets the close frame (after what was queued before it, for a slow client
    /// that catches up), then the TCP close: a client that ignores the frame cannot keep the
    /// socket, nor can one that stopped reading (the frame never leaves; the socket goes
    /// after 5 s).
    func closeOnLoop(code: UInt16, reason: String) {
        guard !closing else { return }
        closing = true
        let channel = self.channel
        guard channel.isActive else {
            channel.close(promise: nil)
            return
        }
        var close = ByteBuffer()
        close.writeInteger(UInt8(0x88))  // FIN, close
        let reason = reason.utf8.count <= 123 ? reason : ""
        close.writeInteger(UInt8(2 + reason.utf8.count))
        close.writeInteger(code)
        close.writeString(reason)
        encoder.writeAndFlush(NIOAny(close)).whenComplete { _ in channel.close(promise: nil) }
        channel.eventLoop.scheduleTask(in: .seconds(5)) { channel.close(promise: nil) }
    }
}
