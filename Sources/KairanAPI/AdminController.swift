import Hummingbird
import KairanCore
import KairanServices

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
        try await dependencies.services.accounts.grant(actor, role, to: id, logger: context.logger)
        return .noContent
    }

    @Sendable func revoke(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let (id, role) = try target(context)
        try await dependencies.services.accounts.revoke(actor, role, from: id, logger: context.logger)
        return .noContent
    }
}
