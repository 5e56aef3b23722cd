import Foundation
import Hummingbird
import KairanCore
import KairanServices

/// Suspensions: listed, lifted and rescheduled by the moderators who may impose them.
extension ModerationController {
    var suspensions: SuspensionService { dependencies.services.suspensions }

    @Sendable func listSuspensions(_ request: Request, context: KairanRequestContext) async throws -> Page<SuspensionView> {
        let actor = try context.requireActor()
        let ended = try request.flag("ended") ?? false
        return try await suspensions.list(
            actor, group: try request.cursor("groupId"), account: try request.cursor("accountId"), includeEnded: ended,
            before: try request.cursor("before"), limit: try request.pageLimit(), logger: context.logger)
    }

    struct LiftInput: Decodable {
        let reason: String
    }

    @Sendable func liftSuspension(_ request: Request, context: KairanRequestContext) async throws -> SuspensionView {
        let actor = try context.requireActor()
        let id = try context.parameters.require("suspensionID", as: Int64.self)
        let input = try await request.decode(as: LiftInput.self, context: context)
        return try await suspensions.lift(actor, id, reason: input.reason, logger: context.logger)
    }

    struct RescheduleInput: Decodable {
        let until: Date
        let reason: String
    }

    @Sendable func rescheduleSuspension(_ request: Request, context: KairanRequestContext) async throws -> SuspensionView {
        let actor = try context.requireActor()
        let id = try context.parameters.require("suspensionID", as: Int64.self)
        let input = try await request.decode(as: RescheduleInput.self, context: context)
        return try await suspensions.reschedule(actor, id, until: input.until, reason: input.reason, logger: context.logger)
    }
}

extension SuspensionView: ResponseEncodable {}
