import Foundation
import Hummingbird
import KairanAPI
import KairanCore
import KairanServices
import KairanStore

/// A school's roster: classes, children (by class), a child's guardians, registering a
/// guardian by mail address, and the one-time link code a guardian types on their phone.
struct RosterPages {
    let web: WebFrontEnd
    var services: Services { web.services }

    func addRoutes(to routes: RouterGroup<KairanRequestContext>) {
        routes.get("/schools/:org/classes", use: classes)
        routes.post("/schools/:org/classes", use: createClass)
        routes.post("/schools/:org/classes/:class/teachers", use: addTeacher)
        routes.post("/schools/:org/classes/:class/teachers/:account/remove", use: removeTeacher)
        routes.get("/schools/:org/children", use: children)
        routes.post("/schools/:org/children", use: createChild)
        routes.get("/schools/:org/children/:child", use: child)
        routes.post("/schools/:org/children/:child/guardians", use: addGuardian)
        routes.post("/schools/:org/children/:child/link-code", use: linkCode)
    }

    struct ClassesView {
        struct Teacher { let accountId: AccountID; let name: String }
        struct Item { let id: ClassID; let name: String; let grade: Int?; let teachers: [Teacher] }
        struct Staff { let accountId: AccountID; let name: String }
        let csrf: String
        /// Whom the administrators can make a class's 担任.
        let staff: [Staff]
        let organizationId: OrganizationID
        let items: [Item]
        let errors: [String]
    }

    func classesPage(_ page: PageRequest, actor: Actor, org: OrganizationID, errors: [String] = [], status: HTTPResponse.Status = .ok,
                     context: KairanRequestContext) async throws -> Response {
        let classes = try await services.organizations.classes(actor, org, logger: context.logger)
        let staff = try await services.organizations.staff(actor, org, logger: context.logger)
        let names = Dictionary(staff.map { ($0.accountId, $0.displayName) }, uniquingKeysWith: { first, _ in first })
        let view = ClassesView(
            csrf: page.csrf, staff: staff.map { .init(accountId: $0.accountId, name: $0.displayName) }, organizationId: org,
            items: classes.map { klass in
                .init(id: klass.id, name: klass.name, grade: klass.grade,
                      teachers: klass.teacherIds.map { .init(accountId: $0, name: names[$0] ?? "（職員ではなくなった人）") })
            }, errors: errors)
        return web.renderer.page("classes", title: "クラス", content: view, request: page, status: status, path: "/schools/\(org)/classes")
    }

    @Sendable func classes(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            try await classesPage(page, actor: try web.requireActor(page), org: try context.parameters.require("org", as: OrganizationID.self), context: context)
        }
    }

    @Sendable func createClass(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let org = try context.parameters.require("org", as: OrganizationID.self)
            let form = try await web.postedForm(request, context: context)
            do {
                _ = try await services.organizations.createClass(actor, org, name: form["name"] ?? "", grade: form["grade"].flatMap { Int($0) },
                                                                 logger: context.logger)
            } catch let error as ValidationError {
                return try await classesPage(page, actor: actor, org: org, errors: [Messages.describe(error)], status: .unprocessableContent, context: context)
            } catch ServiceError.conflict(let code, _, _) where code == "class_exists" {
                return try await classesPage(page, actor: actor, org: org, errors: ["同じ名前のクラスがあります。"], status: .unprocessableContent, context: context)
            }
            return PageRenderer.redirect("/schools/\(org)/classes?m=saved")
        }
    }

    @Sendable func addTeacher(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let org = try context.parameters.require("org", as: OrganizationID.self)
            let klass = try context.parameters.require("class", as: ClassID.self)
            let form = try await web.postedForm(request, context: context)
            guard let account = form["account"].flatMap({ AccountID($0) }) else {
                return try await classesPage(page, actor: actor, org: org, errors: ["担任にする職員を選んでください。"], status: .unprocessableContent,
                                             context: context)
            }
            try await services.organizations.addTeacher(actor, org, class: klass, account: account, logger: context.logger)
            return PageRenderer.redirect("/schools/\(org)/classes?m=saved")
        }
    }

    @Sendable func removeTeacher(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let org = try context.parameters.require("org", as: OrganizationID.self)
            let klass = try context.parameters.require("class", as: ClassID.self)
            let account = try context.parameters.require("account", as: AccountID.self)
            _ = try await web.postedForm(request, context: context)
            try await services.organizations.removeTeacher(actor, org, class: klass, account: account, logger: context.logger)
            return PageRenderer.redirect("/schools/\(org)/classes?m=removed")
        }
    }

    struct ChildrenView {
        struct Item { let id: ChildID; let name: String; let className: String? }
        struct Choice { let id: ClassID; let name: String; let selected: Bool }
        let csrf: String
        let organizationId: OrganizationID
        let classChoices: [Choice]
        let items: [Item]
        let errors: [String]
    }

    func childrenPage(_ page: PageRequest, actor: Actor, org: OrganizationID, classFilter: ClassID?, errors: [String] = [],
                      status: HTTPResponse.Status = .ok, context: KairanRequestContext) async throws -> Response {
        let classes = try await services.organizations.classes(actor, org, logger: context.logger)
        let children = try await services.organizations.children(actor, org, class: classFilter, logger: context.logger)
        let view = ChildrenView(csrf: page.csrf, organizationId: org,
                                classChoices: classes.map { .init(id: $0.id, name: $0.name, selected: $0.id == classFilter) },
                                items: children.map { .init(id: $0.id, name: $0.name, className: $0.className) }, errors: errors)
        return web.renderer.page("roster-children", title: "子ども", content: view, request: page, status: status,
                                 path: "/schools/\(org)/children" + (classFilter.map { "?class=\($0)" } ?? ""))
    }

    @Sendable func children(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            try await childrenPage(page, actor: try web.requireActor(page), org: try context.parameters.require("org", as: OrganizationID.self),
                                   classFilter: request.uri.queryParameters["class"].flatMap { ClassID(String($0)) }, context: context)
        }
    }

    @Sendable func createChild(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let org = try context.parameters.require("org", as: OrganizationID.self)
            let form = try await web.postedForm(request, context: context)
            let classID = form["class"].flatMap { ClassID($0) }
            do {
                let child = try await services.organizations.createChild(actor, org, name: form["name"] ?? "", class: classID, siblingOf: nil,
                                                                         logger: context.logger)
                return PageRenderer.redirect("/schools/\(org)/children/\(child.id)?m=saved")
            } catch let error as ValidationError {
                return try await childrenPage(page, actor: actor, org: org, classFilter: classID, errors: [Messages.describe(error)],
                                              status: .unprocessableContent, context: context)
            }
        }
    }

    struct ChildPageView {
        struct Guardian { let name: String; let email: String; let phone: String?; let delivery: String; let hasAccount: Bool }
        let csrf: String
        let organizationId: OrganizationID
        let child: ChildView
        let guardians: [Guardian]
        let code: String?
        let codeExpires: String?
        let errors: [String]
    }

    static let deliveryLabels: [GuardianDelivery: String] = [.app: "サイト", .mail: "メール", .both: "サイトとメール"]

    func childPage(_ page: PageRequest, actor: Actor, org: OrganizationID, child id: ChildID, code: LinkCodeView? = nil, errors: [String] = [],
                   status: HTTPResponse.Status = .ok, context: KairanRequestContext) async throws -> Response {
        let child = try await services.organizations.child(actor, org, child: id, logger: context.logger)
        let guardians = try await services.organizations.guardians(actor, org, child: id, logger: context.logger)
        let view = ChildPageView(
            csrf: page.csrf, organizationId: org, child: child,
            guardians: guardians.map { .init(name: $0.name, email: $0.email ?? "", phone: $0.phone, delivery: Self.deliveryLabels[$0.delivery] ?? "",
                                             hasAccount: $0.hasAccount) },
            code: code.map { Self.grouped($0.code) }, codeExpires: code.map { Dates.display($0.expiresAt, zone: services.timeZone) }, errors: errors)
        return web.renderer.page("roster-child", title: child.name, content: view, request: page, status: status, path: "/schools/\(org)/children/\(id)")
    }

    /// ABCD-EFGH-JKLM: easier to read out and type.
    static func grouped(_ code: String) -> String {
        stride(from: 0, to: code.count, by: 4).map { start -> String in
            let from = code.index(code.startIndex, offsetBy: start)
            return String(code[from..<code.index(from, offsetBy: min(4, code.distance(from: from, to: code.endIndex)))])
        }.joined(separator: "-")
    }

    @Sendable func child(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            try await childPage(page, actor: try web.requireActor(page), org: try context.parameters.require("org", as: OrganizationID.self),
                                child: try context.parameters.require("child", as: ChildID.self), context: context)
        }
    }

    @Sendable func addGuardian(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let org = try context.parameters.require("org", as: OrganizationID.self)
            let id = try context.parameters.require("child", as: ChildID.self)
            let form = try await web.postedForm(request, context: context)
            let phone = (form["phone"] ?? "").trimmingCharacters(in: .whitespaces)
            do {
                _ = try await services.organizations.addGuardian(actor, org, child: id, name: form["name"] ?? "", email: form["email"] ?? "",
                                                                 phone: phone.isEmpty ? nil : phone, logger: context.logger)
            } catch let error as ValidationError {
                return try await childPage(page, actor: actor, org: org, child: id, errors: [Messages.describe(error)], status: .unprocessableContent,
                                           context: context)
            }
            return PageRenderer.redirect("/schools/\(org)/children/\(id)?m=saved")
        }
    }

    /// The code is shown once, on this answer (not a redirect): it is not stored in clear.
    @Sendable func linkCode(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let org = try context.parameters.require("org", as: OrganizationID.self)
            let id = try context.parameters.require("child", as: ChildID.self)
            _ = try await web.postedForm(request, context: context)
            let code = try await services.organizations.createLinkCode(actor, org, child: id, logger: context.logger)
            return try await childPage(page, actor: actor, org: org, child: id, code: code, context: context)
        }
    }
}
