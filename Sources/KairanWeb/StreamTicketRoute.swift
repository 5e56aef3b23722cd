import Foundation
import Hummingbird
import KairanAPI
import KairanServices

/// `POST /stream-ticket`: a single-use ticket for the live script to open `/v1/stream`
/// with (a browser cannot put the session on a WebSocket's headers, and the session cookie
/// is out of the script's reach). Same-origin only, with the page's form token in a header.
struct StreamTicketRoute {
    let web: WebFrontEnd

    func addRoutes(to routes: RouterGroup<KairanRequestContext>) {
        routes.post("/stream-ticket", use: ticket)
    }

    struct Ticket: ResponseEncodable {
        let ticket: String
    }

    @Sendable func ticket(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.verifyScriptRequest(request, context: context)
        let actor = try context.requireActor()
        guard let session = context.session?.sessionID else { throw APIError.unauthenticated }
        let issued = try await web.services.sessions.issueStreamTicket(actor, session: session, logger: context.logger)
        var response = try Ticket(ticket: issued.ticket).response(from: request, context: context)
        response.headers[.cacheControl] = "no-store"
        return response
    }
}

extension WebFrontEnd {
    /// A request from this site's own script: same origin, with the page's form token in
    /// `X-CSRF-Token` (what a form carries in a field).
    func verifyScriptRequest(_ request: Request, context: KairanRequestContext) async throws {
        guard security.isSameOrigin(request), let seed = request.cookies[security.csrfCookieName]?.value,
              try await security.verify(request.headers[.init("X-CSRF-Token")!] ?? "", seed: seed, session: context.session?.sessionID,
                                        database: services.database) else {
            throw APIError.forbidden("a page of this site sends this with its form token")
        }
    }
}
