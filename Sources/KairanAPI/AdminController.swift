import Hummingbird
import KairanCore
import KairanStore

/// Town administrators appoint town moderators and other administrators.
struct AdminController {
    let dependencies: APIDependencies

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.put("/v1/admin/accounts/{accountID}/roles/{role}", use: grant)
        routes.delete("/v1/admin/accounts/{accountID}/roles/{role}", use: revoke)
    }

    private func target(_ context: KairanRequestContext) throws -> (AccountID, Role) {
        guard let id = context.parameters.get("accountID", as: AccountID.self) else { throw APIError.notFound }
        guard let raw = context.parameters.get("role"), let role = Role(rawValue: raw) else {
            throw APIError(.unprocessableContent, code: "unknown_role", message: "role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))", field: "role")
        }
        return (id, role)
    }

    @Sendable func grant(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let (id, role) = try target(context)
        try APIError.check(Policy.decide(actor, .grantTownRole(role, to: id)))
        let now = dependencies.clock.now()
        let found = try await dependencies.database.withTransaction { connection in
            try await AccountStore.grant(role, to: id, by: actor.accountID, now: now, on: connection, logger: context.logger)
        }
        guard found else { throw APIError.notFound }
        context.logger.info("role granted", metadata: ["target_account_id": "\(id)", "role": "\(role.rawValue)"])
        return .noContent
    }

    @Sendable func revoke(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let (id, role) = try target(context)
        try APIError.check(Policy.decide(actor, .revokeTownRole(role, from: id)))
        let found = try await dependencies.database.withTransaction { connection in
            guard try await AccountStore.exists(id: id, on: connection, logger: context.logger) else { return false }
            try await AccountStore.revoke(role, from: id, on: connection, logger: context.logger)
            return true
        }
        guard found else { throw APIError.notFound }
        context.logger.info("role revoked", metadata: ["target_account_id": "\(id)", "role": "\(role.rawValue)"])
        return .noContent
    }
}
