import Foundation
import Hummingbird
import KairanCore
import KairanServices

/// Invitations, bans and join requests: the group's moderators list and withdraw; the
/// people concerned find their own, accept an invitation by joining, or decline it.
extension GroupsController {
    func addInvitationRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.get("/v1/groups/{groupID}/invitations", use: invitations)
        routes.delete("/v1/groups/{groupID}/invitations/{accountID}", use: withdrawInvitation)
        routes.get("/v1/groups/{groupID}/bans", use: bans)
        routes.get("/v1/me/invitations", use: myInvitations)
        routes.delete("/v1/me/invitations/{groupID}", use: declineInvitation)
        routes.get("/v1/me/join-requests", use: myJoinRequests)
        routes.delete("/v1/me/join-requests/{groupID}", use: withdrawJoinRequest)
    }

    @Sendable func invitations(_ request: Request, context: KairanRequestContext) async throws -> Items<InvitationView> {
        let actor = try context.requireActor()
        return Items(items: try await groups.invitations(actor, try context.parameters.require("groupID", as: GroupID.self), logger: context.logger))
    }

    @Sendable func withdrawInvitation(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let target = try context.parameters.require("accountID", as: AccountID.self)
        try await groups.withdrawInvitation(actor, id, account: target, logger: context.logger)
        return .noContent
    }

    @Sendable func bans(_ request: Request, context: KairanRequestContext) async throws -> Items<BanView> {
        let actor = try context.requireActor()
        return Items(items: try await groups.bans(actor, try context.parameters.require("groupID", as: GroupID.self), logger: context.logger))
    }

    @Sendable func myInvitations(_ request: Request, context: KairanRequestContext) async throws -> Items<InvitationView> {
        Items(items: try await groups.myInvitations(try context.requireActor(), logger: context.logger))
    }

    @Sendable func declineInvitation(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        try await groups.declineInvitation(actor, try context.parameters.require("groupID", as: GroupID.self), logger: context.logger)
        return .noContent
    }

    @Sendable func myJoinRequests(_ request: Request, context: KairanRequestContext) async throws -> Items<OwnJoinRequestView> {
        Items(items: try await groups.myJoinRequests(try context.requireActor(), logger: context.logger))
    }

    @Sendable func withdrawJoinRequest(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        try await groups.withdrawJoinRequest(actor, try context.parameters.require("groupID", as: GroupID.self), logger: context.logger)
        return .noContent
    }
}
