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
