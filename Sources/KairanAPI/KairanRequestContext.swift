import Foundation
import Hummingbird
import KairanCore
import KairanGateway
import NIOConcurrencyHelpers
import NIOCore

/// Per-request state: the framework's core storage plus who is calling.
public struct KairanRequestContext: ConnectionRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Where the stream route leaves its verdict for the connection's upgrade: set only on
    /// the context of an upgrade request (`StreamUpgradeChannel`), so no other request pays
    /// for it.
    public var streamUpgrade: StreamUpgradeSlot?
    /// The connection, so the stream can drop a client whose socket has stopped draining
    /// (no close frame can get through a full socket).
    public let channel: any Channel
    /// Set by `AuthenticationMiddleware` when a valid bearer token came with the request.
    public var session: AuthenticatedSession?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    public var maxUploadSize: Int { Limits.maxJSONBodyBytes }
    public var requestDecoder: StrictJSONDecoder { StrictJSONDecoder() }

    /// The caller's network address (the peer of this connection; a reverse proxy in front
    /// makes it the proxy's), for throttling logins and registrations. Nil when unknown.
    public var clientAddress: String? { channel.remoteAddress?.ipAddress }

    /// The caller, or 401.
    public func requireActor() throws -> Actor {
        guard let session else { throw APIError.unauthenticated }
        return session.actor
    }
}

public struct AuthenticatedSession: Sendable {
    public let sessionID: Int64
    public let actor: Actor
    /// When the login ends by itself; a stream socket closes then.
    public let expiresAt: Date
    /// The account's display name, for pages that greet the person.
    public let displayName: String?
    /// Staff of some school or nursery, for the pages' menu.
    public let isOrganizationStaff: Bool

    public init(sessionID: Int64, actor: Actor, expiresAt: Date, displayName: String? = nil, isOrganizationStaff: Bool = false) {
        self.sessionID = sessionID
        self.actor = actor
        self.expiresAt = expiresAt
        self.displayName = displayName
        self.isOrganizationStaff = isOrganizationStaff
    }
}

/// The stream route's answer to an upgrade request, read by the HTTP channel
/// (`StreamUpgradeChannel`) once the router has run: set only when the socket may open.
public final class StreamUpgradeSlot: Sendable {
    private let value = NIOLockedValueBox<StreamSocketGrant?>(nil)

    public init() {}

    public var grant: StreamSocketGrant? { value.withLockedValue { $0 } }

    func accept(_ grant: StreamSocketGrant) {
        value.withLockedValue { $0 = grant }
    }
}
