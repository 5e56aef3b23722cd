import Foundation
import Hummingbird
import KairanAPI
import KairanCore
import KairanServices
import KairanStore
import Logging

/// The town's web pages, served by the same binary as the API, at `/`. Pages call the same
/// services as the JSON routes; they only parse forms, call, and render.
public struct WebFrontEnd: Sendable {
    let services: Services
    let security: WebSecurity
    let renderer: PageRenderer

    /// `publicURL`: where residents reach the site; https makes every cookie `Secure`.
    public init(services: Services, publicURL: String) {
        self.services = services
        self.security = WebSecurity(secureCookies: publicURL.lowercased().hasPrefix("https://"), publicOrigin: origin(of: publicURL),
                                    keys: FormKeys())
        self.renderer = PageRenderer(security: security)
    }

    /// Registers the pages on `router`. Outside the API's route registry: the pages are not
    /// part of `openapi.yaml`.
    public func addRoutes(to router: Router<KairanRequestContext>) {
        Assets.addRoutes(to: router)
        PushPages.addServiceWorker(to: router)
        let pages = router.group().add(middleware: WebSessionMiddleware(services: services, cookieName: security.sessionCookieName))
        AccountPages(web: self).addRoutes(to: pages)
        GroupPages(web: self).addRoutes(to: pages)
        EventPages(web: self).addRoutes(to: pages)
        GroupAdminPages(web: self).addRoutes(to: pages)
        ThreadPages(web: self).addRoutes(to: pages)
        GuardianPages(web: self).addRoutes(to: pages)
        SchoolPages(web: self).addRoutes(to: pages)
        AbsencePages(web: self).addRoutes(to: pages)
        RosterPages(web: self).addRoutes(to: pages)
        NoticeListPages(web: self).addRoutes(to: pages)
        AdminPages(web: self).addRoutes(to: pages)
        AlertPages(web: self).addRoutes(to: pages)
        ModerationPages(web: self).addRoutes(to: pages)
        SuspensionPages(web: self).addRoutes(to: pages)
        StreamTicketRoute(web: self).addRoutes(to: pages)
        PushPages(web: self).addRoutes(to: pages)
        FilePages(web: self).addRoutes(to: pages)
        // Any other address a browser asks for gets a page in Japanese with the menu, not the
        // API's JSON 404; the API's own paths keep their JSON answer.
        pages.get("**") { request, context in
            if request.uri.path.hasPrefix("/v1/") || request.uri.path == "/v1" { throw APIError.notFound }
            return try await respond(request, context: context) { page in
                errorPage(page, status: .notFound, heading: "ページが見つかりません", message: "アドレスが間違っているか、ページが移動しました。")
            }
        }
    }

    // MARK: - Shared by the page controllers

    /// A request from this site's own script: same origin, with the page's form token in
    /// `X-CSRF-Token` (what a form carries in a field).
    func verifyScriptRequest(_ request: Request, context: KairanRequestContext) async throws {
        guard security.isSameOrigin(request), let seed = request.cookies[security.csrfCookieName]?.value,
              try await security.verify(request.headers[.init("X-CSRF-Token")!] ?? "", seed: seed, session: context.session?.sessionID,
                                        database: services.database) else {
            throw APIError.forbidden("a page of this site sends this with its form token")
        }
    }

    /// Who is asking, and the form token for the page.
    func pageRequest(_ request: Request, context: KairanRequestContext) async throws -> PageRequest {
        let existing = request.cookies[security.csrfCookieName]?.value
        let seed = existing.flatMap { $0.isEmpty || $0.utf8.count > 64 ? nil : $0 }
        let newSeed = seed == nil ? WebSecurity.newSeed() : nil
        let csrf = try await security.token(for: seed ?? newSeed!, session: context.session?.sessionID, database: services.database)
        return PageRequest(
            actor: context.session?.actor, sessionID: context.session?.sessionID, displayName: context.session?.displayName,
            isOrganizationStaff: context.session?.isOrganizationStaff ?? false, csrf: csrf,
            newSeed: newSeed, path: request.uri.path + (request.uri.query.map { "?" + $0 } ?? ""))
    }

    /// Reads a posted form after checking that it came from one of our pages: a form token
    /// made for this browser's cookie (`respond` has already refused other origins).
    /// Anything else is answered 403.
    func postedForm(_ request: Request, context: KairanRequestContext) async throws -> Form {
        let form = try await Form.read(request, context: context, limit: 64 * 1024)
        guard let seed = request.cookies[security.csrfCookieName]?.value,
              try await security.verify(form[WebSecurity.csrfField] ?? "", seed: seed, session: context.session?.sessionID,
                                        database: services.database) else {
            throw WebRefusal.badToken
        }
        return form
    }

    /// The signed-in person, or a redirect to the login page that comes back here.
    func requireActor(_ page: PageRequest) throws -> Actor {
        guard let actor = page.actor else { throw WebRefusal.signInRequired(next: page.path) }
        return actor
    }

    /// Runs a page handler, answering refusals and service errors as pages in Japanese.
    func respond(
        _ request: Request, context: KairanRequestContext, _ body: (PageRequest) async throws -> Response
    ) async throws -> Response {
        let page: PageRequest
        do {
            page = try await pageRequest(request, context: context)
        } catch {
            return PageRenderer.plainError(status: .serviceUnavailable, message: "ただいまご利用いただけません。しばらくしてからもう一度お試しください。")
        }
        do {
            // Before anything else, a form another site posted is refused (whether or not
            // its browser sent our cookies with it).
            if request.method == .post, !security.isSameOrigin(request) { throw WebRefusal.crossSite }
            return try await body(page)
        } catch let refusal as WebRefusal {
            switch refusal {
            case .signInRequired(let next):
                let target = request.method == .get ? next : (request.headers[.referer].flatMap(Self.localPath) ?? "/")
                return PageRenderer.redirect("/login?next=" + (target.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/"))
            case .crossSite, .badToken:
                return errorPage(page, status: .forbidden, heading: "送信できませんでした",
                                 message: "フォームの有効期限が切れたか、別のサイトから送信されました。ページを開き直して、もう一度お試しください。")
            }
        } catch let error as ServiceError {
            let (status, message) = Messages.describe(error)
            if case .unauthenticated = error, page.actor == nil {
                return PageRenderer.redirect("/login?next=" + (page.path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/"))
            }
            return errorPage(page, status: status, heading: status == .notFound ? "ページが見つかりません" : "この操作はできません", message: message)
        } catch let error as ValidationError {
            return errorPage(page, status: .unprocessableContent, heading: "入力内容を確認してください", message: Messages.describe(error))
        } catch let error as APIError where error.status == .contentTooLarge {
            return errorPage(page, status: .contentTooLarge, heading: "送信できませんでした", message: "送信された内容が大きすぎます。")
        } catch let error as HTTPError where error.status == .badRequest {
            // A path parameter that is not a number: no such page.
            return errorPage(page, status: .notFound, heading: "ページが見つかりません", message: Messages.describe(ServiceError.notFound).1)
        } catch {
            if Database.isUnavailable(error) {
                return errorPage(page, status: .serviceUnavailable, heading: "ただいまご利用いただけません",
                                 message: "混み合っているか、保守中です。しばらくしてからもう一度お試しください。")
            }
            context.logger.error("page failed", metadata: ["error_type": "\(type(of: error))"])
            return errorPage(page, status: .internalServerError, heading: "エラーが発生しました",
                             message: "申し訳ありません。もう一度お試しください。続く場合は役場にお問い合わせください。")
        }
    }

    func errorPage(_ page: PageRequest, status: HTTPResponse.Status, heading: String, message: String) -> Response {
        renderer.page("error", title: heading, content: ErrorView(heading: heading, message: message, back: "/"), request: page, status: status)
    }

    /// A path on this site taken from a URL or path (for "come back here"); nil for anything
    /// that would lead elsewhere.
    static func localPath(_ text: String) -> String? {
        let path: String
        if text.hasPrefix("/") {
            path = text
        } else if let url = URL(string: text), url.host != nil {
            path = url.path + (url.query.map { "?" + $0 } ?? "")
        } else {
            return nil
        }
        // "//host" and "/\host" are other sites to a browser, and browsers drop tabs and
        // newlines from a URL before they read it ("/<tab>/host" is "//host"): no backslash or
        // control character anywhere.
        guard path.hasPrefix("/"), !path.hasPrefix("//"), path.utf8.count <= 512,
              !path.unicodeScalars.contains(where: { $0 == "\\" || $0.properties.generalCategory == .control }) else { return nil }
        return path
    }
}

struct ErrorView {
    let heading: String
    let message: String
    let back: String
}

/// Why a page refused before any service was asked.
enum WebRefusal: Error {
    case signInRequired(next: String)
    case crossSite
    case badToken
}

/// Resolves the session cookie to a session (as the bearer token does for the API).
/// A cookie that no longer names a live session is ignored: the visitor is anonymous.
struct WebSessionMiddleware: RouterMiddleware {
    typealias Context = KairanRequestContext
    let services: Services
    let cookieName: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token = request.cookies[cookieName]?.value, !token.isEmpty, token.utf8.count <= 128 else {
            return try await next(request, context)
        }
        guard let session = try await services.sessions.authenticate(token: token, logger: context.logger) else {
            return try await next(request, context)
        }
        var context = context
        context.session = AuthenticatedSession(sessionID: session.id, actor: Actor(accountID: session.accountID, roles: session.roles),
                                               expiresAt: session.expiresAt, displayName: session.displayName,
                                               isOrganizationStaff: session.isOrganizationStaff)
        context.logger[metadataKey: "account_id"] = "\(session.accountID)"
        return try await next(request, context)
    }
}
