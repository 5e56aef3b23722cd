import Foundation
import Hummingbird
import KairanAPI
import KairanCore
import KairanServices

/// The town's moderators: who is suspended from posting, and lifting a suspension or moving
/// its end, each with a reason (kept in the moderation log, and the person is told).
struct SuspensionPages {
    let web: WebFrontEnd
    var services: Services { web.services }

    func addRoutes(to routes: RouterGroup<KairanRequestContext>) {
        routes.get("/moderation/suspensions", use: list)
        routes.post("/moderation/suspensions/:id/lift", use: lift)
        routes.post("/moderation/suspensions/:id/until", use: reschedule)
    }

    struct SuspensionsView {
        struct Item { let id: Int64; let name: String; let scope: String; let until: String; let untilInput: String; let reason: String; let since: String }
        let csrf: String
        let showEnded: Bool
        let items: [Item]
        let next: String?
        let errors: [String]
    }

    func page(_ page: PageRequest, actor: Actor, showEnded: Bool = false, before: Int64? = nil, errors: [String] = [],
              status: HTTPResponse.Status = .ok, context: KairanRequestContext) async throws -> Response {
        let found = try await services.suspensions.list(actor, group: nil, account: nil, includeEnded: showEnded, before: before, limit: 50,
                                                        logger: context.logger)
        let zone = services.timeZone
        let view = SuspensionsView(
            csrf: page.csrf, showEnded: showEnded,
            items: found.items.map {
                .init(id: $0.id, name: $0.displayName, scope: $0.scope == "town" ? "町全体" : "グループ",
                      until: $0.active ? Dates.display($0.until, zone: zone) + " まで" : "終了", untilInput: Dates.inputValue($0.until, zone: zone),
                      reason: $0.reason, since: Dates.display($0.createdAt, zone: zone))
            },
            next: found.nextBefore.map { "/moderation/suspensions?before=\($0)" + (showEnded ? "&ended=1" : "") }, errors: errors)
        return web.renderer.page("suspensions", title: "利用停止", content: view, request: page, status: status, path: "/moderation/suspensions")
    }

    @Sendable func list(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            try await self.page(page, actor: try web.requireActor(page), showEnded: request.uri.queryParameters["ended"] == "1",
                                before: request.uri.queryParameters["before"].flatMap { Int64(String($0)) }, context: context)
        }
    }

    func change(_ request: Request, context: KairanRequestContext, done: String,
                _ action: @escaping @Sendable (Actor, Int64, Form) async throws -> Void) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let id = try context.parameters.require("id", as: Int64.self)
            let form = try await web.postedForm(request, context: context)
            do {
                try await action(actor, id, form)
            } catch {
                guard let message = Messages.formRefusal(error) else { throw error }
                return try await self.page(page, actor: actor, errors: [message], status: .unprocessableContent, context: context)
            }
            return PageRenderer.redirect("/moderation/suspensions?m=\(done)")
        }
    }

    @Sendable func lift(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await change(request, context: context, done: "suspension-lifted") { actor, id, form in
            _ = try await services.suspensions.lift(actor, id, reason: form["reason"] ?? "", logger: context.logger)
        }
    }

    @Sendable func reschedule(_ request: Request, context: KairanRequestContext) async throws -> Response {
        let zone = services.timeZone
        return try await change(request, context: context, done: "saved") { actor, id, form in
            guard let until = Dates.parseLocal(form["until"] ?? "", zone: zone) else {
                throw ValidationError(field: "until", code: "invalid_date", message: "until must be a date and time",
                                      japanese: "終わりの日時を入力してください。")
            }
            _ = try await services.suspensions.reschedule(actor, id, until: until, reason: form["reason"] ?? "", logger: context.logger)
        }
    }
}
