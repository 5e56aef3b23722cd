import Foundation
import Hummingbird
import HummingbirdTesting
import KairanAPI
import KairanCore
import KairanDelivery
import KairanServices
import KairanStore
import Testing

@testable import KairanServer

/// Builds the real application (the same `buildApplication` as `kairan serve`) on a fresh
/// database and hands the test a client that talks to its router.
func withApp(
    clock: TestClock = TestClock(),
    configure: (inout ServerConfiguration) -> Void = { _ in },
    _ test: @escaping @Sendable (any TestClientProtocol, DatabaseURL) async throws -> Void
) async throws {
    try await TestDatabase.withFreshDatabase { url in
        var configuration = ServerConfiguration.testing(url)
        configure(&configuration)
        let app = try buildApplication(configuration, clock: clock, logger: TestDatabase.logger)
        try await app.test(.router) { client in
            try await test(client, url)
        }
    }
}

extension TestClientProtocol {
    /// Sends a request with an optional JSON body and bearer token.
    @discardableResult
    /// One request; the response is held against openapi.yaml (`SpecConformance`).
    func send(
        _ method: HTTPRequest.Method, _ uri: String, json: String? = nil, token: String? = nil,
        fileID: String = #fileID, filePath: String = #filePath, line: Int = #line, column: Int = #column
    ) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if json != nil { headers[.contentType] = "application/json" }
        if let token { headers[.authorization] = "Bearer \(token)" }
        let response = try await execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
        SpecConformance.check(method, uri, response, sourceLocation: SourceLocation(fileID: fileID, filePath: filePath, line: line, column: column))
        return response
    }

    /// Registers an account and logs in. Returns the token.
    func registerAndLogin(email: String, password: String = "correct horse battery", name: String = "テスト 住民") async throws -> String {
        let created = try await send(.post, "/v1/accounts", json: jsonObject(["email": email, "password": password, "displayName": name]))
        try #require(created.status == .created, "registering \(email): \(created.text)")
        return try await login(email: email, password: password)
    }

    func login(email: String, password: String) async throws -> String {
        let response = try await send(.post, "/v1/sessions", json: jsonObject(["email": email, "password": password]))
        try #require(response.status == .created, "login: \(response.text)")
        return try #require(response.json()["token"] as? String)
    }
}

extension TestResponse {
    func json() throws -> [String: Any] {
        let data = Data(body.readableBytesView)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "body is not a JSON object: \(String(decoding: data, as: UTF8.self))")
    }

    /// The `{"error": {"code", "message"}}` body every failure carries.
    func errorCode() throws -> String {
        #expect(headers[.contentType]?.hasPrefix("application/json") == true, "error without JSON content type")
        let error = try #require(json()["error"] as? [String: Any], "no error object in body: \(text)")
        #expect((error["message"] as? String)?.isEmpty == false, "error without message")
        return try #require(error["code"] as? String)
    }

    var text: String { String(buffer: body) }
}

func jsonObject(_ object: [String: Any]) -> String {
    String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
}

extension ServerConfiguration {
    /// The test configuration: mail goes to the suite's smtp-sink (a real SMTP server) when
    /// scripts/test started one, else to a throwaway Maildir.
    static func testing(_ url: DatabaseURL) -> ServerConfiguration {
        var mail = MailConfiguration(maildir: FileManager.default.temporaryDirectory.appendingPathComponent("kairan-test-maildir").path,
                                     publicURL: "http://127.0.0.1:8080")
        if let sink = TestSMTP.sink {
            mail.destination = .relay(SMTPRelayConfiguration(host: sink.host, port: sink.port, heloName: "kairan.localhost", maxConnections: 4))
        }
        var configuration = ServerConfiguration(database: url, mail: mail)
        configuration.passwordHasher = PasswordHasher(testSuiteCost: 4)
        // Hundreds of accounts from one loopback address; the throttle's own test sets its limits.
        configuration.loginThrottle = .generous
        // Dozens of apps run side by side against one PostgreSQL: small pools, one claiming
        // lane, so the suite stays well inside max_connections.
        configuration.databasePoolSize = 6
        configuration.mail.delivery.concurrentBatches = 1
        // Devices subscribe to the suite's own push service on loopback (ScriptedPushService).
        configuration.push.allowLoopbackHTTP = true
        return configuration
    }
}

enum TestSMTP {
    /// smtp-sink started by scripts/test (KAIRAN_TEST_SMTP=host:port).
    static var sink: (host: String, port: Int)? {
        guard let text = ProcessInfo.processInfo.environment["KAIRAN_TEST_SMTP"], let colon = text.lastIndex(of: ":"),
              let port = Int(text[text.index(after: colon)...]) else { return nil }
        return (String(text[..<colon]), port)
    }
}
