import Hummingbird
import NIOCore

/// Reads an upload's whole body before the request takes a turn at the admission gate: a
/// phone sending a photo over a slow line must not hold one of the few turns that share the
/// database pool while its bytes trickle in. The body is bounded (413) and the request
/// still ends within `timeout`.
public struct UploadBodyMiddleware<Context: RequestContext>: RouterMiddleware {
    let limit: Int

    public init(limit: Int) {
        self.limit = limit
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard UploadRoutes.contains(request) else { return try await next(request, context) }
        var request = request
        let body = try await UploadBody.collect(request, limit: limit)
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
