import Foundation
import Hummingbird
import KairanCore
import KairanStore

/// Logging in and out.
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

    /// The one answer for every failed login: an unknown address, a malformed one and a wrong
    /// password must look alike, or the endpoint tells strangers who has an account.
    static let invalidCredentials = APIError(.unauthorized, code: "invalid_credentials", message: "email or password is incorrect")

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.post("/v1/sessions", use: create)
        routes.delete("/v1/sessions/current", use: deleteCurrent)
    }

    @Sendable func create(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<SessionResponse> {
        let input = try await request.decode(as: CreateSessionRequest.self, context: context)
        let hasher = dependencies.passwordHasher
        guard let email = try? EmailAddress(input.email), input.password.utf8.count <= Limits.passwordMaxBytes else {
            try await hasher.verifyAgainstDummy(input.password)
            throw Self.invalidCredentials
        }
        let account = try await dependencies.database.withConnection { connection in
            try await AccountStore.find(emailKey: email.comparisonKey, on: connection, logger: context.logger)
        }
        guard let account else {
            try await hasher.verifyAgainstDummy(input.password)
            throw Self.invalidCredentials
        }
        guard try await hasher.verify(input.password, against: account.passwordHash) else {
            context.logger.info("login refused", metadata: ["account_id": "\(account.id)"])
            throw Self.invalidCredentials
        }
        let token = SessionToken.generate()
        let now = dependencies.clock.now()
        let expiresAt = now.addingTimeInterval(dependencies.sessionLifetime)
        let session = try await dependencies.database.withTransaction { connection in
            try await SessionStore.insert(token: token, accountID: account.id, now: now, expiresAt: expiresAt, on: connection, logger: context.logger)
        }
        context.logger.info("session created", metadata: ["account_id": "\(account.id)", "session_id": "\(session.id)"])
        return EditedResponse(status: .created, response: SessionResponse(token: token.value, expiresAt: expiresAt))
    }

    @Sendable func deleteCurrent(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        try APIError.check(Policy.decide(actor, .endOwnSession))
        guard let sessionID = context.session?.sessionID else { throw APIError.unauthenticated }
        let now = dependencies.clock.now()
        try await dependencies.database.withTransaction { connection in
            try await SessionStore.revoke(id: sessionID, now: now, on: connection, logger: context.logger)
        }
        return .noContent
    }
}
