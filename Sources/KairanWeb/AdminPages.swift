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
        routes.post("/schools/:org/staff/:account/remove", use: removeStaff)
        routes.post("/schools/:org/settings", use: saveSettings)
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
        struct Member { let accountId: AccountID; let name: String; let role: String; let maySkip: Bool }
        /// The organization's settings as its admins change them (`admin` only).
        struct Settings { let requiresApproval: Bool; let escalateAfterMinutes: Int; let quietStart: String; let quietEnd: String; let absenceReasons: String }
        let csrf: String
        let organizationId: OrganizationID
        let members: [Member]
        let admin: Bool
        let settings: Settings?
        let errors: [String]
    }

    /// `draft`: settings as posted and refused, shown again as typed.
    func staffPage(_ page: PageRequest, actor: Actor, org: OrganizationID, errors: [String] = [], status: HTTPResponse.Status = .ok,
                   draft: StaffPageView.Settings? = nil, context: KairanRequestContext) async throws -> Response {
        let staff = try await services.organizations.staff(actor, org, logger: context.logger)
        let organization = try await services.organizations.staffOf(actor, logger: context.logger).first { $0.id == org }
        var admin = false
        do {
            _ = try await services.organizations.authorize(actor, org, for: .administer, logger: context.logger)
            admin = true
        } catch ServiceError.forbidden {
            // Staff who are not its admins: the list, without the admins' controls.
        }
        let view = StaffPageView(
            csrf: page.csrf, organizationId: org,
            members: staff.map { .init(accountId: $0.accountId, name: $0.displayName, role: $0.role == .orgAdmin ? "管理職" : "職員", maySkip: $0.maySkipApproval) },
            admin: admin,
            settings: !admin ? nil : draft ?? organization.map {
                .init(requiresApproval: $0.requiresApproval, escalateAfterMinutes: $0.escalateAfterMinutes, quietStart: $0.quietHours?.start ?? "",
                      quietEnd: $0.quietHours?.end ?? "", absenceReasons: $0.absenceReasons.joined(separator: "\n"))
            },
            errors: errors)
        return web.renderer.page("staff", title: "職員と設定", content: view, request: page, status: status, path: "/schools/\(org)/staff")
    }

    @Sendable func removeStaff(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let org = try context.parameters.require("org", as: OrganizationID.self)
            let account = try context.parameters.require("account", as: AccountID.self)
            _ = try await web.postedForm(request, context: context)
            do {
                try await services.organizations.removeStaff(actor, org, account: account, logger: context.logger)
            } catch let error as ServiceError {
                guard case .conflict = error else { throw error }
                return try await staffPage(page, actor: actor, org: org, errors: [Messages.describe(error).1], status: .conflict, context: context)
            }
            return PageRenderer.redirect("/schools/\(org)/staff?m=removed")
        }
    }

    /// Approval of notices, when unconfirmed urgent notices are followed up, the quiet hours
    /// normal notices wait out, and the reasons a guardian picks from when reporting an absence.
    @Sendable func saveSettings(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let org = try context.parameters.require("org", as: OrganizationID.self)
            let form = try await web.postedForm(request, context: context)
            let quietStart = (form["quietStart"] ?? "").trimmingCharacters(in: .whitespaces)
            let quietEnd = (form["quietEnd"] ?? "").trimmingCharacters(in: .whitespaces)
            let reasons = Messages.lines(form["absenceReasons"] ?? "").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            do {
                guard quietStart.isEmpty == quietEnd.isEmpty else {
                    throw ValidationError(field: "quietHours", code: "required", message: "give both ends of the quiet hours or neither",
                                          japanese: "夜間の通知を控える時間は、始まりと終わりの両方を入れるか、両方とも空にしてください。")
                }
                let change = OrganizationService.Change(
                    requiresApproval: form["requiresApproval"] == "on",
                    escalateAfterMinutes: form["escalateAfterMinutes"].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) },
                    absenceReasons: reasons,
                    quietHours: .some(quietStart.isEmpty ? nil : TimeWindow(start: quietStart, end: quietEnd)))
                _ = try await services.organizations.update(actor, org, change, logger: context.logger)
            } catch {
                guard let message = Messages.formRefusal(error) else { throw error }
                let typed = StaffPageView.Settings(
                    requiresApproval: form["requiresApproval"] == "on", escalateAfterMinutes: form["escalateAfterMinutes"].flatMap { Int($0) } ?? 60,
                    quietStart: quietStart, quietEnd: quietEnd, absenceReasons: reasons.joined(separator: "\n"))
                return try await staffPage(page, actor: actor, org: org, errors: [message], status: .unprocessableContent, draft: typed, context: context)
            }
            return PageRenderer.redirect("/schools/\(org)/staff?m=saved")
        }
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
