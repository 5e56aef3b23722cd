import Foundation
import Hummingbird
import KairanAPI
import KairanCore
import KairanServices
import KairanStore

/// Town administrators: schools and nurseries with their first administrator, and town
/// roles (moderators, alert senders, administrators), everyone named by login address.
/// Also a school's staff, kept by its own administrators.
struct AdminPages {
    let web: WebFrontEnd
    var services: Services { web.services }

    func addRoutes(to routes: RouterGroup<KairanRequestContext>) {
        routes.get("/admin", use: admin)
        routes.post("/admin/organizations", use: createOrganization)
        routes.post("/admin/roles", use: grantRole)
        routes.get("/schools/:org/staff", use: staff)
        routes.post("/schools/:org/staff", use: addStaff)
    }

    static let kinds: [(OrganizationKind, String)] = [(.school, "学校"), (.nursery, "保育所・園"), (.facility, "施設"), (.townOffice, "役場")]
    static let roles: [(Role, String)] = [(.townModerator, "町のモデレーター"), (.alertSender, "防災・防犯メールの送信"), (.townAdmin, "町の管理者")]

    struct AdminView {
        struct Choice { let value: String; let label: String }
        struct Organization { let id: OrganizationID; let name: String; let kind: String }
        let csrf: String
        let kinds: [Choice]
        let roles: [Choice]
        let organizations: [Organization]
        let errors: [String]
    }

    func adminPage(_ page: PageRequest, actor: Actor, errors: [String] = [], status: HTTPResponse.Status = .ok, context: KairanRequestContext) async throws -> Response {
        guard actor.isTownAdmin else { throw ServiceError.forbidden("town administrators only") }
        let organizations = try await services.organizations.list(actor, logger: context.logger)
        let view = AdminView(
            csrf: page.csrf, kinds: Self.kinds.map { .init(value: $0.0.rawValue, label: $0.1) }, roles: Self.roles.map { .init(value: $0.0.rawValue, label: $0.1) },
            organizations: organizations.map { organization in
                .init(id: organization.id, name: organization.name, kind: Self.kinds.first { $0.0 == organization.kind }?.1 ?? "")
            }, errors: errors)
        return web.renderer.page("admin", title: "町の管理", content: view, request: page, status: status, path: "/admin")
    }

    @Sendable func admin(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            try await adminPage(page, actor: try web.requireActor(page), context: context)
        }
    }

    static func message(_ error: ValidationError) -> String {
        error.code == "unknown_account" ? "そのメールアドレスで登録された利用者はいません。先にサイトで新規登録してもらってください。" : Messages.describe(error)
    }

    @Sendable func createOrganization(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let form = try await web.postedForm(request, context: context)
            do {
                _ = try await services.organizations.create(actor, kind: OrganizationKind(rawValue: form["kind"] ?? "") ?? .school, name: form["name"] ?? "",
                                                            adminEmail: form["adminEmail"] ?? "", logger: context.logger)
            } catch let error as ValidationError {
                return try await adminPage(page, actor: actor, errors: [Self.message(error)], status: .unprocessableContent, context: context)
            }
            return PageRenderer.redirect("/admin?m=saved")
        }
    }

    @Sendable func grantRole(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let form = try await web.postedForm(request, context: context)
            guard let role = Role(rawValue: form["role"] ?? ""), Self.roles.contains(where: { $0.0 == role }) else {
                return try await adminPage(page, actor: actor, errors: ["役割を選んでください。"], status: .unprocessableContent, context: context)
            }
            do {
                try await services.accounts.grant(actor, role, toEmail: form["email"] ?? "", logger: context.logger)
            } catch let error as ValidationError {
                return try await adminPage(page, actor: actor, errors: [Self.message(error)], status: .unprocessableContent, context: context)
            }
            return PageRenderer.redirect("/admin?m=granted")
        }
    }

    struct StaffPageView {
        struct Member { let name: String; let role: String; let maySkip: Bool }
        let csrf: String
        let organizationId: OrganizationID
        let members: [Member]
        let errors: [String]
    }

    func staffPage(_ page: PageRequest, actor: Actor, org: OrganizationID, errors: [String] = [], status: HTTPResponse.Status = .ok,
                   context: KairanRequestContext) async throws -> Response {
        let staff = try await services.organizations.staff(actor, org, logger: context.logger)
        let view = StaffPageView(csrf: page.csrf, organizationId: org,
                                 members: staff.map { .init(name: $0.displayName, role: $0.role == .orgAdmin ? "管理職" : "職員", maySkip: $0.maySkipApproval) },
                                 errors: errors)
        return web.renderer.page("staff", title: "職員", content: view, request: page, status: status, path: "/schools/\(org)/staff")
    }

    @Sendable func staff(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            try await staffPage(page, actor: try web.requireActor(page), org: try context.parameters.require("org", as: OrganizationID.self), context: context)
        }
    }

    @Sendable func addStaff(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let org = try context.parameters.require("org", as: OrganizationID.self)
            let form = try await web.postedForm(request, context: context)
            let role: OrganizationRole = form["role"] == "org_admin" ? .orgAdmin : .staff
            do {
                try await services.organizations.setStaff(actor, org, email: form["email"] ?? "", role: role, maySkipApproval: form["maySkip"] == "on",
                                                          logger: context.logger)
            } catch let error as ValidationError {
                return try await staffPage(page, actor: actor, org: org, errors: [Self.message(error)], status: .unprocessableContent, context: context)
            }
            return PageRenderer.redirect("/schools/\(org)/staff?m=saved")
        }
    }
}
