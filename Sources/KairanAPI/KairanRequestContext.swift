import Hummingbird
import KairanCore

/// Per-request state: the framework's core storage plus who is calling.
public struct KairanRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `AuthenticationMiddleware` when a valid bearer token came with the request.
    public var session: AuthenticatedSession?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }

    public var maxUploadSize: Int { Limits.maxJSONBodyBytes }
    public var requestDecoder: StrictJSONDecoder { StrictJSONDecoder() }

    /// The caller, or 401.
    public func requireActor() throws -> Actor {
        guard let session else { throw APIError.unauthenticated }
        return session.actor
    }
}

public struct AuthenticatedSession: Sendable {
    public let sessionID: Int64
    public let actor: Actor
}
