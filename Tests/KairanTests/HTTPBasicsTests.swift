import Foundation
import HTTPTypes
import NIOCore
import HummingbirdTesting
import KairanCore
import Testing

@Suite struct HTTPBasicsTests {
    @Test func healthAndReadiness() async throws {
        try await withApp { client, _ in
            let health = try await client.send(.get, "/healthz")
            #expect(health.status == .ok)
            let ready = try await client.send(.get, "/readyz")
            #expect(ready.status == .ok)
            #expect(try ready.json()["status"] as? String == "ready")
            #expect(ready.headers[.init("X-Request-Id")!]?.isEmpty == false)
        }
    }

    @Test func metricsAreExposedForPrometheus() async throws {
        try await withApp { client, _ in
            _ = try await client.send(.get, "/healthz")
            let metrics = try await client.send(.get, "/metrics")
            #expect(metrics.status == .ok)
            #expect(metrics.headers[.contentType]?.hasPrefix("text/plain") == true)
            #expect(metrics.text.contains(#"http_route="/healthz""#))
        }
    }

    @Test func oversizedBodyIs413() async throws {
        try await withApp { client, _ in
            let padding = String(repeating: "あ", count: Limits.maxJSONBodyBytes / 3 + 10)
            let response = try await client.send(.post, "/v1/accounts", json: jsonObject(["email": "a@example.jp", "password": "long enough pw", "displayName": padding]))
            #expect(response.status == .contentTooLarge)
            #expect(try response.errorCode() == "payload_too_large")
        }
    }

    @Test func malformedJSONIs400() async throws {
        try await withApp { client, _ in
            let broken = try await client.send(.post, "/v1/accounts", json: #"{"email": "a@example.jp", "#)
            #expect(broken.status == .badRequest)
            #expect(try broken.errorCode() == "bad_request")
            let missing = try await client.send(.post, "/v1/accounts", json: #"{"email": "a@example.jp"}"#)
            #expect(missing.status == .badRequest)
            #expect((try missing.json()["error"] as? [String: Any])?["field"] as? String == "password")
            let wrongType = try await client.send(.post, "/v1/sessions", json: #"{"email": 42, "password": "x"}"#)
            #expect(wrongType.status == .badRequest)
        }
    }

    @Test func nonJSONContentTypeIs415() async throws {
        try await withApp { client, _ in
            let response = try await client.execute(uri: "/v1/accounts", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "email=a"))
            #expect(response.status == .unsupportedMediaType)
            #expect(try response.errorCode() == "unsupported_media_type")
        }
    }

    @Test func unknownRouteIsJSON404() async throws {
        try await withApp { client, _ in
            let response = try await client.send(.get, "/v1/no-such-thing")
            #expect(response.status == .notFound)
            #expect(try response.errorCode() == "not_found")
        }
    }

    @Test func wrongMethodIs405WithAllow() async throws {
        try await withApp { client, _ in
            // Any method HTTP parses that the path does not serve, QUERY and OPTIONS too.
            for method in [HTTPRequest.Method.put, .trace, .options, try #require(HTTPRequest.Method("QUERY"))] {
                let response = try await client.send(method, "/v1/me")
                #expect(response.status == .methodNotAllowed, "\(method)")
                #expect(response.headers[.allow] == "GET, HEAD")
                #expect(try response.errorCode() == "method_not_allowed")
            }
        }
    }

    /// A true/false query parameter takes nothing else: `mine=null` is a client's mistake,
    /// not "false".
    @Test func aBooleanQueryParameterRefusesAnythingButTrueOrFalse() async throws {
        try await withApp { client, _ in
            let token = try await client.registerAndLogin(email: "resident@example.jp")
            for value in ["null", "1", "yes", ""] {
                let response = try await client.send(.get, "/v1/groups?mine=\(value)", token: token)
                #expect(response.status == .badRequest, "mine=\(value)")
                #expect(try response.errorCode() == "bad_request")
            }
            #expect(try await client.send(.get, "/v1/groups?mine=true", token: token).status == .ok)
            #expect(try await client.send(.get, "/v1/groups?mine=false", token: token).status == .ok)
        }
    }

    @Test func malformedAuthorizationIs401() async throws {
        try await withApp { client, _ in
            let response = try await client.execute(uri: "/v1/me", method: .get, headers: [.authorization: "Basic Zm9vOmJhcg=="])
            #expect(response.status == .unauthorized)
            #expect(try response.errorCode() == "invalid_token")
            let forged = try await client.send(.get, "/v1/me", token: "kai_forged")
            #expect(forged.status == .unauthorized)
        }
    }
}
