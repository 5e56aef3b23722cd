import Foundation
import Hummingbird
import KairanAPI
import KairanCore
import KairanServices
import Logging
import Mustache

/// What a page needs to know about the request it answers: who is asking and the form
/// token its forms carry.
struct PageRequest: Sendable {
    let actor: Actor?
    let sessionID: Int64?
    let displayName: String?
    let isOrganizationStaff: Bool
    /// The token every form on the page carries (see `WebSecurity`).
    let csrf: String
    /// Set when the browser had no CSRF cookie yet: the response sets it.
    let newSeed: String?
    /// The path and query asked for, for "log in and come back".
    let path: String
}

/// Renders pages into the shared layout and answers with the headers every page carries.
struct PageRenderer: Sendable {
    let library: MustacheLibrary
    let security: WebSecurity

    init(security: WebSecurity) {
        self.security = security
        var library = MustacheLibrary()
        for (name, text) in Templates.all {
            // The templates are part of the source: one that does not parse is a build defect.
            try! library.register(text, named: name)
        }
        self.library = library
    }

    /// The page `template` rendered with `content`, inside the layout.
    func page(
        _ template: String, title: String, content: Any, request: PageRequest, status: HTTPResponse.Status = .ok,
        notice: String? = nil, liveStreams: [String] = [], path: String? = nil
    ) -> Response {
        // A page shown again after a failed form post names its own address, not the form's.
        let path = path ?? request.path
        guard let main = library.render(content, withTemplate: template) else {
            assertionFailure("no template named \(template)")
            return PageRenderer.plainError(status: .internalServerError, message: "エラーが発生しました。")
        }
        let layout = LayoutView(
            title: title, main: main, notice: notice ?? Messages.done(request.path), csrf: request.csrf, user: request.actor.map { UserNav($0, name: request.displayName, staff: request.isOrganizationStaff) },
            liveStreams: liveStreams.isEmpty ? nil : liveStreams.joined(separator: " "), assetVersion: Assets.version, path: path)
        let html = library.render(layout, withTemplate: "layout") ?? ""
        var response = Response(status: status, headers: Self.pageHeaders(), body: .init(byteBuffer: ByteBuffer(string: html)))
        if let seed = request.newSeed { response.setCookie(security.csrfCookie(seed)) }
        return response
    }

    /// A fragment (no layout), for the live module to swap in.
    func fragment(_ template: String, content: Any) -> Response {
        let html = library.render(content, withTemplate: template) ?? ""
        return Response(status: .ok, headers: Self.pageHeaders(), body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// A page without the layout's parts that need the database (when even the form token
    /// could not be made).
    static func plainError(status: HTTPResponse.Status, message: String) -> Response {
        let html = "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\"><title>回覧板</title></head><body><main><h1>回覧板</h1><p>\(message)</p></main></body></html>"
        return Response(status: status, headers: pageHeaders(), body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// 303 to `location` (after a form post: reloading the result does not post again).
    static func redirect(_ location: String, cookies: [Cookie] = []) -> Response {
        var headers = pageHeaders()
        headers[.location] = location
        var response = Response(status: .seeOther, headers: headers)
        for cookie in cookies { response.setCookie(cookie) }
        return response
    }

    static func pageHeaders() -> HTTPFields {
        var headers: HTTPFields = [:]
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.init("Content-Security-Policy")!] = WebSecurity.contentSecurityPolicy
        headers[.init("X-Content-Type-Options")!] = "nosniff"
        headers[.init("Referrer-Policy")!] = "same-origin"
        headers[.init("X-Frame-Options")!] = "DENY"
        // Pages show personal data: never kept by a shared cache or the back button's store.
        headers[.cacheControl] = "no-store"
        return headers
    }
}

struct LayoutView {
    let title: String
    let main: String
    let notice: String?
    let csrf: String
    let user: UserNav?
    let liveStreams: String?
    let assetVersion: String
    let path: String
}

/// The menu: what this person can reach.
struct UserNav {
    let name: String
    let moderator: Bool
    let townStaff: Bool
    let townAdmin: Bool
    /// School or nursery staff.
    let staff: Bool

    init(_ actor: Actor, name: String?, staff: Bool) {
        self.name = name ?? ""
        self.staff = staff
        moderator = actor.isTownModerator || actor.roles.contains(.groupModerator)
        townStaff = actor.roles.contains(.alertSender) || actor.roles.contains(.townAdmin)
        townAdmin = actor.isTownAdmin
    }
}
