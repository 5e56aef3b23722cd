import Foundation
import Hummingbird
import KairanAPI
import KairanCore
import KairanServices

/// The group directory, a group with its threads, creating, joining and leaving groups,
/// starting a thread and searching a group.
struct GroupPages {
    let web: WebFrontEnd
    var services: Services { web.services }

    func addRoutes(to routes: RouterGroup<KairanRequestContext>) {
        routes.get("/groups", use: directory)
        routes.get("/groups/new", use: newGroupPage)
        routes.post("/groups", use: create)
        routes.get("/groups/:id", use: group)
        routes.post("/groups/:id/join", use: join)
        routes.post("/groups/:id/leave", use: leave)
        routes.post("/groups/:id/decline", use: decline)
        routes.post("/groups/:id/threads", use: startThread)
        routes.get("/groups/:id/search", use: search)
    }

    struct DirectoryView {
        struct Item {
            let id: GroupID; let name: String; let description: String?; let area: String?
            let kindLabel: String; let joinLabel: String; let member: Bool
        }
        let kind: String?
        let isCommunity: Bool
        let isParenting: Bool
        let areaFilter: String
        let items: [Item]
        let next: String?
        let signedIn: Bool
    }

    @Sendable func directory(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let query = request.uri.queryParameters
            let kind = query["kind"].flatMap { GroupKind(rawValue: String($0)) }
            let area = query["area"].map { String($0).trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : String($0.prefix(40)) }
            let before = query["before"].flatMap { Int64(String($0)) }
            let groups = try await services.groups.list(actor, .init(kind: kind, area: area), before: before, limit: 30, logger: context.logger)
            let items = groups.items.map {
                DirectoryView.Item(id: $0.id, name: $0.name, description: $0.description.isEmpty ? nil : $0.description, area: $0.area,
                                   kindLabel: Messages.kind($0.kind), joinLabel: Messages.joinPolicy($0.joinPolicy), member: $0.myRole != nil)
            }
            let next = groups.nextBefore.map { before -> String in
                var link = "/groups?before=\(before)"
                if let kind { link += "&kind=\(kind.rawValue)" }
                if let area { link += "&area=" + (area.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "") }
                return link
            }
            let view = DirectoryView(kind: kind?.rawValue, isCommunity: kind == .community, isParenting: kind == .parenting, areaFilter: area ?? "",
                                     items: items, next: next, signedIn: true)
            return web.renderer.page("groups", title: "グループ", content: view, request: page)
        }
    }

    struct NewGroupView {
        let csrf: String
        let name: String
        let description: String
        let area: String
        let parenting: Bool
        let errors: [String]
    }

    @Sendable func newGroupPage(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            _ = try web.requireActor(page)
            let view = NewGroupView(csrf: page.csrf, name: "", description: "", area: "", parenting: false, errors: [])
            return web.renderer.page("group-new", title: "グループを作る", content: view, request: page)
        }
    }

    @Sendable func create(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let form = try await web.postedForm(request, context: context)
            let kind = GroupKind(rawValue: form["kind"] ?? "") ?? .community
            let name = form["name"] ?? "", description = form["description"] ?? "", area = form["area"] ?? ""
            let policy = JoinPolicy(rawValue: form["joinPolicy"] ?? "") ?? .open
            do {
                let group = try await services.groups.create(
                    actor, .init(kind: kind, name: name, description: description.isEmpty ? nil : description, area: area.isEmpty ? nil : area,
                                 visibility: .public, joinPolicy: policy == .approval ? .approval : .open),
                    logger: context.logger)
                return PageRenderer.redirect("/groups/\(group.id)?m=created")
            } catch let error as ValidationError {
                let view = NewGroupView(csrf: page.csrf, name: name, description: description, area: area, parenting: kind == .parenting,
                                        errors: [Messages.describe(error)])
                return web.renderer.page("group-new", title: "グループを作る", content: view, request: page, status: .unprocessableContent)
            }
        }
    }

    struct GroupPageView {
        struct Thread {
            let id: ThreadID; let title: String; let pinned: Bool; let locked: Bool; let postCount: Int
            let lastPost: String; let lastPostISO: String; let unread: Int?
        }
        let csrf: String
        let group: GroupView
        let description: String?
        let kindLabel: String
        let member: Bool
        /// Owners and moderators reach the group's moderation queue from here.
        let moderates: Bool
        let canJoin: Bool
        let joinButton: String
        /// Invited to this private group: they may accept (join) or decline.
        let invited: Bool
        /// Files the opening post may carry, and those chosen already (kept when the form
        /// comes back with an error).
        let maxFiles: Int
        let attachments: [AttachmentID]
        struct Event {
            let id: EventID; let title: String; let when: String; let startISO: String; let place: String; let going: Int; let cancelled: Bool
            let myAnswer: String?
        }
        /// Upcoming events, soonest first.
        let events: [Event]
        let threads: [Thread]
        let next: String?
        let title: String
        let body: String
        let errors: [String]
    }

    func groupPage(
        _ page: PageRequest, id: GroupID, before: Int64?, title: String = "", body: String = "", attachments: [AttachmentID] = [], errors: [String] = [], status: HTTPResponse.Status = .ok,
        context: KairanRequestContext
    ) async throws -> Response {
        let actor = try web.requireActor(page)
        let group = try await services.groups.group(actor, id, logger: context.logger)
        let member = group.myRole != nil
        // Someone invited to a private group sees what they are invited to, not its threads.
        var invited = false
        if !member && group.visibility == .private {
            invited = try await services.groups.myInvitations(actor, logger: context.logger).contains { $0.groupId == id }
        }
        let list = invited ? nil : try await services.threads.threads(actor, in: id, before: before, limit: 30, logger: context.logger)
        let zone = services.timeZone
        let events = invited ? [] : try await services.events.events(actor, in: id, past: false, before: nil, limit: 10, logger: context.logger).items.map {
            GroupPageView.Event(id: $0.id, title: $0.title, when: EventText.when($0.startsAt, $0.endsAt, zone: zone), startISO: Dates.iso($0.startsAt),
                                place: $0.place, going: $0.counts.going, cancelled: $0.cancelled, myAnswer: $0.myAnswer.map { Messages.eventAnswer($0.answer) })
        }
        let threads = ((list?.pinned ?? []) + (list?.page.items ?? []).filter { !$0.pinned }).map {
            GroupPageView.Thread(id: $0.id, title: $0.title, pinned: $0.pinned, locked: $0.locked, postCount: $0.postCount,
                                 lastPost: Dates.display($0.lastPostAt, zone: zone), lastPostISO: Dates.iso($0.lastPostAt),
                                 unread: $0.unreadCount > 0 ? $0.unreadCount : nil)
        }
        let view = GroupPageView(
            csrf: page.csrf, group: group, description: group.description.isEmpty ? nil : group.description, kindLabel: Messages.kind(group.kind), member: member,
            moderates: group.myRole == .owner || group.myRole == .moderator,
            canJoin: !member && (group.joinPolicy != .invite || invited),
            joinButton: invited ? "招待を受けて参加する" : group.joinPolicy == .approval ? "参加を申し込む" : "このグループに参加する",
            invited: invited, maxFiles: services.attachmentLimits.perPost, attachments: attachments, events: events,
            threads: threads, next: list?.page.nextBefore.map { "/groups/\(id)?before=\($0)" }, title: title, body: body, errors: errors)
        return web.renderer.page("group", title: group.name, content: view, request: page, status: status,
                                 liveStreams: ["group:\(id)"], path: "/groups/\(id)" + (before.map { "?before=\($0)" } ?? ""))
    }

    @Sendable func group(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let id = try context.parameters.require("id", as: GroupID.self)
            return try await groupPage(page, id: id, before: request.uri.queryParameters["before"].flatMap { Int64(String($0)) }, context: context)
        }
    }

    @Sendable func join(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: GroupID.self)
            _ = try await web.postedForm(request, context: context)
            let membership = try await services.groups.join(actor, id, message: nil, logger: context.logger)
            return PageRenderer.redirect("/groups/\(id)?m=" + (membership == .member ? "joined" : "requested"))
        }
    }

    @Sendable func decline(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: GroupID.self)
            _ = try await web.postedForm(request, context: context)
            try await services.groups.declineInvitation(actor, id, logger: context.logger)
            return PageRenderer.redirect("/groups?m=declined")
        }
    }

    @Sendable func leave(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: GroupID.self)
            _ = try await web.postedForm(request, context: context)
            try await services.groups.leave(actor, id, logger: context.logger)
            return PageRenderer.redirect("/groups?m=left")
        }
    }

    @Sendable func startThread(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: GroupID.self)
            let form = try await web.postedForm(request, context: context)
            let title = form["title"] ?? "", body = form["body"] ?? ""
            let attachments = FilePages.chosen(in: form)
            do {
                let started = try await services.threads.startThread(actor, in: id, title: title, body: body, attachments: attachments,
                                                                     logger: context.logger)
                return PageRenderer.redirect("/threads/\(started.thread.id)")
            } catch {
                guard let message = Messages.formRefusal(error) else { throw error }
                return try await groupPage(page, id: id, before: nil, title: title, body: body, attachments: attachments, errors: [message],
                                           status: .unprocessableContent, context: context)
            }
        }
    }

    struct SearchView {
        struct Result { let id: PostID; let threadId: ThreadID; let author: String; let created: String; let createdISO: String; let excerpt: String }
        let groupId: GroupID
        let groupName: String
        let query: String
        let results: [Result]
    }

    @Sendable func search(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: GroupID.self)
            let query = String(request.uri.queryParameters["q"] ?? "")
            let group = try await services.groups.group(actor, id, logger: context.logger)
            let found = try await services.threads.search(actor, in: id, text: query, before: nil, limit: 30, logger: context.logger)
            let zone = services.timeZone
            let results = found.items.map {
                SearchView.Result(id: $0.id, threadId: $0.threadId, author: $0.author?.displayName ?? "退会したユーザー",
                                  created: Dates.display($0.createdAt, zone: zone), createdISO: Dates.iso($0.createdAt),
                                  excerpt: String(($0.body ?? "").prefix(200)))
            }
            return web.renderer.page("search", title: "検索結果", content: SearchView(groupId: id, groupName: group.name, query: query, results: results),
                                     request: page)
        }
    }
}
