import Foundation
import KairanCore
import NIOCore

/// The socket side of a subscriber, implemented by the WebSocket route. Its methods ending
/// in `OnLoop` run on `eventLoop` only.
public protocol StreamConnection: AnyObject, Sendable {
    var eventLoop: any EventLoop { get }
    /// The wire form of one text message (done once per broadcast, shared by every socket).
    func encode(_ text: ByteBuffer) -> ByteBuffer
    /// Queues one encoded frame without flushing. A client whose socket stopped draining is
    /// disconnected here instead of letting the queue grow.
    func writeOnLoop(_ encoded: ByteBuffer)
    func flushOnLoop()
    /// Sends a close frame with `code` after what is already queued, then closes the
    /// connection.
    func closeOnLoop(code: UInt16, reason: String)
}

/// One connected client, as the hub sees it: who it is and where its frames go.
public final class StreamSubscriber: Sendable, Hashable {
    public let actor: Actor
    /// The login the socket was opened with: when it ends, so does the socket.
    public let sessionID: Int64
    public let connection: any StreamConnection
    /// What the client's error frames are written in (its `Accept-Language` at the upgrade).
    public let language: MessageLanguage

    public init(actor: Actor, sessionID: Int64, connection: any StreamConnection, language: MessageLanguage = .standard) {
        self.actor = actor
        self.sessionID = sessionID
        self.connection = connection
        self.language = language
    }

    /// Sends an `error` frame: a stable code, and a message in the client's language
    /// (`japanese` when the catalogue's words would leave out a detail).
    public func sendError(_ code: String, _ english: String, japanese: String? = nil, stream: String? = nil) {
        struct Frame: Encodable {
            let type = "error"
            let code: String
            let message: String
            let stream: String?
        }
        let message = language == .en ? english : japanese ?? ErrorText.japanese(code: code)
        // Strings in a fixed shape: encoding cannot fail.
        let data = (try? JSONEncoder().encode(Frame(code: code, message: message, stream: stream))) ?? Data()
        send(String(decoding: data, as: UTF8.self))
    }

    /// Closes the socket after what is already queued for it.
    public func close(code: UInt16, reason: String) {
        let connection = self.connection
        connection.eventLoop.execute { connection.closeOnLoop(code: code, reason: reason) }
    }

    /// Sends one frame to this client alone (replies, replays). Frames keep their order:
    /// everything for a connection is written on its event loop, in submission order.
    public func send(_ text: String) {
        send(ByteBuffer(string: text))
    }

    public func send(_ text: ByteBuffer) {
        let connection = self.connection
        let encoded = connection.encode(text)
        connection.eventLoop.execute {
            connection.writeOnLoop(encoded)
            connection.flushOnLoop()
        }
    }

    public static func == (lhs: StreamSubscriber, rhs: StreamSubscriber) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

/// Writes one frame to every live connection of a stream with one hop to each event loop
/// (not one task or hop per socket): the frame is encoded once, each loop writes the same
/// bytes to its sockets and then flushes each once.
func broadcast(_ text: ByteBuffer, to batches: some Collection<StreamHub.LoopBatch>) {
    guard let first = batches.first?.connections.values.first else { return }
    let frame = first.encode(text)
    for batch in batches {
        let connections = batch.connections
        batch.loop.execute {
            for connection in connections.values { connection.writeOnLoop(frame) }
            for connection in connections.values { connection.flushOnLoop() }
        }
    }
}
