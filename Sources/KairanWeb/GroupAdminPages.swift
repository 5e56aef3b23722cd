import Foundation
import Hummingbird
import KairanAPI
import KairanCore
import KairanServices

/// A group's owners and moderators: the members (remove or ban), the requests to join
/// (approve or deny), invitations (invite by address, withdraw) and bans (lift).
struct GroupAdminPages {
    let web: WebFrontEnd
    var services: Services { web.services }

    func addRoutes(to routes: RouterGroup<KairanRequestContext>) {
        routes.get("/groups/:id/members", use: members)
        routes.post("/groups/:id/requests/:account/approve", use: approve)
        routes.post("/groups/:id/requests/:account/deny", use: deny)
        routes.post("/groups/:id/invitations", use: invite)
        routes.post("/groups/:id/invitations/:account/withdraw", use: withdrawInvitation)
        routes.post("/groups/:id/members/:account/remove", use: removeMember)
        routes.post("/groups/:id/members/:account/ban", use: ban)
        routes.post("/groups/:id/bans/:account/lift", use: liftBan)
    }

    struct MembersView {
        /// `removable`: a moderator may remove or ban this member (not themselves, and only
        /// owners act on owners and moderators; the service decides, this hides the buttons).
        struct Member { let accountId: AccountID; let name: String; let role: String; let removable: Bool }
        struct Request { let accountId: AccountID; let name: String; let message: String?; let at: String }
        struct Invitation { let accountId: AccountID; let name: String; let at: String }
        struct Ban { let accountId: AccountID; let name: String; let reason: String?; let until: String }
        let csrf: String
        let groupId: GroupID
        let groupName: String
        let moderates: Bool
        let requests: [Request]
        let invitations: [Invitation]
        let bans: [Ban]
        let members: [Member]
        let next: String?
        let errors: [String]
    }

    static let roleLabels: [GroupRole: String] = [.owner: "管理者", .moderator: "モデレーター", .member: "メンバー"]

    @Sendable func members(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            try await membersPage(page, actor: try web.requireActor(page), id: try context.parameters.require("id", as: GroupID.self),
                                  after: request.uri.queryParameters["after"].flatMap { Int64(String($0)) }, context: context)
        }
    }

    func membersPage(_ page: PageRequest, actor: Actor, id: GroupID, after: Int64? = nil, errors: [String] = [], status: HTTPResponse.Status = .ok,
                     context: KairanRequestContext) async throws -> Response {
        let group = try await services.groups.group(actor, id, logger: context.logger)
        // Requests, invitations and bans are the moderators' (the service refuses others);
        // members see the list only.
        let moderates = group.myRole == .owner || group.myRole == .moderator
        let requests = moderates ? try await services.groups.joinRequests(actor, id, state: .pending, logger: context.logger) : []
        let invitations = moderates ? try await services.groups.invitations(actor, id, logger: context.logger) : []
        let bans = moderates ? try await services.groups.bans(actor, id, logger: context.logger) : []
        let members = try await services.groups.members(actor, id, after: after, limit: 100, logger: context.logger)
        let zone = services.timeZone
        let view = MembersView(
            csrf: page.csrf, groupId: id, groupName: group.name, moderates: moderates,
            requests: requests.map { .init(accountId: $0.accountId, name: $0.displayName, message: $0.message.isEmpty ? nil : $0.message,
                                           at: Dates.display($0.createdAt, zone: zone)) },
            invitations: invitations.map { .init(accountId: $0.accountId, name: $0.displayName, at: Dates.display($0.createdAt, zone: zone)) },
            bans: bans.map { .init(accountId: $0.accountId, name: $0.displayName, reason: $0.reason.isEmpty ? nil : $0.reason,
                                   until: $0.expiresAt.map { Dates.display($0, zone: zone) + " まで" } ?? "期限なし") },
            members: members.items.map {
                .init(accountId: $0.accountId, name: $0.displayName, role: Self.roleLabels[$0.role] ?? $0.role.rawValue,
                      removable: moderates && $0.accountId != actor.accountID && ($0.role == .member || group.myRole == .owner))
            },
            next: members.nextBefore.map { "/groups/\(id)/members?after=\($0)" }, errors: errors)
        return web.renderer.page("group-members", title: "メンバー", content: view, request: page, status: status,
                                 liveStreams: ["group:\(id)"], path: "/groups/\(id)/members")
    }

    @Sendable func invite(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: GroupID.self)
            let form = try await web.postedForm(request, context: context)
            do {
                try await services.groups.invite(actor, id, email: form["email"] ?? "", logger: context.logger)
            } catch {
                guard let message = Messages.formOrConflictRefusal(error) else { throw error }
                return try await membersPage(page, actor: actor, id: id, errors: [message], status: .unprocessableContent, context: context)
            }
            return PageRenderer.redirect("/groups/\(id)/members?m=invited")
        }
    }

    /// One moderator's action on one account: withdraw an invitation, remove, ban or lift a ban.
    func act(_ request: Request, context: KairanRequestContext, done: String,
             _ action: @escaping @Sendable (Actor, GroupID, AccountID, Form) async throws -> Void) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: GroupID.self)
            let account = try context.parameters.require("account", as: AccountID.self)
            let form = try await web.postedForm(request, context: context)
            try await action(actor, id, account, form)
            return PageRenderer.redirect("/groups/\(id)/members?m=\(done)")
        }
    }

    @Sendable func withdrawInvitation(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await act(request, context: context, done: "withdrawn") { actor, id, account, _ in
            try await services.groups.withdrawInvitation(actor, id, account: account, logger: context.logger)
        }
    }

    @Sendable func removeMember(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await act(request, context: context, done: "member-removed") { actor, id, account, _ in
            try await services.groups.removeMember(actor, id, account: account, logger: context.logger)
        }
    }

    @Sendable func ban(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await act(request, context: context, done: "banned") { actor, id, account, form in
            let reason = (form["reason"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            try await services.groups.ban(actor, id, account: account, reason: reason.isEmpty ? nil : reason, expiresAt: nil, logger: context.logger)
        }
    }

    @Sendable func liftBan(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await act(request, context: context, done: "lifted") { actor, id, account, _ in
            try await services.groups.unban(actor, id, account: account, logger: context.logger)
        }
    }

    @Sendable func approve(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await decide(request, context: context, approve: true)
    }

    @Sendable func deny(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await decide(request, context: context, approve: false)
    }

    func decide(_ request: Request, context: KairanRequestContext, approve: Bool) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: GroupID.self)
            let account = try context.parameters.require("account", as: AccountID.self)
            _ = try await web.postedForm(request, context: context)
            if approve {
                try await services.groups.approveRequest(actor, id, account: account, logger: context.logger)
            } else {
                try await services.groups.denyRequest(actor, id, account: account, logger: context.logger)
            }
            return PageRenderer.redirect("/groups/\(id)/members?m=" + (approve ? "approved-member" : "denied-member"))
        }
    }
}
