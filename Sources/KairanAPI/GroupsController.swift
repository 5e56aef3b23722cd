import Foundation
import Hummingbird
import KairanCore
import KairanServices

/// Groups and membership over JSON; the rules are `GroupService`'s.
struct GroupsController {
    let dependencies: APIDependencies
    var groups: GroupService { dependencies.services.groups }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.post("/v1/groups", use: create)
        routes.get("/v1/groups", use: list)
        routes.get("/v1/groups/{groupID}", use: show)
        routes.patch("/v1/groups/{groupID}", use: update)
        routes.post("/v1/groups/{groupID}/join", use: join)
        routes.post("/v1/groups/{groupID}/leave", use: leave)
        routes.get("/v1/groups/{groupID}/members", use: members)
        routes.delete("/v1/groups/{groupID}/members/{accountID}", use: removeMember)
        routes.put("/v1/groups/{groupID}/members/{accountID}/role", use: setRole)
        routes.get("/v1/groups/{groupID}/join-requests", use: joinRequests)
        routes.post("/v1/groups/{groupID}/join-requests/{accountID}/approve", use: approve)
        routes.post("/v1/groups/{groupID}/join-requests/{accountID}/deny", use: deny)
        routes.post("/v1/groups/{groupID}/invitations", use: invite)
        addInvitationRoutes(to: routes)
        routes.put("/v1/groups/{groupID}/bans/{accountID}", use: ban)
        routes.delete("/v1/groups/{groupID}/bans/{accountID}", use: unban)
    }

    // MARK: - Groups

    struct CreateGroup: Decodable {
        let kind: GroupKind
        let name: String
        let description: String?
        let area: String?
        let visibility: GroupVisibility
        let joinPolicy: JoinPolicy
    }

    @Sendable func create(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<GroupView> {
        let actor = try context.requireActor()
        let input = try await request.decode(as: CreateGroup.self, context: context)
        let group = try await groups.create(actor, .init(kind: input.kind, name: input.name, description: input.description, area: input.area,
                                                         visibility: input.visibility, joinPolicy: input.joinPolicy), logger: context.logger)
        return EditedResponse(status: .created, response: group)
    }

    @Sendable func list(_ request: Request, context: KairanRequestContext) async throws -> Page<GroupView> {
        let actor = try context.requireActor()
        let query = request.uri.queryParameters
        let kind = try query["kind"].map { text -> GroupKind in
            guard let kind = GroupKind(rawValue: String(text)) else { throw APIError.badRequest("kind must be community or parenting") }
            return kind
        }
        let filter = GroupService.Directory(kind: kind, area: query["area"].map(String.init), mine: try request.flag("mine") ?? false)
        return try await groups.list(actor, filter, before: try request.cursor("before"), limit: try request.pageLimit(), logger: context.logger)
    }

    @Sendable func show(_ request: Request, context: KairanRequestContext) async throws -> GroupView {
        let actor = try context.requireActor()
        return try await groups.group(actor, try context.parameters.require("groupID", as: GroupID.self), logger: context.logger)
    }

    struct UpdateGroup: Decodable {
        let kind: GroupKind?
        let name: String?
        let description: String?
        let area: String?
        let visibility: GroupVisibility?
        let joinPolicy: JoinPolicy?
        /// New accounts' posts wait for a moderator's approval.
        let approveNewAccounts: Bool?
    }

    @Sendable func update(_ request: Request, context: KairanRequestContext) async throws -> GroupView {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let input = try await request.decode(as: UpdateGroup.self, context: context)
        let change = GroupService.GroupChange(kind: input.kind, name: input.name, description: input.description, area: input.area,
                                              visibility: input.visibility, joinPolicy: input.joinPolicy, approveNewAccounts: input.approveNewAccounts)
        return try await groups.update(actor, id, change, logger: context.logger)
    }

    // MARK: - Joining and leaving

    struct JoinRequest: Decodable {
        let message: String?
    }

    struct MembershipStatus: ResponseEncodable {
        /// "member" or "pending".
        let status: String
    }

    @Sendable func join(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<MembershipStatus> {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let message = try await request.decodeIfPresent(JoinRequest.self, context: context)?.message
        let membership = try await groups.join(actor, id, message: message, logger: context.logger)
        return EditedResponse(status: membership == .member ? .ok : .accepted, response: MembershipStatus(status: membership.rawValue))
    }

    @Sendable func leave(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        try await groups.leave(actor, try context.parameters.require("groupID", as: GroupID.self), logger: context.logger)
        return .noContent
    }

    // MARK: - Members

    @Sendable func members(_ request: Request, context: KairanRequestContext) async throws -> Page<GroupService.Member> {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        // Members are ordered by account id ascending; the cursor is `?after=`.
        return try await groups.members(actor, id, after: try request.cursor("after"), limit: try request.pageLimit(), logger: context.logger)
    }

    @Sendable func removeMember(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let target = try context.parameters.require("accountID", as: AccountID.self)
        try await groups.removeMember(actor, id, account: target, logger: context.logger)
        return .noContent
    }

    struct SetRole: Decodable {
        let role: GroupRole
    }

    @Sendable func setRole(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let target = try context.parameters.require("accountID", as: AccountID.self)
        let role = try await request.decode(as: SetRole.self, context: context).role
        try await groups.setRole(actor, id, account: target, role: role, logger: context.logger)
        return .noContent
    }

    // MARK: - Requests, invitations, bans

    @Sendable func joinRequests(_ request: Request, context: KairanRequestContext) async throws -> Items<GroupService.JoinRequestView> {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let text = request.uri.queryParameters["state"].map(String.init) ?? "pending"
        guard let state = GroupService.JoinRequestState(rawValue: text) else { throw APIError.badRequest("state must be pending or denied") }
        return Items(items: try await groups.joinRequests(actor, id, state: state, logger: context.logger))
    }

    @Sendable func approve(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let target = try context.parameters.require("accountID", as: AccountID.self)
        try await groups.approveRequest(actor, id, account: target, logger: context.logger)
        return .noContent
    }

    @Sendable func deny(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let target = try context.parameters.require("accountID", as: AccountID.self)
        try await groups.denyRequest(actor, id, account: target, logger: context.logger)
        return .noContent
    }

    struct Invite: Decodable {
        let accountId: AccountID
    }

    @Sendable func invite(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let target = try await request.decode(as: Invite.self, context: context).accountId
        try await groups.invite(actor, id, account: target, logger: context.logger)
        return .noContent
    }

    struct Ban: Decodable {
        let reason: String?
        let expiresAt: Date?
    }

    @Sendable func ban(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let target = try context.parameters.require("accountID", as: AccountID.self)
        let input = try await request.decodeIfPresent(Ban.self, context: context)
        try await groups.ban(actor, id, account: target, reason: input?.reason, expiresAt: input?.expiresAt, logger: context.logger)
        return .noContent
    }

    @Sendable func unban(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let target = try context.parameters.require("accountID", as: AccountID.self)
        try await groups.unban(actor, id, account: target, logger: context.logger)
        return .noContent
    }
}

extension Request {
    /// Decodes a JSON body if there is one; nil for an empty body.
    func decodeIfPresent<T: Decodable>(_ type: T.Type, context: KairanRequestContext) async throws -> T? {
        if headers[.contentLength] == "0" || (headers[.contentType] == nil && headers[.contentLength] == nil) { return nil }
        return try await decode(as: type, context: context)
    }
}

extension GroupView: ResponseEncodable {}
