import Foundation
import Hummingbird
import KairanAPI
import KairanCore
import KairanServices

/// A school's custom lists (名簿: a club, a trip's group…), which the notice composer offers
/// beside grades and classes: made, changed and deleted by its staff.
struct NoticeListPages {
    let web: WebFrontEnd
    var services: Services { web.services }

    func addRoutes(to routes: RouterGroup<KairanRequestContext>) {
        routes.get("/schools/:org/lists", use: lists)
        routes.post("/schools/:org/lists", use: create)
        routes.get("/schools/:org/lists/:list", use: list)
        routes.post("/schools/:org/lists/:list", use: update)
        routes.post("/schools/:org/lists/:list/delete", use: delete)
    }

    struct ListsView {
        struct Item { let id: NoticeListID; let name: String; let children: String; let count: Int }
        let csrf: String
        let organizationId: OrganizationID
        let items: [Item]
        let form: ChildPicker
        let errors: [String]
    }

    /// The children of the school by class, each one ticked when on the list.
    struct ChildPicker {
        struct Child { let id: ChildID; let name: String; let checked: Bool }
        struct Class { let name: String; let children: [Child]; let open: Bool }
        let listName: String
        let classes: [Class]
    }

    func picker(_ actor: Actor, _ org: OrganizationID, name: String, chosen: Set<ChildID>, context: KairanRequestContext) async throws -> ChildPicker {
        picker(try await services.organizations.children(actor, org, class: nil, logger: context.logger), name: name, chosen: chosen)
    }

    func picker(_ children: [ChildView], name: String, chosen: Set<ChildID>) -> ChildPicker {
        var order: [String] = []
        var byClass: [String: [ChildPicker.Child]] = [:]
        for child in children {
            let name = child.className ?? "（クラスなし）"
            if byClass[name] == nil { order.append(name) }
            byClass[name, default: []].append(.init(id: child.id, name: child.name, checked: chosen.contains(child.id)))
        }
        return ChildPicker(listName: name, classes: order.map { name in
            let members = byClass[name] ?? []
            return .init(name: name, children: members, open: members.contains { $0.checked })
        })
    }

    func listsPage(_ page: PageRequest, actor: Actor, org: OrganizationID, draft: (name: String, children: Set<ChildID>) = ("", []),
                   errors: [String] = [], status: HTTPResponse.Status = .ok, context: KairanRequestContext) async throws -> Response {
        let lists = try await services.notices.lists(actor, in: org, logger: context.logger)
        let children = try await services.organizations.children(actor, org, class: nil, logger: context.logger)
        let names = Dictionary(children.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        let view = ListsView(
            csrf: page.csrf, organizationId: org,
            items: lists.map { .init(id: $0.id, name: $0.name, children: $0.childIds.compactMap { names[$0] }.joined(separator: "、"), count: $0.childIds.count) },
            form: picker(children, name: draft.name, chosen: draft.children), errors: errors)
        return web.renderer.page("notice-lists", title: "名簿", content: view, request: page, status: status, path: "/schools/\(org)/lists")
    }

    @Sendable func lists(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            try await listsPage(page, actor: try web.requireActor(page), org: try context.parameters.require("org", as: OrganizationID.self), context: context)
        }
    }

    @Sendable func create(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let org = try context.parameters.require("org", as: OrganizationID.self)
            let form = try await web.postedForm(request, context: context)
            let name = form["name"] ?? ""
            let chosen = form.all("child").compactMap(ChildID.init)
            do {
                _ = try await services.notices.createList(actor, in: org, name: name, children: chosen, logger: context.logger)
            } catch {
                guard let message = Messages.formOrConflictRefusal(error) else { throw error }
                return try await listsPage(page, actor: actor, org: org, draft: (name, Set(chosen)), errors: [message], status: .unprocessableContent,
                                           context: context)
            }
            return PageRenderer.redirect("/schools/\(org)/lists?m=saved")
        }
    }

    struct ListView {
        let csrf: String
        let organizationId: OrganizationID
        let listId: NoticeListID
        let form: ChildPicker
        let errors: [String]
    }

    func listPage(_ page: PageRequest, actor: Actor, org: OrganizationID, id: NoticeListID, draft: (name: String, children: Set<ChildID>)? = nil,
                  errors: [String] = [], status: HTTPResponse.Status = .ok, context: KairanRequestContext) async throws -> Response {
        guard let list = try await services.notices.lists(actor, in: org, logger: context.logger).first(where: { $0.id == id }) else {
            throw ServiceError.notFound
        }
        let shown = draft ?? (list.name, Set(list.childIds))
        let view = ListView(csrf: page.csrf, organizationId: org, listId: id,
                            form: try await picker(actor, org, name: shown.name, chosen: shown.children, context: context), errors: errors)
        return web.renderer.page("notice-list", title: "名簿「\(list.name)」", content: view, request: page, status: status,
                                 path: "/schools/\(org)/lists/\(id)")
    }

    @Sendable func list(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            try await listPage(page, actor: try web.requireActor(page), org: try context.parameters.require("org", as: OrganizationID.self),
                               id: try context.parameters.require("list", as: NoticeListID.self), context: context)
        }
    }

    @Sendable func update(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let org = try context.parameters.require("org", as: OrganizationID.self)
            let id = try context.parameters.require("list", as: NoticeListID.self)
            let form = try await web.postedForm(request, context: context)
            let name = form["name"] ?? ""
            let chosen = form.all("child").compactMap(ChildID.init)
            do {
                _ = try await services.notices.updateList(actor, id, in: org, name: name, children: chosen, logger: context.logger)
            } catch {
                guard let message = Messages.formOrConflictRefusal(error) else { throw error }
                return try await listPage(page, actor: actor, org: org, id: id, draft: (name, Set(chosen)), errors: [message],
                                          status: .unprocessableContent, context: context)
            }
            return PageRenderer.redirect("/schools/\(org)/lists?m=saved")
        }
    }

    @Sendable func delete(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let org = try context.parameters.require("org", as: OrganizationID.self)
            _ = try await web.postedForm(request, context: context)
            try await services.notices.deleteList(actor, try context.parameters.require("list", as: NoticeListID.self), in: org, logger: context.logger)
            return PageRenderer.redirect("/schools/\(org)/lists?m=removed")
        }
    }
}
