import Foundation
import Hummingbird
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// Groups and membership: create, list, join (open / approval / invite), leave, remove,
/// roles, requests, invitations and bans. Every route asks `Policy` through `authorize`.
struct GroupsController {
    let dependencies: APIDependencies
    var database: Database { dependencies.database }

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

    @Sendable func create(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<GroupResponse> {
        let actor = try context.requireActor()
        let input = try await request.decode(as: CreateGroup.self, context: context)
        let name = try Content.text(input.name, field: "name", max: Content.groupNameMax)
        let description = try input.description.map { try Content.text($0, field: "description", min: 0, max: Content.groupDescriptionMax, multiline: true) } ?? ""
        let area = try input.area.map { try Content.text($0, field: "area", max: Content.areaMax) }
        let now = dependencies.clock.now()
        let group = try await database.withTransaction { connection in
            try await GroupStore.insert(kind: input.kind, name: name, description: description, area: area, visibility: input.visibility,
                                        joinPolicy: input.joinPolicy, creator: actor.accountID, now: now, on: connection, logger: context.logger)
        }
        return EditedResponse(status: .created, response: GroupResponse(group, myRole: .owner, memberCount: 1, unreadCount: 0))
    }

    @Sendable func list(_ request: Request, context: KairanRequestContext) async throws -> Page<GroupResponse> {
        let actor = try context.requireActor()
        let query = request.uri.queryParameters
        let kind = try query["kind"].map { text -> GroupKind in
            guard let kind = GroupKind(rawValue: String(text)) else { throw APIError.badRequest("kind must be community or parenting") }
            return kind
        }
        let area = query["area"].map(String.init)
        let mine = query["mine"].map { $0 == "true" } ?? false
        let before = try request.cursor("before")
        let limit = try request.pageLimit()
        let listings = try await database.withConnection { connection in
            try await GroupStore.list(for: actor.accountID, seesAll: actor.isTownModerator, kind: kind, area: area, memberOnly: mine,
                                      before: before, limit: limit, on: connection, logger: context.logger)
        }
        let items = listings.map { GroupResponse($0.group, myRole: $0.role, memberCount: $0.memberCount, unreadCount: $0.unreadCount) }
        return Page(items: items, nextBefore: items.count == limit ? items.last?.id : nil)
    }

    @Sendable func show(_ request: Request, context: KairanRequestContext) async throws -> GroupResponse {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let now = dependencies.clock.now()
        return try await database.withConnection { connection in
            let (group, standing) = try await authorize(.read, group: id, actor: actor, now: now, on: connection, logger: context.logger)
            return GroupResponse(group, myRole: standing.banned ? nil : standing.role)
        }
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

    @Sendable func update(_ request: Request, context: KairanRequestContext) async throws -> GroupResponse {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let input = try await request.decode(as: UpdateGroup.self, context: context)
        let now = dependencies.clock.now()
        return try await database.withTransaction { connection in
            var (group, standing) = try await authorize(.administer, group: id, actor: actor, now: now, lock: true, on: connection, logger: context.logger)
            if let kind = input.kind { group.kind = kind }
            if let name = input.name { group.name = try Content.text(name, field: "name", max: Content.groupNameMax) }
            if let description = input.description {
                group.description = try Content.text(description, field: "description", min: 0, max: Content.groupDescriptionMax, multiline: true)
            }
            if let area = input.area { group.area = area.isEmpty ? nil : try Content.text(area, field: "area", max: Content.areaMax) }
            if let visibility = input.visibility { group.visibility = visibility }
            if let joinPolicy = input.joinPolicy { group.joinPolicy = joinPolicy }
            if let approve = input.approveNewAccounts { group.approveNewAccounts = approve }
            try await GroupStore.update(group, on: connection, logger: context.logger)
            try await EventStore.append(EventStore.groupStream(id), kind: "group.updated", payload: GroupResponse(group, myRole: nil),
                                        now: now, on: connection, logger: context.logger)
            return GroupResponse(group, myRole: standing.role)
        }
    }

    // MARK: - Joining and leaving

    struct JoinRequest: Decodable {
        let message: String?
    }

    struct MembershipStatus: ResponseEncodable {
        /// "member" or "pending".
        let status: String
    }

    struct MemberEvent: Encodable {
        let groupId: GroupID
        let accountId: AccountID
        let role: GroupRole?
    }

    /// Appends a membership event to the group's stream (the gateway re-checks live
    /// subscriptions on the ones that end a membership).
    private func announceMember(
        _ kind: String, group: GroupID, account: AccountID, role: GroupRole?, now: Date, on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await EventStore.append(EventStore.groupStream(group), kind: kind, payload: MemberEvent(groupId: group, accountId: account, role: role),
                                    now: now, on: connection, logger: logger)
    }

    @Sendable func join(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<MembershipStatus> {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let message = try await request.decodeIfPresent(JoinRequest.self, context: context)?.message
            .map { try Content.text($0, field: "message", min: 0, max: Content.requestMessageMax, multiline: true) } ?? ""
        let now = dependencies.clock.now()
        let joined = try await database.withTransaction { connection in
            let (_, standing) = try await authorize(.join, group: id, actor: actor, now: now, lock: true, on: connection, logger: context.logger)
            let (settings, isNew) = try await ModerationStore.sandbox(account: actor.accountID, now: now, on: connection, logger: context.logger)
            try await APIError.checkRate(.join, actor: actor, isNewAccount: isNew, settings: settings, now: now, on: connection, logger: context.logger)
            if standing.joinPolicy == .approval && !standing.invited {
                try await GroupStore.requestToJoin(group: id, account: actor.accountID, message: message, now: now, on: connection, logger: context.logger)
                return false
            }
            try await GroupStore.addMember(group: id, account: actor.accountID, role: .member, now: now, on: connection, logger: context.logger)
            try await announceMember("member.joined", group: id, account: actor.accountID, role: .member, now: now, on: connection, logger: context.logger)
            return true
        }
        return joined
            ? EditedResponse(status: .ok, response: MembershipStatus(status: "member"))
            : EditedResponse(status: .accepted, response: MembershipStatus(status: "pending"))
    }

    @Sendable func leave(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let now = dependencies.clock.now()
        try await database.withTransaction { connection in
            // The group row is locked: two owners leaving at once cannot both be "not the last".
            let (_, standing) = try await authorize(.leave, group: id, actor: actor, now: now, lock: true, on: connection, logger: context.logger)
            if standing.role == .owner, try await GroupStore.ownerCount(group: id, on: connection, logger: context.logger) <= 1 {
                throw APIError(.conflict, code: "last_owner", message: "the last owner cannot leave; make another member an owner first")
            }
            try await GroupStore.removeMember(group: id, account: actor.accountID, on: connection, logger: context.logger)
            try await announceMember("member.left", group: id, account: actor.accountID, role: nil, now: now, on: connection, logger: context.logger)
        }
        return .noContent
    }

    // MARK: - Members

    struct MemberResponse: ResponseEncodable, Sendable {
        let accountId: AccountID
        let displayName: String
        let role: GroupRole
        let joinedAt: Date
    }

    @Sendable func members(_ request: Request, context: KairanRequestContext) async throws -> Page<MemberResponse> {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let after = try request.cursor("after")
        let limit = try request.pageLimit()
        let now = dependencies.clock.now()
        let members = try await database.withConnection { connection in
            _ = try await authorize(.read, group: id, actor: actor, now: now, on: connection, logger: context.logger)
            return try await GroupStore.members(group: id, after: after, limit: limit, on: connection, logger: context.logger)
        }
        let items = members.map { MemberResponse(accountId: $0.accountID, displayName: $0.displayName, role: $0.role, joinedAt: $0.joinedAt) }
        // Members are ordered by account id ascending; the cursor is `?after=`.
        return Page(items: items, nextBefore: items.count == limit ? items.last?.accountId : nil)
    }

    @Sendable func removeMember(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let target = try context.parameters.require("accountID", as: AccountID.self)
        let now = dependencies.clock.now()
        try await database.withTransaction { connection in
            let (_, standing) = try await authorize(.moderate, group: id, actor: actor, now: now, lock: true, on: connection, logger: context.logger)
            guard let targetStanding = try await GroupStore.standing(group: id, account: target, now: now, on: connection, logger: context.logger)?.1,
                  let targetRole = targetStanding.role else { throw APIError.notFound }
            // Moderators remove members; only owners (or town admins) remove moderators and owners.
            if targetRole >= .moderator {
                try APIError.check(Policy.decide(actor, .administer, in: standing))
                if targetRole == .owner, try await GroupStore.ownerCount(group: id, on: connection, logger: context.logger) <= 1 {
                    throw APIError(.conflict, code: "last_owner", message: "the last owner cannot be removed")
                }
            }
            try await GroupStore.removeMember(group: id, account: target, on: connection, logger: context.logger)
            try await announceMember("member.removed", group: id, account: target, role: nil, now: now, on: connection, logger: context.logger)
        }
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
        let now = dependencies.clock.now()
        try await database.withTransaction { connection in
            _ = try await authorize(.administer, group: id, actor: actor, now: now, lock: true, on: connection, logger: context.logger)
            let current = try await GroupStore.standing(group: id, account: target, now: now, on: connection, logger: context.logger)?.1.role
            guard current != nil else { throw APIError.notFound }
            if current == .owner && role != .owner, try await GroupStore.ownerCount(group: id, on: connection, logger: context.logger) <= 1 {
                throw APIError(.conflict, code: "last_owner", message: "the group must keep at least one owner")
            }
            _ = try await GroupStore.setRole(group: id, account: target, role: role, on: connection, logger: context.logger)
            try await announceMember("member.role_changed", group: id, account: target, role: role, now: now, on: connection, logger: context.logger)
        }
        return .noContent
    }

    // MARK: - Requests, invitations, bans

    struct JoinRequestResponse: ResponseEncodable, Sendable {
        let accountId: AccountID
        let displayName: String
        let state: String
        let message: String
        let createdAt: Date
    }

    struct JoinRequestList: ResponseEncodable, Sendable {
        let items: [JoinRequestResponse]
    }

    @Sendable func joinRequests(_ request: Request, context: KairanRequestContext) async throws -> JoinRequestList {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let state = request.uri.queryParameters["state"].map(String.init) ?? "pending"
        guard ["pending", "denied"].contains(state) else { throw APIError.badRequest("state must be pending or denied") }
        let now = dependencies.clock.now()
        let requests = try await database.withConnection { connection in
            _ = try await authorize(.moderate, group: id, actor: actor, now: now, on: connection, logger: context.logger)
            return try await GroupStore.joinRequests(group: id, state: state, on: connection, logger: context.logger)
        }
        return JoinRequestList(items: requests.map {
            JoinRequestResponse(accountId: $0.accountID, displayName: $0.displayName, state: $0.state, message: $0.message, createdAt: $0.createdAt)
        })
    }

    @Sendable func approve(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let target = try context.parameters.require("accountID", as: AccountID.self)
        let now = dependencies.clock.now()
        try await database.withTransaction { connection in
            _ = try await authorize(.moderate, group: id, actor: actor, now: now, lock: true, on: connection, logger: context.logger)
            // Pending or earlier denied: a moderator may change their mind.
            guard try await GroupStore.joinRequestState(group: id, account: target, on: connection, logger: context.logger) != nil else {
                throw APIError.notFound
            }
            try await GroupStore.addMember(group: id, account: target, role: .member, now: now, on: connection, logger: context.logger)
            try await announceMember("member.joined", group: id, account: target, role: .member, now: now, on: connection, logger: context.logger)
        }
        return .noContent
    }

    @Sendable func deny(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let target = try context.parameters.require("accountID", as: AccountID.self)
        let now = dependencies.clock.now()
        try await database.withTransaction { connection in
            _ = try await authorize(.moderate, group: id, actor: actor, now: now, on: connection, logger: context.logger)
            guard try await GroupStore.joinRequestState(group: id, account: target, on: connection, logger: context.logger) == "pending" else {
                throw APIError.notFound
            }
            try await GroupStore.denyJoinRequest(group: id, account: target, by: actor.accountID, now: now, on: connection, logger: context.logger)
        }
        return .noContent
    }

    struct Invite: Decodable {
        let accountId: AccountID
    }

    @Sendable func invite(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let target = try await request.decode(as: Invite.self, context: context).accountId
        let now = dependencies.clock.now()
        try await database.withTransaction { connection in
            _ = try await authorize(.moderate, group: id, actor: actor, now: now, on: connection, logger: context.logger)
            guard let targetStanding = try await GroupStore.standing(group: id, account: target, now: now, on: connection, logger: context.logger)?.1,
                  try await AccountStore.exists(id: target, on: connection, logger: context.logger) else { throw APIError.notFound }
            if targetStanding.banned { throw APIError(.conflict, code: "banned", message: "lift the ban before inviting this person") }
            if targetStanding.role != nil { throw APIError(.conflict, code: "already_member", message: "already a member") }
            try await GroupStore.invite(group: id, account: target, by: actor.accountID, now: now, on: connection, logger: context.logger)
        }
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
        let reason = try input?.reason.map { try Content.text($0, field: "reason", min: 0, max: Content.banReasonMax, multiline: true) } ?? ""
        let now = dependencies.clock.now()
        try await database.withTransaction { connection in
            let (_, standing) = try await authorize(.moderate, group: id, actor: actor, now: now, lock: true, on: connection, logger: context.logger)
            guard target != actor.accountID else { throw APIError(.conflict, code: "self_ban", message: "you cannot ban yourself") }
            guard try await AccountStore.exists(id: target, on: connection, logger: context.logger) else { throw APIError.notFound }
            if let targetRole = try await GroupStore.standing(group: id, account: target, now: now, on: connection, logger: context.logger)?.1.role,
               targetRole >= .moderator {
                try APIError.check(Policy.decide(actor, .administer, in: standing))
            }
            try await GroupStore.ban(group: id, account: target, by: actor.accountID, reason: reason, expiresAt: input?.expiresAt, now: now,
                                     on: connection, logger: context.logger)
            try await announceMember("member.banned", group: id, account: target, role: nil, now: now, on: connection, logger: context.logger)
        }
        return .noContent
    }

    @Sendable func unban(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let id = try context.parameters.require("groupID", as: GroupID.self)
        let target = try context.parameters.require("accountID", as: AccountID.self)
        let now = dependencies.clock.now()
        try await database.withTransaction { connection in
            _ = try await authorize(.moderate, group: id, actor: actor, now: now, on: connection, logger: context.logger)
            try await GroupStore.unban(group: id, account: target, on: connection, logger: context.logger)
        }
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
