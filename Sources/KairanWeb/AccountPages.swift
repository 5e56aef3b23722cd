import Foundation
import Hummingbird
import KairanAPI
import KairanCore
import KairanServices

/// The home page, signing up, logging in and out, and one's own page.
struct AccountPages {
    let web: WebFrontEnd
    var services: Services { web.services }

    func addRoutes(to routes: RouterGroup<KairanRequestContext>) {
        routes.get("/", use: home)
        routes.get("/login", use: loginPage)
        routes.post("/login", use: logIn)
        routes.get("/signup", use: signupPage)
        routes.post("/signup", use: signUp)
        routes.post("/logout", use: logOut)
        routes.get("/me", use: me)
        routes.post("/me/delivery", use: setDelivery)
        routes.post("/me/alert-push", use: setAlertPush)
        routes.post("/me/password", use: changePassword)
    }

    struct HomeView {
        struct Group { let id: GroupID; let name: String; let unread: Int? }
        let signedIn: Bool
        let groups: [Group]
    }

    @Sendable func home(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            var groups: [HomeView.Group] = []
            if let actor = page.actor {
                let mine = try await services.groups.list(actor, .init(mine: true), before: nil, limit: 50, logger: context.logger)
                groups = mine.items.map { .init(id: $0.id, name: $0.name, unread: ($0.unreadCount ?? 0) > 0 ? $0.unreadCount : nil) }
            }
            return web.renderer.page("home", title: "ホーム", content: HomeView(signedIn: page.actor != nil, groups: groups), request: page)
        }
    }

    struct LoginView {
        let csrf: String
        let next: String
        let email: String
        let errors: [String]
    }

    @Sendable func loginPage(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let next = request.uri.queryParameters["next"].flatMap { WebFrontEnd.localPath(String($0)) } ?? "/"
            if page.actor != nil { return PageRenderer.redirect(next) }
            return web.renderer.page("login", title: "ログイン", content: LoginView(csrf: page.csrf, next: next, email: "", errors: []), request: page)
        }
    }

    @Sendable func logIn(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let form = try await web.postedForm(request, context: context)
            let next = form["next"].flatMap(WebFrontEnd.localPath) ?? "/"
            let email = form["email"] ?? ""
            do {
                let session = try await services.sessions.logIn(email: email, password: form["password"] ?? "", client: context.clientAddress,
                                                                logger: context.logger)
                let maxAge = Int(session.record.expiresAt.timeIntervalSince(services.clock.now()))
                return PageRenderer.redirect(next, cookies: [web.security.sessionCookie(session.token, maxAge: maxAge),
                                                             web.security.csrfCookie(WebSecurity.newSeed())])
            } catch let error as ServiceError {
                let (status, message) = Messages.describe(error)
                return web.renderer.page("login", title: "ログイン", content: LoginView(csrf: page.csrf, next: next, email: email, errors: [message]),
                                         request: page, status: status == .unauthorized ? .ok : status)
            }
        }
    }

    struct SignupView {
        let csrf: String
        let displayName: String
        let email: String
        let errors: [String]
    }

    @Sendable func signupPage(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            if page.actor != nil { return PageRenderer.redirect("/") }
            return web.renderer.page("signup", title: "新規登録", content: SignupView(csrf: page.csrf, displayName: "", email: "", errors: []), request: page)
        }
    }

    @Sendable func signUp(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let form = try await web.postedForm(request, context: context)
            let name = form["displayName"] ?? "", email = form["email"] ?? "", password = form["password"] ?? ""
            func again(_ message: String, status: HTTPResponse.Status) -> Response {
                web.renderer.page("signup", title: "新規登録", content: SignupView(csrf: page.csrf, displayName: name, email: email, errors: [message]),
                                  request: page, status: status)
            }
            do {
                _ = try await services.accounts.register(email: email, password: password, displayName: name, client: context.clientAddress,
                                                         logger: context.logger)
                let session = try await services.sessions.logIn(email: email, password: password, client: context.clientAddress, logger: context.logger)
                let maxAge = Int(session.record.expiresAt.timeIntervalSince(services.clock.now()))
                return PageRenderer.redirect("/?m=welcome", cookies: [web.security.sessionCookie(session.token, maxAge: maxAge),
                                                                      web.security.csrfCookie(WebSecurity.newSeed())])
            } catch let error as ValidationError {
                return again(Messages.describe(error), status: .unprocessableContent)
            } catch let error as ServiceError {
                let (status, message) = Messages.describe(error)
                return again(message, status: status)
            }
        }
    }

    @Sendable func logOut(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            _ = try await web.postedForm(request, context: context)
            if let actor = page.actor, let session = page.sessionID {
                try await services.sessions.logOut(actor, session: session, logger: context.logger)
            }
            return PageRenderer.redirect("/", cookies: [web.security.expiredSessionCookie(), web.security.csrfCookie(WebSecurity.newSeed())])
        }
    }

    struct MeView {
        struct Item { let text: String; let created: String; let createdISO: String; let read: Bool; let link: String? }
        struct Delivery { let value: String; let label: String; let checked: Bool }
        /// A device that gets pushes with the app closed.
        struct Device { let id: Int64; let name: String; let created: String; let createdISO: String }
        /// For guardians: how school notices reach them.
        struct Guardian { let deliveries: [Delivery]; let email: String; let phone: String }
        struct Choice { let code: String; let name: String; let checked: Bool; let mandatory: Bool }
        /// Which of the town's alerts come to this account's devices.
        struct AlertPush { let enabled: Bool; let categories: [Choice]; let areas: [Choice] }
        let csrf: String
        /// What browsers subscribe with.
        let pushKey: String
        let devices: [Device]
        let alertPush: AlertPush
        let displayName: String
        let email: String
        let guardian: Guardian?
        let notifications: [Item]
        let errors: [String]
        let passwordErrors: [String]
        let alertPushErrors: [String]
    }

    static let deliveries: [(GuardianDelivery, String)] = [(.app, "このサイト（アプリ）で受け取る"), (.mail, "メールで受け取る"), (.both, "両方で受け取る")]

    func mePage(
        _ page: PageRequest, actor: Actor, errors: [String] = [], passwordErrors: [String] = [], alertPushErrors: [String] = [],
        status: HTTPResponse.Status = .ok,
        context: KairanRequestContext
    ) async throws -> Response {
        let account = try await services.accounts.own(actor, logger: context.logger)
        let notifications = try await services.notifications.list(actor, before: nil, limit: 30, logger: context.logger)
        var guardian: MeView.Guardian?
        let devices = try await services.pushDevices.devices(actor).map { device in
            MeView.Device(id: device.id, name: device.label ?? "\(device.service) 経由の端末", created: Dates.display(device.createdAt, zone: services.timeZone),
                          createdISO: Dates.iso(device.createdAt))
        }
        let choices = try await services.alertService.pushChoices(actor, logger: context.logger)
        let categories = try await services.alertService.categories(logger: context.logger).filter { !$0.archived }
        let areas = try await services.alertService.areas(logger: context.logger).filter { !$0.archived }
        // Off: every category ticked, ready to turn on as it is.
        let alertPush = MeView.AlertPush(
            enabled: choices.enabled,
            categories: categories.map { .init(code: $0.code, name: $0.name, checked: $0.mandatory || !choices.enabled || choices.categories.contains($0.code),
                                               mandatory: $0.mandatory) },
            areas: areas.map { .init(code: $0.code, name: $0.name, checked: choices.areas.contains($0.code), mandatory: false) })
        do {
            let record = try await services.guardians.guardian(actor, logger: context.logger)
            guardian = .init(deliveries: Self.deliveries.map { .init(value: $0.0.rawValue, label: $0.1, checked: $0.0 == record.delivery) },
                             email: record.email ?? "", phone: record.phone ?? "")
        } catch ServiceError.notFound {
            // Not a guardian (no child linked): no delivery settings to show.
        }
        let items = notifications.items.map { item in
            MeView.Item(text: Messages.notification(item), created: Dates.display(item.createdAt, zone: services.timeZone),
                        createdISO: Dates.iso(item.createdAt), read: item.read,
                        link: item.data.threadId.map { "/threads/\($0)" + (item.data.postId.map { "#post-\($0)" } ?? "") }
                            ?? item.data.eventId.map { "/events/\($0)" }
                            ?? (item.kind == "group.invited" ? item.data.groupId.map { "/groups/\($0)" } : nil)
                            ?? (item.kind == "weather.pending" ? "/alerts#weather-heading" : nil))
        }
        let view = MeView(csrf: page.csrf, pushKey: try await services.pushDevices.publicKey(), devices: devices, alertPush: alertPush,
                          displayName: account.displayName, email: account.email, guardian: guardian, notifications: items, errors: errors,
                          passwordErrors: passwordErrors, alertPushErrors: alertPushErrors)
        return web.renderer.page("me", title: "マイページ", content: view, request: page, status: status, liveStreams: ["user:\(actor.accountID)"], path: "/me")
    }

    @Sendable func me(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            try await mePage(page, actor: try web.requireActor(page), context: context)
        }
    }

    @Sendable func setDelivery(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let form = try await web.postedForm(request, context: context)
            let delivery = GuardianDelivery(rawValue: form["delivery"] ?? "") ?? .app
            let email = (form["email"] ?? "").trimmingCharacters(in: .whitespaces), phone = (form["phone"] ?? "").trimmingCharacters(in: .whitespaces)
            do {
                _ = try await services.guardians.setDelivery(actor, delivery, email: email.isEmpty ? nil : email, phone: phone.isEmpty ? nil : phone,
                                                             logger: context.logger)
            } catch let error as ValidationError {
                return try await mePage(page, actor: actor, errors: [Messages.describe(error)], status: .unprocessableContent, context: context)
            }
            return PageRenderer.redirect("/me?m=delivery")
        }
    }

    /// Which of the town's alerts come to this account's devices (the mandatory categories
    /// are not in the form: they always come).
    @Sendable func setAlertPush(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            let form = try await web.postedForm(request, context: context)
            let mandatory = try await services.alertService.categories(logger: context.logger).filter { $0.mandatory && !$0.archived }.map(\.code)
            do {
                _ = try await services.alertService.setPushChoices(actor, enabled: form["alerts"] == "on",
                                                                   categories: Array(Set(form.all("category").prefix(50) + mandatory)),
                                                                   areas: Array(form.all("area").prefix(100)), logger: context.logger)
            } catch let error as ValidationError {
                return try await mePage(page, actor: actor, alertPushErrors: [Messages.describe(error)], status: .unprocessableContent, context: context)
            }
            return PageRenderer.redirect("/me?m=" + (form["alerts"] == "on" ? "alert-push" : "alert-push-off"))
        }
    }

    /// Every other session ends; this browser stays signed in.
    @Sendable func changePassword(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            guard let session = page.sessionID else { throw WebRefusal.signInRequired(next: "/me") }
            let form = try await web.postedForm(request, context: context)
            do {
                try await services.sessions.changePassword(actor, session: session, current: form["currentPassword"] ?? "", new: form["newPassword"] ?? "",
                                                           client: context.clientAddress, logger: context.logger)
            } catch let error as ValidationError {
                return try await mePage(page, actor: actor, passwordErrors: [Messages.describe(error)], status: .unprocessableContent, context: context)
            } catch let error as ServiceError {
                let (status, message) = Messages.describe(error)
                return try await mePage(page, actor: actor, passwordErrors: [message], status: status, context: context)
            }
            return PageRenderer.redirect("/me?m=password")
        }
    }
}
