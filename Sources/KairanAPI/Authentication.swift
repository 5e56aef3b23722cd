import Foundation
import Hummingbird
import KairanCore
import KairanServices

/// Resolves `Authorization: Bearer …` to a session. A request without the header goes on
/// anonymous (routes that need a caller ask `context.requireActor()`); a header with a token
/// that is unknown, expired or revoked is refused here with 401.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = KairanRequestContext
    let dependencies: APIDependencies

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            return try await next(request, context)
        }
        guard header.count <= 512, header.lowercased().hasPrefix("bearer ") else {
            throw Self.invalidToken("use 'Authorization: Bearer <token>'")
        }
        let token = String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard let session = try await dependencies.services.sessions.authenticate(token: token, logger: context.logger) else {
            throw Self.invalidToken("the token is unknown, expired or revoked; log in again")
        }
        var context = context
        context.session = AuthenticatedSession(sessionID: session.id, actor: Actor(accountID: session.accountID, roles: session.roles),
                                               expiresAt: session.expiresAt)
        context.logger[metadataKey: "account_id"] = "\(session.accountID)"
        return try await next(request, context)
    }

    static func invalidToken(_ message: String) -> APIError {
        var error = APIError(.unauthorized, code: "invalid_token", message: message)
        error.headers[.wwwAuthenticate] = "Bearer error=\"invalid_token\""
        return error
    }
}
