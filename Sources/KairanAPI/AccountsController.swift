import Foundation
import Hummingbird
import KairanCore
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
        let email = try EmailAddress(input.email)
        try Password.validate(input.password)
        let displayName = try DisplayName.validate(input.displayName)
        let hash = try await dependencies.passwordHasher.hash(input.password)
        let now = dependencies.clock.now()
        do {
            let record = try await dependencies.database.withTransaction { connection in
                try await AccountStore.insert(email: email, passwordHash: hash, displayName: displayName, roles: [.resident],
                                              now: now, on: connection, logger: context.logger)
            }
            context.logger.info("account created", metadata: ["account_id": "\(record.id)", "email": "\(email.redacted)"])
            return EditedResponse(status: .created, response: AccountResponse(record))
        } catch AccountStoreError.emailTaken {
            throw APIError(.conflict, code: "email_taken", message: "an account with this email already exists", field: "email")
        }
    }

    @Sendable func me(_ request: Request, context: KairanRequestContext) async throws -> AccountResponse {
        let actor = try context.requireActor()
        try APIError.check(Policy.decide(actor, .readOwnAccount))
        guard let record = try await dependencies.database.withConnection({ connection in
            try await AccountStore.find(id: actor.accountID, on: connection, logger: context.logger)
        }) else { throw APIError.unauthenticated }
        return AccountResponse(record)
    }
}
