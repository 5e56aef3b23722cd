import Foundation
import HummingbirdTesting
import NIOWebSocket
import Synchronization
import Testing

@testable import KairanServer

/// The stream socket's own protocol work, below the JSON messages: the heartbeat, pings,
/// fragmented and malformed frames, and the close on shutdown. Spoken with raw bytes, as a
/// client library would never send some of them.
@Suite struct StreamGatewayTests {
    /// A server frame as read off the wire (servers never mask).
    struct Frame: Equatable, CustomStringConvertible {
        let opcode: UInt8
        let payload: [UInt8]
        var text: String { String(decoding: payload, as: UTF8.self) }
        var closeCode: Int? { opcode == 0x8 && payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : nil }
        var description: String { "opcode \(opcode): \(text)" }
    }

    /// The frames after the 101 answer; nil when the upgrade was not accepted.
    static func frames(_ exchange: RawHTTPClient.Exchange) -> [Frame]? {
        let bytes = exchange.bytes
        guard exchange.statuses.first == 101, let end = bytes.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound else { return nil }
        var frames: [Frame] = []
        var index = end
        while index + 2 <= bytes.count {
            var length = Int(bytes[index + 1] & 0x7F)
            var start = index + 2
            if length == 126 {
                guard start + 2 <= bytes.count else { break }
                length = Int(bytes[start]) << 8 | Int(bytes[start + 1])
                start += 2
            }
            guard start + length <= bytes.count else { break }
            frames.append(Frame(opcode: bytes[index] & 0x0F, payload: Array(bytes[start..<start + length])))
            index = start + length
        }
        return frames
    }

    /// A client frame: masked, as RFC 6455 requires of clients (unless `masked` is false).
    static func clientFrame(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, masked: Bool = true) -> [UInt8] {
        var frame: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        let maskBit: UInt8 = masked ? 0x80 : 0
        if payload.count < 126 {
            frame.append(maskBit | UInt8(payload.count))
        } else {
            frame += [maskBit | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        guard masked else { return frame + payload }
        let key: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        return frame + key + payload.enumerated().map { $0.element ^ key[$0.offset % 4] }
    }

    static func handshake(token: String) -> [UInt8] {
        Array(("GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer \(token)\r\n\r\n").utf8)
    }

    @Test func aClientThatAnswersNoPingIsClosedAtTheNextOne() async throws {
        try await withLiveApp(configure: { $0.streamHeartbeatPeriod = .milliseconds(700) }) { client, _ in
            let port = try #require(client.port)
            let owner = try await client.resident("owner@example.jp")
            // Handshake, then silence: the ping is never answered.
            let exchange = try await RawHTTPClient.exchange(port: port, [Self.handshake(token: owner.token)], timeout: .seconds(20))
            let frames = try #require(Self.frames(exchange), "\(exchange.response)")
            #expect(frames.first?.text.contains(#""type":"ready""#) == true, "\(frames)")
            #expect(frames.contains(Frame(opcode: 0x9, payload: [])), "a ping was sent: \(frames)")
            #expect(frames.last?.closeCode == 1001, "\(frames)")
            #expect(exchange.closedByServer)
        }
    }

    @Test func pingsAreAnsweredAndFragmentedMessagesAreJoined() async throws {
        try await withLiveApp { client, _ in
            let port = try #require(client.port)
            let owner = try await client.resident("owner@example.jp")
            let subscribe = Array(#"{"type":"subscribe","stream":"user:\#(owner.id)"}"#.utf8)
            let exchange = try await RawHTTPClient.exchange(port: port, [
                Self.handshake(token: owner.token),
                Self.clientFrame(0x9, Array("はい".utf8)),
                Self.clientFrame(0x1, Array(subscribe[..<10]), fin: false),
                Self.clientFrame(0x9, Array("途中".utf8)),  // a control frame between fragments
                Self.clientFrame(0x0, Array(subscribe[10..<20]), fin: false),
                Self.clientFrame(0x0, Array(subscribe[20...])),
                Self.clientFrame(0x2, [1, 2, 3]),
            ], timeout: .seconds(3))
            let frames = try #require(Self.frames(exchange), "\(exchange.response)")
            #expect(frames.filter { $0.opcode == 0xA }.map(\.text) == ["はい", "途中"], "pongs echo the pings: \(frames)")
            #expect(frames.contains { $0.text.contains(#""type":"subscribed","stream":"user:\#(owner.id)""#) }, "\(frames)")
            #expect(frames.contains { $0.text.contains(#""code":"bad_message""#) }, "a binary message is answered: \(frames)")
            #expect(!exchange.closedByServer, "the socket stays open")
        }
    }

    /// Frames no client may send, and the close code each gets.
    enum Violation: String, CaseIterable, CustomTestStringConvertible {
        case fragmentedMessageOver4KB = "a fragmented message over 4 KB"
        case unmaskedFrame = "an unmasked frame"
        case continuationWithNoMessage = "a continuation with no message"
        case fragmentedPing = "a ping in fragments"
        /// Far more requests than wait their turn (32): each subscribe asks the database, so
        /// they pile up behind the first.
        case requestFlood = "200 requests at once"

        var testDescription: String { rawValue }

        var frames: [[UInt8]] {
            switch self {
            case .fragmentedMessageOver4KB:
                [clientFrame(0x1, Array(repeating: 0x20, count: 3000), fin: false), clientFrame(0x0, Array(repeating: 0x20, count: 3000))]
            case .unmaskedFrame: [clientFrame(0x1, Array("{}".utf8), masked: false)]
            case .continuationWithNoMessage: [clientFrame(0x0, Array("{}".utf8))]
            case .fragmentedPing: [clientFrame(0x9, [1], fin: false)]
            case .requestFlood: [Array((1...200).map { clientFrame(0x1, Array(#"{"type":"subscribe","stream":"group:\#($0)"}"#.utf8)) }.joined())]
            }
        }

        var closeCode: Int {
            switch self {
            case .fragmentedMessageOver4KB: 1009
            case .requestFlood: 1008
            default: 1002
            }
        }
    }

    @Test(arguments: Violation.allCases)
    func framesAgainstTheProtocolCloseTheSocket(_ violation: Violation) async throws {
        try await withLiveApp { client, _ in
            let port = try #require(client.port)
            let owner = try await client.resident("owner@example.jp")
            let exchange = try await RawHTTPClient.exchange(port: port, [Self.handshake(token: owner.token)] + violation.frames, timeout: .seconds(10))
            let received = try #require(Self.frames(exchange), "\(exchange.response)")
            #expect(received.last?.closeCode == violation.closeCode, "\(violation.rawValue): \(received)")
            #expect(exchange.closedByServer, "\(violation.rawValue)")
        }
    }

    @Test func aServerShuttingDownClosesItsStreamsWithGoingAway() async throws {
        let stream = Mutex<StreamClient?>(nil)
        try await withLiveApp { client, _ in
            let port = try #require(client.port)
            let owner = try await client.resident("owner@example.jp")
            let open = StreamClient.open(port: port, token: owner.token)
            stream.withLock { $0 = open }
            _ = try await open.wait(for: "ready") { !$0.isEmpty }
            // Returning shuts the server down gracefully with the socket still open.
        }
        let open = try #require(stream.withLock { $0 })
        await open.ended()
        #expect(open.closeCode.withLock { $0 } == .goingAway)
    }
}
