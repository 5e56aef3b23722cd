import Foundation
import HTTPTypes
import HummingbirdTesting
import KairanAPIClient
import NIOCore
import OpenAPIRuntime

/// Carries the generated client's requests to the application's router in process (the
/// same `buildApplication` as `kairan serve`). Every response is decoded by code generated
/// from `openapi.yaml`: a status the spec does not list comes back `.undocumented`, and a
/// body that does not match its schema fails to decode — either way the test fails.
struct RouterTransport: ClientTransport {
    let client: any TestClientProtocol

    func send(_ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String) async throws -> (HTTPResponse, HTTPBody?) {
        let bytes: ByteBuffer? = if let body { ByteBuffer(bytes: try await [UInt8](collecting: body, upTo: 4 << 20)) } else { nil }
        let response = try await client.execute(uri: request.path ?? "/", method: request.method, headers: request.headerFields, body: bytes)
        return (HTTPResponse(status: response.status, headerFields: response.headers), HTTPBody(Array(response.body.readableBytesView)))
    }
}

/// `Authorization: Bearer <token>` on every request.
struct BearerToken: ClientMiddleware {
    let token: String

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        request.headerFields[.authorization] = "Bearer \(token)"
        return try await next(request, body, baseURL)
    }
}

extension TestClientProtocol {
    /// The generated client, anonymous or as the holder of `token`.
    func api(as token: String? = nil) -> Client {
        Client(serverURL: URL(string: "http://127.0.0.1:8080")!, transport: RouterTransport(client: self),
               middlewares: token.map { [BearerToken(token: $0)] } ?? [])
    }
}
