import Foundation
import KairanCore
import KairanStore
import Logging

/// Registration and one's own account.
public struct AccountService: Sendable {
    let services: Services

    /// Registers a resident. Validation errors come as `ValidationError`; an address in use
    /// as `ServiceError.conflict(code: "email_taken")`.
    /// `client` (the caller's network address, when known) is throttled: so many new
    /// accounts an hour, counted before any bcrypt work.
    public func register(
        email rawEmail: String, password: String, displayName rawName: String, client: String? = nil, logger: Logger
    ) async throws -> AccountRecord {
        let email = try EmailAddress(rawEmail)
        try Password.validate(password)
        let displayName = try DisplayName.validate(rawName)
        let now = services.clock.now()
        if let client {
            let limit = services.loginThrottle.registrationsPerClientPerHour
            if let retry = try await services.database.withConnection({ db in
                try await ThrottleStore.hit("register:client:\(client)", limit: limit, window: 3600, now: now, on: db)
            }) {
                throw ServiceError.rateLimited(action: "register", retryAfter: retry)
            }
        }
        let hash = try await services.passwordHasher.hash(password)
        do {
            let record = try await services.database.withTransaction { db in
                try await AccountStore.insert(email: email, passwordHash: hash, displayName: displayName, roles: [.resident],
                                              now: now, on: db)
            }
            logger.info("account created", metadata: ["account_id": "\(record.id)", "email": "\(email.redacted)"])
            return record
        } catch AccountStoreError.emailTaken {
            throw ServiceError.conflict(code: "email_taken", message: "an account with this email already exists", field: "email")
        }
    }

    /// The caller's own account.
    public func own(_ actor: Actor, logger: Logger) async throws -> AccountRecord {
        try Policy.decide(actor, .readOwnAccount).require()
        guard let record = try await services.database.withConnection({ db in
            try await AccountStore.find(id: actor.accountID, on: db)
        }) else { throw ServiceError.unauthenticated }
        return record
    }

    // MARK: - Town roles

    /// A town administrator makes an account a town moderator or administrator.
    public func grant(_ actor: Actor, _ role: Role, to account: AccountID, logger: Logger) async throws {
        try Policy.decide(actor, .grantTownRole(role, to: account)).require()
        let now = services.clock.now()
        let found = try await services.database.withTransaction { db in
            try await AccountStore.grant(role, to: account, by: actor.accountID, now: now, on: db)
        }
        guard found else { throw ServiceError.notFound }
        logger.info("role granted", metadata: ["target_account_id": "\(account)", "role": "\(role.rawValue)"])
    }

    /// `grant` with the account named by its login address (the town administrators' page).
    public func grant(_ actor: Actor, _ role: Role, toEmail rawEmail: String, logger: Logger) async throws {
        try Policy.decide(actor, .grantTownRole(role, to: actor.accountID)).require()
        let account = try await services.database.withConnection { db -> AccountID in
            guard let email = try? EmailAddress(rawEmail), let record = try await AccountStore.find(emailKey: email.comparisonKey, on: db) else {
                throw ValidationError(field: "email", code: "unknown_account", message: "no account is registered with that address")
            }
            return record.id
        }
        try await grant(actor, role, to: account, logger: logger)
    }

    public func revoke(_ actor: Actor, _ role: Role, from account: AccountID, logger: Logger) async throws {
        try Policy.decide(actor, .revokeTownRole(role, from: account)).require()
        let found = try await services.database.withTransaction { db in
            guard try await AccountStore.exists(id: account, on: db) else { return false }
            try await AccountStore.revoke(role, from: account, on: db)
            return true
        }
        guard found else { throw ServiceError.notFound }
        logger.info("role revoked", metadata: ["target_account_id": "\(account)", "role": "\(role.rawValue)"])
    }
}
