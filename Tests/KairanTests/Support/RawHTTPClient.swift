import Foundation
import NIOCore
import NIOPosix
import NIOConcurrencyHelpers

/// A TCP client that sends bytes exactly as given (junk an HTTP client library would never
/// send) and reads what comes back until the server closes the connection.
enum RawHTTPClient {
    struct Exchange: Sendable {
        /// Everything the server sent, as text (invalid UTF-8 replaced).
        var response: String { String(decoding: bytes, as: UTF8.self) }
        /// Everything the server sent.
        let bytes: [UInt8]
        /// Whether the server closed the connection within the time allowed.
        let closedByServer: Bool
        let elapsed: Duration

        /// The status codes of the responses in order (several on a kept-alive connection).
        var statuses: [Int] {
            response.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
        }
    }

    /// Connects to 127.0.0.1:`port`, writes each chunk in turn (a write the server refuses
    /// by closing is not an error: the answer may already be on its way), then reads until
    /// the server closes or `timeout` passes (what arrived until then is the answer).
    static func exchange(port: Int, _ chunks: [[UInt8]], timeout: Duration = .seconds(10)) async throws -> Exchange {
        let start = ContinuousClock.now
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            let received = NIOLockedValueBox<[UInt8]>([])
            return try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    do {
                        for try await chunk in inbound { received.withLockedValue { $0.append(contentsOf: chunk.readableBytesView) } }
                    } catch {
                        // A reset after the answer still counts as the server closing.
                    }
                    return true
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return false
                }
                for chunk in chunks {
                    do { try await outbound.write(ByteBuffer(bytes: chunk)) } catch { break }
                }
                let closed = try await group.next() ?? false
                group.cancelAll()
                return Exchange(bytes: received.withLockedValue { $0 }, closedByServer: closed, elapsed: ContinuousClock.now - start)
            }
        }
    }

    /// A well-formed request, as an HTTP client would write it, that asks the server to close
    /// the connection after its answer (so `exchange` returns with it).
    static func request(_ method: String, _ path: String, json: String? = nil, token: String? = nil) -> String {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: kairan\r\nConnection: close\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        guard let json else { return head + "\r\n" }
        return head + "Content-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n\r\n\(json)"
    }

    static func exchange(port: Int, _ text: String, timeout: Duration = .seconds(10)) async throws -> Exchange {
        try await exchange(port: port, [Array(text.utf8)], timeout: timeout)
    }
}
