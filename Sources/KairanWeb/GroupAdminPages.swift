import Foundation
import Hummingbird
import KairanAPI
import KairanCore
import KairanServices

/// A group's owners and moderators: the members and the requests to join (approve or deny).
struct GroupAdminPages {
    let web: WebFrontEnd
    var services: Services { web.services }

    func addRoutes(to routes: RouterGroup<KairanRequestContext>) {
        routes.get("/groups/:id/members", use: members)
        routes.post("/groups/:id/requests/:account/approve", use: approve)
        routes.post("/groups/:id/requests/:account/deny", use: deny)
    }

    struct MembersView {
        struct Member { let name: String; let role: String }
        struct Request { let accountId: AccountID; let name: String; let message: String?; let at: String }
        let csrf: String
        let groupId: GroupID
        let groupName: String
        let requests: [Request]
        let members: [Member]
        let next: String?
    }

    static let roleLabels: [GroupRole: String] = [.owner: "管理者", .moderator: "モデレーター", .member: "メンバー"]

    @Sendable func members(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: GroupID.self)
            let group = try await services.groups.group(actor, id, logger: context.logger)
            // The requests are the moderators' (the service refuses others); members see the list only.
            let moderates = group.myRole == .owner || group.myRole == .moderator
            let requests = moderates ? try await services.groups.joinRequests(actor, id, state: .pending, logger: context.logger) : []
            let after = request.uri.queryParameters["after"].flatMap { Int64(String($0)) }
            let members = try await services.groups.members(actor, id, after: after, limit: 100, logger: context.logger)
            let zone = services.timeZone
            let view = MembersView(
                csrf: page.csrf, groupId: id, groupName: group.name,
                requests: requests.map { .init(accountId: $0.accountId, name: $0.displayName, message: $0.message.isEmpty ? nil : $0.message,
                                               at: Dates.display($0.createdAt, zone: zone)) },
                members: members.items.map { .init(name: $0.displayName, role: Self.roleLabels[$0.role] ?? $0.role.rawValue) },
                next: members.nextBefore.map { "/groups/\(id)/members?after=\($0)" })
            return web.renderer.page("group-members", title: "メンバー", content: view, request: page, liveStreams: ["group:\(id)"])
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
