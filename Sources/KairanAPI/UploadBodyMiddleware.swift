import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// Reads an upload's whole body before the request takes a turn at the admission gate: a
/// phone sending a photo over a slow line must not hold one of the few turns that share the
/// database pool while its bytes trickle in. The body is bounded (413), the request still
/// ends within `UploadRoutes.timeout`, and only `maxConcurrent` bodies are read at once
/// (the rest 503 with Retry-After), so uploads hold at most that many files in memory.
/// A request that names no caller (no bearer token, no session cookie) is not read at all.
public struct UploadBodyMiddleware<Context: RequestContext>: RouterMiddleware {
    let limit: Int
    let maxConcurrent: Int
    private let reading = NIOLockedValueBox(0)

    public init(limit: Int, maxConcurrent: Int = 8) {
        self.limit = limit
        self.maxConcurrent = maxConcurrent
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard UploadRoutes.contains(request) else { return try await next(request, context) }
        // Unauthenticated: answered by the route (401, or the page's refusal) without the body.
        guard request.headers[.authorization] != nil || request.headers[.cookie] != nil else { return try await next(request, context) }
        let admitted = reading.withLockedValue { count in
            guard count < maxConcurrent else { return false }
            count += 1
            return true
        }
        guard admitted else {
            var error = APIError(.serviceUnavailable, code: "overloaded", message: "too many uploads at once; try again after Retry-After seconds")
            error.headers[.retryAfter] = "5"
            throw error
        }
        let body: ByteBuffer
        do {
            defer { reading.withLockedValue { $0 -= 1 } }
            body = try await UploadBody.collect(request, limit: limit)
        }
        var request = request
        request.body = RequestBody(buffer: body)
        return try await next(request, context)
    }
}

/// The routes whose body is a file.
enum UploadRoutes {
    /// The API's and the web pages' (same body, the file itself).
    static let paths: Set<String> = ["/v1/attachments", "/attachments"]
    /// How long an upload may take from its first byte to its answer.
    static let timeout: Duration = .seconds(120)

    static func contains(_ request: Request) -> Bool {
        request.method == .post && paths.contains(request.uri.path)
    }
}
