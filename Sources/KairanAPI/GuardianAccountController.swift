import Foundation
import Hummingbird
import KairanCore
import KairanServices
import KairanStore

/// A guardian's own side of the schools and nurseries over JSON; the rules are
/// `GuardianService`'s.
struct GuardianAccountController {
    let dependencies: APIDependencies
    var guardians: GuardianService { dependencies.services.guardians }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.get("/v1/me/children", use: myChildren)
        routes.post("/v1/me/children", use: linkChild)
        routes.get("/v1/me/guardian", use: myGuardian)
        routes.put("/v1/me/guardian", use: setMyDelivery)
    }

    @Sendable func myChildren(_ request: Request, context: KairanRequestContext) async throws -> Items<ChildView> {
        Items(items: try await guardians.children(try context.requireActor(), logger: context.logger))
    }

    /// The caller's own guardian record (404 before they linked a child).
    @Sendable func myGuardian(_ request: Request, context: KairanRequestContext) async throws -> GuardianView {
        try await guardians.guardian(try context.requireActor(), logger: context.logger)
    }

    struct SetDelivery: Decodable {
        let delivery: GuardianDelivery
        /// Where mail goes; absent: the address already recorded, else the account's own.
        let email: String?
        let phone: String?
    }

    /// Live in the app, by mail (any address, carrier ones included), or both.
    @Sendable func setMyDelivery(_ request: Request, context: KairanRequestContext) async throws -> GuardianView {
        let actor = try context.requireActor()
        let input = try await request.decode(as: SetDelivery.self, context: context)
        return try await guardians.setDelivery(actor, input.delivery, email: input.email, phone: input.phone, logger: context.logger)
    }

    struct LinkChild: Decodable {
        let code: String
    }

    @Sendable func linkChild(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<ChildView> {
        let actor = try context.requireActor()
        let input = try await request.decode(as: LinkChild.self, context: context)
        return EditedResponse(status: .created, response: try await guardians.linkChild(actor, code: input.code, logger: context.logger))
    }
}
