import Foundation
import Hummingbird
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// A guardian's own side of the schools and nurseries: the children linked to them, linking
/// one with a code from the school, and how they want notices (app, mail or both).
struct GuardianAccountController {
    let dependencies: APIDependencies
    var database: Database { dependencies.database }

    typealias ChildResponse = OrganizationsController.ChildResponse
    typealias GuardianResponse = OrganizationsController.GuardianResponse

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.get("/v1/me/children", use: myChildren)
        routes.post("/v1/me/children", use: linkChild)
        routes.get("/v1/me/guardian", use: myGuardian)
        routes.put("/v1/me/guardian", use: setMyDelivery)
    }

    @Sendable func myChildren(_ request: Request, context: KairanRequestContext) async throws -> Items<ChildResponse> {
        let actor = try context.requireActor()
        let children = try await database.withConnection { connection in
            try await OrganizationStore.children(ofGuardian: actor.accountID, on: connection, logger: context.logger)
        }
        return Items(items: children.map(ChildResponse.init))
    }

    /// The caller's own guardian record (404 before they linked a child).
    @Sendable func myGuardian(_ request: Request, context: KairanRequestContext) async throws -> GuardianResponse {
        let actor = try context.requireActor()
        let record = try await database.withConnection { connection in
            try await OrganizationStore.guardian(account: actor.accountID, on: connection, logger: context.logger)
        }
        guard let record else { throw APIError.notFound }
        return GuardianResponse(record)
    }

    struct SetDelivery: Decodable {
        let delivery: GuardianDelivery
        /// Where mail goes; absent: the address already recorded, else the account's own.
        let email: String?
        let phone: String?
    }

    /// Live in the app, by mail (any address, carrier ones included), or both.
    @Sendable func setMyDelivery(_ request: Request, context: KairanRequestContext) async throws -> GuardianResponse {
        let actor = try context.requireActor()
        let input = try await request.decode(as: SetDelivery.self, context: context)
        var email: EmailAddress?
        if let text = input.email {
            do throws(ValidationError) { email = try EmailAddress(text) } catch { throw APIError.validation(error) }
        }
        let phone = try input.phone.map { try Content.text($0, field: "phone", max: 30) }
        let record = try await database.withTransaction { connection -> GuardianRecord in
            guard let current = try await OrganizationStore.guardian(account: actor.accountID, on: connection, logger: context.logger) else {
                throw APIError.notFound
            }
            if input.delivery != .app, email == nil, current.email == nil,
               let account = try await AccountStore.find(id: actor.accountID, on: connection, logger: context.logger) {
                // Mail with no address given: the account's own address.
                email = try? EmailAddress(account.email)
            }
            try await OrganizationStore.setDelivery(account: actor.accountID, delivery: input.delivery, email: email, phone: phone,
                                                    on: connection, logger: context.logger)
            guard let updated = try await OrganizationStore.guardian(account: actor.accountID, on: connection, logger: context.logger) else {
                throw APIError.notFound
            }
            return updated
        }
        return GuardianResponse(record)
    }

    struct LinkChild: Decodable {
        let code: String
    }

    @Sendable func linkChild(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<ChildResponse> {
        let actor = try context.requireActor()
        let input = try await request.decode(as: LinkChild.self, context: context)
        let code = input.code.uppercased().filter { !$0.isWhitespace && $0 != "-" }
        guard code.count == 12 else { throw APIError.validation(ValidationError(field: "code", code: "invalid_code", message: "the code has 12 characters")) }
        let now = dependencies.clock.now()
        let result = try await database.withTransaction { connection -> OrganizationStore.LinkResult in
            guard let account = try await AccountStore.find(id: actor.accountID, on: connection, logger: context.logger) else { throw APIError.unauthenticated }
            return try await OrganizationStore.redeemLinkCode(code, account: actor.accountID, displayName: account.displayName, now: now,
                                                               on: connection, logger: context.logger)
        }
        switch result {
        case .linked(let child):
            return EditedResponse(status: .created, response: ChildResponse(child))
        case .invalidCode:
            throw APIError.validation(ValidationError(field: "code", code: "invalid_code", message: "the code is wrong, used or expired"))
        case .householdConflict:
            throw APIError(.conflict, code: "household_conflict", message: "this child belongs to another household; ask the school to link your households")
        }
    }
}
