import Foundation
import Hummingbird
import KairanCore
import KairanServices

/// Logging in and out, and changing one's password.
struct SessionsController {
    let dependencies: APIDependencies

    struct CreateSessionRequest: Decodable {
        let email: String
        let password: String
    }

    struct SessionResponse: ResponseEncodable {
        let token: String
        let expiresAt: Date
    }

    struct ChangePasswordRequest: Decodable {
        let currentPassword: String
        let newPassword: String
    }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.post("/v1/sessions", use: create)
        routes.delete("/v1/sessions/current", use: deleteCurrent)
        routes.put("/v1/me/password", use: changePassword)
    }

    /// Every other session of the account ends; this one goes on.
    @Sendable func changePassword(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        guard let sessionID = context.session?.sessionID else { throw APIError.unauthenticated }
        let input = try await request.decode(as: ChangePasswordRequest.self, context: context)
        try await dependencies.services.sessions.changePassword(
            actor, session: sessionID, current: input.currentPassword, new: input.newPassword, client: context.clientAddress, logger: context.logger)
        return .noContent
    }

    @Sendable func create(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<SessionResponse> {
        let input = try await request.decode(as: CreateSessionRequest.self, context: context)
        let session = try await dependencies.services.sessions.logIn(
            email: input.email, password: input.password, client: context.clientAddress, logger: context.logger)
        return EditedResponse(status: .created, response: SessionResponse(token: session.token, expiresAt: session.record.expiresAt))
    }

    @Sendable func deleteCurrent(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        guard let sessionID = context.session?.sessionID else { throw APIError.unauthenticated }
        try await dependencies.services.sessions.logOut(actor, session: sessionID, logger: context.logger)
        return .noContent
    }
}
