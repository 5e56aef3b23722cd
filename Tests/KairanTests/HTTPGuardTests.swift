import Foundation
import NIOCore
import Testing

@testable import KairanServer

/// Junk on the wire is answered and the socket closed: before the guard, every one of these
/// left a connection open and silent for good (probed by hand for 300 s).
@Suite struct HTTPGuardTests {
    /// A live server with short bounds, so a slow client is cut off within the test.
    /// `headTimeout` is short only for the test about it: on two cores busy with the rest of
    /// the suite, a first read can wait longer than a second, and a well-formed request must
    /// not be answered 408 for the machine's load.
    private func withGuardedServer(headTimeout: TimeAmount = .seconds(8), _ test: @escaping @Sendable (Int) async throws -> Void) async throws {
        try await withLiveApp(configure: { configuration in
            configuration.httpLimits.headTimeout = headTimeout
            configuration.httpLimits.lingerAfterClose = .seconds(1)
        }) { client, _ in
            try await test(try #require(client.port))
        }
    }

    private func expectRefused(_ exchange: RawHTTPClient.Exchange, status: Int, code: String, _ what: String) {
        #expect(exchange.statuses == [status], "\(what): \(exchange.response.prefix(200))")
        #expect(exchange.response.contains(#""code":"\#(code)""#), "\(what): a JSON error body")
        #expect(exchange.response.contains("Connection: close"), "\(what)")
        #expect(exchange.closedByServer, "\(what): the server closes the connection")
    }

    @Test func requestsTheParserRejectsAreAnsweredAndClosed() async throws {
        try await withGuardedServer { port in
            expectRefused(try await RawHTTPClient.exchange(port: port, "GARBAGE\r\n\r\n"), status: 400, code: "bad_request", "garbage")
            expectRefused(try await RawHTTPClient.exchange(port: port, "BREW /v1/me HTTP/1.1\r\nHost: kairan\r\n\r\n"),
                          status: 405, code: "method_not_allowed", "unknown method")
            expectRefused(try await RawHTTPClient.exchange(port: port, [Array("GET /v1/".utf8) + [0xFF] + Array(" HTTP/1.1\r\nHost: kairan\r\n\r\n".utf8)]),
                          status: 400, code: "bad_request", "0xFF in the path")
            expectRefused(try await RawHTTPClient.exchange(port: port, "GET /healthz HTTP/1.1\r\nHost: kai\u{0}ran\r\n\r\n"),
                          status: 400, code: "bad_request", "NUL in a header")
        }
    }

    @Test func oversizedRequestLinesAndHeadsAreRefusedWithTheirOwnStatus() async throws {
        try await withGuardedServer { port in
            // A search for 10,000 kanji: about 90 KB of request line.
            let query = String(repeating: "%E6%BC%A2", count: 10_000)
            expectRefused(try await RawHTTPClient.exchange(port: port, "GET /v1/groups/1/search?q=\(query) HTTP/1.1\r\nHost: kairan\r\n\r\n"),
                          status: 414, code: "uri_too_long", "90 KB request line")
            let headers = (0..<128).map { "X-Filler-\($0): \(String(repeating: "a", count: 1000))\r\n" }.joined()
            expectRefused(try await RawHTTPClient.exchange(port: port, "GET /healthz HTTP/1.1\r\nHost: kairan\r\n\(headers)\r\n"),
                          status: 431, code: "headers_too_large", "128 KB of headers")
        }
    }

    @Test func aHeadThatNeverEndsIsCutOffAndAnsweredTimeout() async throws {
        try await withGuardedServer(headTimeout: .seconds(1)) { port in
            let exchange = try await RawHTTPClient.exchange(port: port, "GET /healthz HTTP/1.1\r\nHost: kairan\r\n")
            expectRefused(exchange, status: 408, code: "request_timeout", "slow head")
        }
    }

    @Test func junkAfterAGoodRequestOnTheSameConnectionIsAnsweredToo() async throws {
        try await withGuardedServer { port in
            let exchange = try await RawHTTPClient.exchange(port: port, "GET /healthz HTTP/1.1\r\nHost: kairan\r\n\r\nGARBAGE\r\n\r\n")
            #expect(exchange.statuses == [200, 400], "\(exchange.response)")
            #expect(exchange.closedByServer)
        }
    }

    @Test func aMalformedBodyGetsOneAnswer() async throws {
        try await withGuardedServer { port in
            // A chunk size that is no hex number: the head parsed, the body did not.
            let exchange = try await RawHTTPClient.exchange(port: port, """
                POST /v1/accounts HTTP/1.1\r\nHost: kairan\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n
                """)
            #expect(exchange.statuses == [400], "one answer: \(exchange.response)")
            #expect(exchange.response.contains(#""code":"bad_request""#), "\(exchange.response)")
            #expect(exchange.closedByServer)
            #expect(exchange.elapsed < .seconds(5), "answered at once, not at the request deadline")
        }
    }

    @Test func wellFormedRequestsAreUntouched() async throws {
        try await withGuardedServer { port in
            // Sent a byte at a time: the guard's search for the end of the head must work
            // across reads.
            let request = Array("GET /healthz HTTP/1.1\r\nHost: kairan\r\nConnection: close\r\n\r\n".utf8)
            let exchange = try await RawHTTPClient.exchange(port: port, request.map { [$0] })
            #expect(exchange.statuses == [200], "\(exchange.response)")
            #expect(exchange.response.contains(#""status":"ok""#))
            #expect(exchange.closedByServer, "Connection: close is honoured")
        }
    }
}
