import Foundation
import Hummingbird
import KairanCore
import KairanGateway
import KairanServices
import KairanStore

/// The live stream: `GET /v1/stream` upgraded to a WebSocket.
///
/// Authenticated at the handshake (bearer header, or `?ticket=` from
/// `POST /v1/stream/tickets` for browsers), `Origin` checked against the allow-list, and
/// refused with a JSON error before any upgrade. Then a small JSON protocol:
///
///     → {"type":"subscribe","stream":"thread:7","after":41}   (after: last offset seen; optional)
///     ← {"type":"event","stream":"thread:7","offset":42,"kind":"post.created","data":{…}}   (replayed, then live)
///     ← {"type":"subscribed","stream":"thread:7","offset":42}
///     ← {"type":"gap","stream":"thread:7","offset":97}        (missed events are gone: refetch over REST)
///     → {"type":"unsubscribe","stream":"thread:7"}
///     ← {"type":"error","code":"forbidden","message":"…","stream":"group:3"}   (the socket stays open)
///     ← {"type":"revoked","stream":"group:3"}                 (membership ended)
struct StreamController {
    let dependencies: APIDependencies

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.post("/v1/stream/tickets", use: createTicket)
        guard dependencies.streamHub != nil else { return }
        routes.group()
            .add(middleware: StreamTicketMiddleware(dependencies: dependencies))
            .get("/v1/stream", use: upgrade)
    }

    struct Ticket: ResponseEncodable {
        let ticket: String
        let expiresAt: Date
    }

    @Sendable func createTicket(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<Ticket> {
        let actor = try context.requireActor()
        guard let session = context.session else { throw APIError.unauthenticated }
        let (ticket, expiresAt) = try await dependencies.services.sessions.issueStreamTicket(actor, session: session.sessionID, logger: context.logger)
        return EditedResponse(status: .created, response: Ticket(ticket: ticket, expiresAt: expiresAt))
    }

    /// Decides the upgrade: run by the connection's upgrade handshake (`StreamUpgradeChannel`),
    /// which opens the socket when this leaves a grant in the context and answers 200.
    /// Over plain HTTP it only tells why no socket would open.
    @Sendable func upgrade(_ request: Request, context: KairanRequestContext) async throws -> Response {
        guard Self.originAllowed(request, allowList: dependencies.allowedOrigins) else {
            throw APIError(.forbidden, code: "origin_not_allowed", message: "this origin may not open the stream")
        }
        _ = try context.requireActor()
        // The slot is there only when the connection's upgrade handshake asked.
        guard let session = context.session, let slot = context.streamUpgrade, request.headers[.upgrade]?.lowercased() == "websocket" else {
            throw APIError(.upgradeRequired, code: "upgrade_required", message: "open this URL with a WebSocket client")
        }
        slot.accept(StreamSocketGrant(
            actor: session.actor, sessionID: session.sessionID, expiresAt: session.expiresAt,
            language: MessageLanguage.negotiate(request.headers[.acceptLanguage])))
        return Response(status: .ok)
    }

    /// Cross-site WebSocket hijacking guard. A browser always sends the page's origin
    /// (http or https); pages from the allow-list and from this server itself may connect.
    /// Native clients send no Origin, or their own `ws://` URL, which no browser page can.
    static func originAllowed(_ request: Request, allowList: Set<String>) -> Bool {
        let host = request.head.authority ?? ""
        for origin in request.headers[values: .origin].map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if allowList.contains(origin) || origin.hasPrefix("ws://") || origin.hasPrefix("wss://") { continue }
            if !host.isEmpty && (origin == "http://\(host)" || origin == "https://\(host)") { continue }
            return false
        }
        return true
    }
}

/// Spends a `?ticket=` on the stream route, for browsers that cannot send headers there.
struct StreamTicketMiddleware: RouterMiddleware {
    typealias Context = KairanRequestContext
    let dependencies: APIDependencies

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard context.session == nil, let text = request.uri.queryParameters["ticket"] else {
            return try await next(request, context)
        }
        guard text.count <= 100 else { throw APIError(.unauthorized, code: "invalid_ticket", message: "the ticket is malformed") }
        guard let session = try await dependencies.services.sessions.spendStreamTicket(String(text), logger: context.logger) else {
            throw APIError(.unauthorized, code: "invalid_ticket", message: "the ticket is unknown, used or expired; ask for a new one")
        }
        var context = context
        context.session = AuthenticatedSession(sessionID: session.id, actor: Actor(accountID: session.accountID, roles: session.roles),
                                               expiresAt: session.expiresAt)
        return try await next(request, context)
    }
}
