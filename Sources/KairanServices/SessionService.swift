import Foundation
import KairanCore
import KairanStore
import Logging

/// Logging in and out, and the one-time tickets that open the live stream. A bearer token
/// and a web page's cookie are the same session.
public struct SessionService: Sendable {
    let services: Services

    /// How long a stream ticket may wait to be spent.
    public static let ticketLifetime: TimeInterval = 60

    public struct NewSession: Sendable {
        /// The secret, handed to the client once; only its hash is stored.
        public let token: String
        public let record: SessionRecord
    }

    /// Checks the password and opens a session. A wrong password, an unknown address and a
    /// malformed one all end in `invalidCredentials` after the same bcrypt work, so the
    /// answer does not tell strangers who has an account.
    ///
    /// Failed attempts are counted per address and per `client` (the caller's network
    /// address, when known); past either limit the caller waits (`rateLimited`), checked
    /// before any bcrypt work, so neither guessing one person's password nor trying many
    /// addresses from one place gets far, and a flood costs no hashing.
    public func logIn(email rawEmail: String, password: String, client: String? = nil, logger: Logger) async throws -> NewSession {
        let failures = FailedLogins(address: rawEmail, client: client, throttle: services.loginThrottle, now: services.clock.now())
        try await failures.refuseIfOverLimit(on: services.database)
        do {
            return try await checkAndOpen(email: rawEmail, password: password, logger: logger)
        } catch ServiceError.invalidCredentials {
            try await failures.count(on: services.database)
            throw ServiceError.invalidCredentials
        }
    }

    /// The failed-login counters a password check counts against: the address's and the
    /// caller's network address's (when known).
    private struct FailedLogins {
        let limits: [(key: String, limit: Int)]
        let window: TimeInterval
        let now: Date

        init(address rawEmail: String, client: String?, throttle: LoginThrottle, now: Date) {
            let address = (try? EmailAddress(rawEmail))?.comparisonKey ?? rawEmail.lowercased()
            var limits = [(key: ThrottleStore.loginAddressKey(address), limit: throttle.failuresPerAddress)]
            if let client { limits.append((key: "login:client:\(client)", limit: throttle.failuresPerClient)) }
            self.limits = limits
            self.window = throttle.window
            self.now = now
        }

        /// Past either limit the caller waits (`rateLimited`), before any password hashing.
        func refuseIfOverLimit(on database: Database) async throws {
            let retry = try await database.withConnection { db in
                try await ThrottleStore.blocked(limits, window: window, now: now, on: db)
            }
            if let retry { throw ServiceError.rateLimited(action: "login", retryAfter: retry) }
        }

        /// One more failure on each counter.
        func count(on database: Database) async throws {
            try await database.withConnection { db in
                try await ThrottleStore.count(limits.map(\.key), window: window, now: now, on: db)
            }
        }
    }

    private func checkAndOpen(email rawEmail: String, password: String, logger: Logger) async throws -> NewSession {
        let hasher = services.passwordHasher
        // An address that does not even parse is answered exactly as a wrong password: the
        // reply must not tell which accounts exist.
        guard let email = try? EmailAddress(rawEmail), password.utf8.count <= Limits.passwordMaxBytes else {
            try await hasher.verifyAgainstDummy(password)
            throw ServiceError.invalidCredentials
        }
        let account = try await services.database.withConnection { db in
            try await AccountStore.find(emailKey: email.comparisonKey, on: db)
        }
        guard let account else {
            try await hasher.verifyAgainstDummy(password)
            throw ServiceError.invalidCredentials
        }
        guard try await hasher.verify(password, against: account.passwordHash) else {
            logger.info("login refused", metadata: ["account_id": "\(account.id)"])
            throw ServiceError.invalidCredentials
        }
        let token = SessionToken.generate()
        let now = services.clock.now()
        let expiresAt = now.addingTimeInterval(services.sessionLifetime)
        let session = try await services.database.withTransaction { db in
            try await SessionStore.insert(token: token, accountID: account.id, now: now, expiresAt: expiresAt, on: db)
        }
        logger.info("session created", metadata: ["account_id": "\(account.id)", "session_id": "\(session.id)"])
        return NewSession(token: token.value, record: session)
    }

    /// The live session a token belongs to; nil when unknown, expired, revoked, or its
    /// account disabled.
    public func authenticate(token: String, logger: Logger) async throws -> ActiveSession? {
        let now = services.clock.now()
        return try await services.database.withConnection { db in
            try await SessionStore.findActive(token: SessionToken(value: token), now: now, on: db)
        }
    }

    /// Ends the session: its unspent stream tickets stop working and every instance closes
    /// the sockets it opened.
    public func logOut(_ actor: Actor, session: Int64, logger: Logger) async throws {
        try Policy.decide(actor, .endOwnSession).require()
        let now = services.clock.now()
        try await services.database.withTransaction { db in
            try await SessionStore.revoke(id: session, now: now, on: db)
        }
    }

    /// Changes the caller's password once the current one is given. Every other session of
    /// the account ends with it (their stream tickets stop working and their sockets close,
    /// on every instance); the one that asked goes on. A wrong current password counts as a
    /// failed login for the account's address and the caller's network address, so this
    /// form cannot be used to guess it faster than the login page allows.
    public func changePassword(
        _ actor: Actor, session: Int64, current: String, new: String, client: String? = nil, logger: Logger
    ) async throws {
        try Policy.decide(actor, .changeOwnPassword).require()
        do {
            try Password.validate(new)
        } catch {
            throw ValidationError(field: "newPassword", code: error.code, message: error.message.replacingOccurrences(of: "password", with: "newPassword"),
                                  japanese: error.japanese.map { "新しい" + $0 })
        }
        let account = try await services.database.withConnection { db in
            try await AccountStore.find(id: actor.accountID, on: db)
        }
        guard let account else { throw ServiceError.unauthenticated }
        let now = services.clock.now()
        let failures = FailedLogins(address: account.email, client: client, throttle: services.loginThrottle, now: now)
        try await failures.refuseIfOverLimit(on: services.database)
        let hasher = services.passwordHasher
        let matches = current.utf8.count <= Limits.passwordMaxBytes ? try await hasher.verify(current, against: account.passwordHash) : false
        guard matches else {
            try await failures.count(on: services.database)
            logger.info("password change refused: wrong current password", metadata: ["account_id": "\(account.id)"])
            throw ValidationError(field: "currentPassword", code: "wrong_password", message: "currentPassword is not this account's password")
        }
        let hash = try await hasher.hash(new)
        let ended = try await services.database.withTransaction { db in
            try await AccountStore.setPasswordHash(hash, of: account.id, on: db)
            return try await SessionStore.revokeOthers(account: account.id, keeping: session, now: now, on: db)
        }
        logger.info("password changed", metadata: ["account_id": "\(account.id)", "other_sessions_ended": "\(ended)"])
    }

    /// A single-use ticket for opening the stream from a browser (which cannot send a
    /// header there), bound to the session that asked.
    public func issueStreamTicket(_ actor: Actor, session: Int64, logger: Logger) async throws -> (ticket: String, expiresAt: Date) {
        let ticket = SessionToken.generate()
        let now = services.clock.now()
        let expiresAt = now.addingTimeInterval(Self.ticketLifetime)
        try await services.database.withTransaction { db in
            try await StreamTicketStore.insert(ticket, account: actor.accountID, session: session, now: now, expiresAt: expiresAt,
                                               on: db)
        }
        return (ticket.value, expiresAt)
    }

    /// Spends a ticket: the session it belongs to, or nil when the ticket is unknown, used,
    /// expired, or its session has ended.
    public func spendStreamTicket(_ ticket: String, logger: Logger) async throws -> ActiveSession? {
        let now = services.clock.now()
        return try await services.database.withTransaction { db in
            try await StreamTicketStore.spend(SessionToken(value: ticket), now: now, on: db)
        }
    }
}
