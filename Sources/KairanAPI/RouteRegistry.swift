import Hummingbird

/// A `RouterMethods` that forwards to the real router and remembers what was registered.
///
/// Hummingbird's router cannot list its routes or answer 405; this wrapper can do both:
/// `finish()` adds a 405 with an `Allow` header for every method a path does not serve, and
/// `routes` lets a test compare the server against `openapi.yaml`.
public final class RouteRegistry<Context: RequestContext>: RouterMethods {
    public struct Route: Hashable, Sendable, CustomStringConvertible {
        public let method: String
        /// OpenAPI form: `/v1/admin/accounts/{id}`.
        public let path: String
        public var description: String { "\(method) \(path)" }
    }

    let router: Router<Context>
    public private(set) var routes: [Route] = []

    public init(router: Router<Context>) {
        self.router = router
    }

    @discardableResult
    public func on<Responder: HTTPResponder>(
        _ path: RouterPath, method: HTTPRequest.Method, responder: Responder
    ) -> Self where Responder.Context == Context {
        routes.append(Route(method: method.rawValue, path: Self.normalise(path)))
        router.on(path, method: method, responder: responder)
        return self
    }

    @discardableResult
    public func add(middleware: any MiddlewareProtocol<Request, Response, Context>) -> Self {
        router.add(middleware: middleware)
        return self
    }

    /// Registers 405 answers for the methods each known path lacks. Call once, last.
    public func finish() {
        // TRACE, OPTIONS, CONNECT and QUERY too: a known path answers 405 to any method HTTP
        // parses that it does not serve, not 404 (methods HTTP cannot parse are the guard's).
        let methods: [HTTPRequest.Method] = [.get, .post, .put, .patch, .delete, .trace, .options, .connect] + [HTTPRequest.Method("QUERY")].compactMap { $0 }
        var byPath: [String: Set<String>] = [:]
        for route in routes { byPath[route.path, default: []].insert(route.method) }
        for (path, served) in byPath {
            var allowed = served
            if served.contains("GET") { allowed.insert("HEAD") }
            let allow = allowed.sorted().joined(separator: ", ")
            for method in methods where !served.contains(method.rawValue) {
                router.on(RouterPath(path), method: method) { _, _ -> Response in
                    var error = APIError(.methodNotAllowed, code: "method_not_allowed", message: "\(method.rawValue) is not allowed here; allowed: \(allow)")
                    error.headers[.allow] = allow
                    throw error
                }
            }
        }
    }

    static func normalise(_ path: RouterPath) -> String {
        "/" + path.components.map(\.description).joined(separator: "/")
    }
}
