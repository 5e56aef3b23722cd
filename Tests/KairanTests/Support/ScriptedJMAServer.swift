import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A web server on loopback serving files as JMA's does: each with a Last-Modified, a 304
/// to a conditional GET for an unchanged one, 404 for what it does not have, and a scripted
/// failure when a test asks for one. It records every request.
final class ScriptedJMAServer: Sendable {
    struct Request: Sendable, Equatable {
        let path: String
        let ifModifiedSince: String?
        let userAgent: String?
    }

    private struct File {
        var body: [UInt8]
        var lastModified: String
    }

    private struct State {
        var files: [String: File] = [:]
        var failures: [String: [Int]] = [:]
        var requests: [Request] = []
        var version = 0
    }

    private let state = Mutex(State())
    private let channel: any Channel
    let port: Int

    private init(channel: any Channel) {
        self.channel = channel
        port = channel.localAddress?.port ?? 0
    }

    static func start() async throws -> ScriptedJMAServer {
        let box = Box()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(FileHandler(server: box.server))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let server = ScriptedJMAServer(channel: channel)
        box.set(server)
        return server
    }

    func stop() async {
        try? await channel.close()
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Puts a file (a new Last-Modified each time, as a rebuilt feed has).
    func put(_ path: String, _ text: String) {
        state.withLock { state in
            state.version += 1
            let date = Date(timeIntervalSince1970: 1_780_000_000 + Double(state.version) * 60)
            state.files[path] = File(body: Array(text.utf8), lastModified: Self.httpDate(date))
        }
    }

    /// The next requests for `path` are answered with these statuses, one each.
    func fail(_ path: String, with statuses: [Int]) {
        state.withLock { $0.failures[path, default: []] += statuses }
    }

    var requests: [Request] { state.withLock { $0.requests } }

    func requests(for path: String) -> [Request] { requests.filter { $0.path == path } }

    func clearRequests() { state.withLock { $0.requests = [] } }

    fileprivate func answer(_ head: HTTPRequestHead) -> (HTTPResponseStatus, HTTPHeaders, [UInt8]) {
        state.withLock { state in
            let path = head.uri
            state.requests.append(Request(path: path, ifModifiedSince: head.headers.first(name: "If-Modified-Since"),
                                          userAgent: head.headers.first(name: "User-Agent")))
            if var scripted = state.failures[path], !scripted.isEmpty {
                let status = scripted.removeFirst()
                state.failures[path] = scripted
                return (HTTPResponseStatus(statusCode: status), HTTPHeaders([("Content-Length", "0")]), [])
            }
            guard let file = state.files[path] else { return (.notFound, HTTPHeaders([("Content-Length", "0")]), []) }
            if head.headers.first(name: "If-Modified-Since") == file.lastModified {
                return (.notModified, HTTPHeaders([("Last-Modified", file.lastModified)]), [])
            }
            return (.ok, HTTPHeaders([("Content-Type", "application/xml"), ("Last-Modified", file.lastModified),
                                      ("Content-Length", "\(file.body.count)")]), file.body)
        }
    }

    static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }
}

private final class Box: Sendable {
    private let stored = Mutex<ScriptedJMAServer?>(nil)
    func set(_ server: ScriptedJMAServer) { stored.withLock { $0 = server } }
    var server: @Sendable () -> ScriptedJMAServer? { { self.stored.withLock { $0 } } }
}

private final class FileHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let server: @Sendable () -> ScriptedJMAServer?
    private var head: HTTPRequestHead?

    init(server: @escaping @Sendable () -> ScriptedJMAServer?) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            let (status, headers, body) = server()?.answer(head) ?? (.serviceUnavailable, HTTPHeaders([("Content-Length", "0")]), [])
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            if !body.isEmpty {
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            self.head = nil
        }
    }
}
