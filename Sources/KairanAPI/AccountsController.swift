import Foundation
import Hummingbird
import KairanCore
import KairanServices
import KairanStore

/// Registration and the caller's own account.
struct AccountsController {
    let dependencies: APIDependencies

    struct CreateAccountRequest: Decodable {
        let email: String
        let password: String
        let displayName: String
    }

    struct AccountResponse: ResponseEncodable {
        let id: AccountID
        let email: String
        let displayName: String
        let roles: [String]
        let createdAt: Date

        init(_ record: AccountRecord) {
            id = record.id
            email = record.email
            displayName = record.displayName
            roles = record.roles.sorted().map(\.rawValue)
            createdAt = record.createdAt
        }
    }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.post("/v1/accounts", use: create)
        routes.get("/v1/me", use: me)
    }

    @Sendable func create(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<AccountResponse> {
        let input = try await request.decode(as: CreateAccountRequest.self, context: context)
        let record = try await dependencies.services.accounts.register(
            email: input.email, password: input.password, displayName: input.displayName, client: context.clientAddress, logger: context.logger)
        return EditedResponse(status: .created, response: AccountResponse(record))
    }

    @Sendable func me(_ request: Request, context: KairanRequestContext) async throws -> AccountResponse {
        let actor = try context.requireActor()
        return AccountResponse(try await dependencies.services.accounts.own(actor, logger: context.logger))
    }
}
