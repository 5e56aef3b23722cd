import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// Reads an upload's whole body before the request takes a turn at the admission gate: a
/// phone sending a photo over a slow line must not hold one of the few turns that share the
/// database pool while its bytes trickle in. The body is bounded (413) and the request still
/// ends within `UploadRoutes.timeout`.
///
/// Memory stays bounded: an upload holds its place from its first byte to its answer, and
/// only `maxConcurrent` uploads run at once, at most `maxPerClient` from one address (the
/// rest 503 with Retry-After, before a byte is read). A request that names no caller (no
/// bearer token, no session cookie) is not read at all: the route refuses it.
public struct UploadBodyMiddleware: RouterMiddleware {
    public typealias Context = KairanRequestContext
    let limit: Int
    let maxConcurrent: Int
    let maxPerClient: Int
    private let running = NIOLockedValueBox(Running())

    struct Running {
        var total = 0
        var byClient: [String: Int] = [:]
    }

    public init(limit: Int, maxConcurrent: Int = 8, maxPerClient: Int = 2) {
        self.limit = limit
        self.maxConcurrent = maxConcurrent
        self.maxPerClient = maxPerClient
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard UploadRoutes.contains(request) else { return try await next(request, context) }
        guard request.headers[.authorization] != nil || request.headers[.cookie] != nil else { return try await next(request, context) }
        let client = context.clientAddress ?? "unknown"
        let admitted = running.withLockedValue { state in
            guard state.total < maxConcurrent, state.byClient[client, default: 0] < maxPerClient else { return false }
            state.total += 1
            state.byClient[client, default: 0] += 1
            return true
        }
        guard admitted else {
            var error = APIError(.serviceUnavailable, code: "overloaded", message: "too many uploads at once; try again after Retry-After seconds")
            error.headers[.retryAfter] = "5"
            throw error
        }
        defer {
            running.withLockedValue { state in
                state.total -= 1
                state.byClient[client, default: 1] -= 1
                if state.byClient[client] == 0 { state.byClient[client] = nil }
            }
        }
        var request = request
        request.body = RequestBody(buffer: try await UploadBody.collect(request, limit: limit))
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
