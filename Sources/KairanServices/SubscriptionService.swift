import Foundation
import KairanCore
import KairanStore
import Logging

/// A mail subscriber's own side, reached from links in the mail they get (the link's token
/// is their credential): unsubscribe, choose categories, areas, hours and charset, confirm a
/// registration or an address change.
public struct SubscriptionService: Sendable {
    let services: Services
    var database: Database { services.database }

    /// The subscriber a link's token names, or nil.
    public func subscriber(token: String, logger: Logger) async throws -> SubscriberRecord? {
        guard token.count <= 64 else { return nil }
        return try await database.withConnection { db in
            try await AlertStore.subscriber(token: token, on: db)
        }
    }

    /// RFC 8058 one-click unsubscribe (or the page's button). False when the token is unknown.
    public func unsubscribe(token: String, logger: Logger) async throws -> Bool {
        guard let subscriber = try await subscriber(token: token, logger: logger) else { return false }
        let now = services.clock.now()
        _ = try await database.withTransaction { db in
            try await AlertStore.unsubscribe(subscriber: subscriber.id, now: now, on: db)
        }
        logger.info("alert subscriber unsubscribed", metadata: ["subscriber_id": "\(subscriber.id)"])
        return true
    }

    /// What a subscriber may choose from: the live categories and areas.
    public func choices(logger: Logger) async throws -> (categories: [AlertCategoryRecord], areas: [AlertAreaRecord]) {
        try await database.withConnection { db in
            (try await AlertStore.categories(on: db).filter { !$0.archived },
             try await AlertStore.areas(on: db).filter { !$0.archived })
        }
    }

    /// Saves an active subscriber's choices (nil charset: unchanged). A receive window needs
    /// both ends, different. Nil when the token names no active subscriber.
    public func savePreferences(token: String, charset: String?, categories: [String], areas: [String], windowStart: Int?, windowEnd: Int?,
                                logger: Logger) async throws -> SubscriberRecord? {
        guard let subscriber = try await subscriber(token: token, logger: logger), subscriber.status == "active" else { return nil }
        let charset = charset ?? subscriber.charset
        guard ["utf-8", "iso-2022-jp"].contains(charset) else {
            throw ValidationError(field: "charset", code: "invalid_charset", message: "charset must be utf-8 or iso-2022-jp")
        }
        let start = windowStart.flatMap { (0..<1440).contains($0) ? $0 : nil }
        let end = windowEnd.flatMap { (0..<1440).contains($0) ? $0 : nil }
        let bothTimes = start != nil && end != nil && start != end
        let preferences = AlertStore.Preferences(
            charset: charset, windowStart: bothTimes ? start : nil, windowEnd: bothTimes ? end : nil,
            categoryCodes: Array(categories.prefix(50)), areaCodes: Array(areas.prefix(100)))
        return try await database.withTransaction { db in
            try await AlertStore.setPreferences(subscriber: subscriber.id, preferences, on: db)
            return try await AlertStore.subscriber(id: subscriber.id, on: db)
        }
    }

    public enum Confirmation: Sendable {
        case subscribed(SubscriberRecord)
        case changed(SubscriberRecord)
        /// The new address already belongs to another subscriber.
        case taken
        case used(SubscriberRecord?)
        case invalid
    }

    /// Opening the link in the confirmation mail completes the registration (double opt-in:
    /// the address has proved it reads its mail) or the address change.
    public func confirm(token: String, logger: Logger) async throws -> Confirmation {
        guard token.count <= 64 else { return .invalid }
        let now = services.clock.now()
        let outcome: Confirmation = try await database.withTransaction { db in
            switch try await RegistrationStore.consume(token: token, now: now, on: db) {
            case .unknown, .expired:
                return .invalid
            case .alreadyUsed(let registration):
                guard let id = registration.subscriberID else { return .used(nil) }
                return .used(try await AlertStore.subscriber(id: id, on: db))
            case .confirmed(let registration):
                let address = try EmailAddress(registration.email)
                if registration.purpose == "change", let id = registration.subscriberID {
                    guard try await RegistrationStore.changeAddress(subscriber: id, to: address, on: db),
                          let record = try await AlertStore.subscriber(id: id, on: db) else { return .taken }
                    return .changed(record)
                }
                let record = try await AlertStore.subscribe(
                    address, preferences: AlertStore.Preferences(charset: address.defaultMailCharset),
                    token: RandomToken.urlSafe(byteCount: 24), keepActivePreferences: true, now: now, on: db)
                try await RegistrationStore.setSubscriber(registration: registration.id, subscriber: record.id, on: db)
                return .subscribed(record)
            }
        }
        switch outcome {
        case .subscribed(let record): logger.info("alert subscriber confirmed", metadata: ["subscriber_id": "\(record.id)"])
        case .changed(let record): logger.info("alert subscriber changed address", metadata: ["subscriber_id": "\(record.id)"])
        default: break
        }
        return outcome
    }

    /// The address an active subscriber sends an empty mail to from their new address (valid
    /// for a day). Nil when the token names no active subscriber.
    public func startAddressChange(token: String, logger: Logger) async throws -> String? {
        guard let subscriber = try await subscriber(token: token, logger: logger), subscriber.status == "active" else { return nil }
        let now = services.clock.now()
        let code = String(RandomToken.urlSafe(byteCount: 16).lowercased().filter { $0.isLetter || $0.isNumber }.prefix(16))
        try await database.withTransaction { db in
            try await RegistrationStore.createChangeCode(subscriber: subscriber.id, code: code, now: now, expires: now.addingTimeInterval(24 * 3600),
                                                         on: db)
        }
        return "\(services.alerts.entryLocalPart)+\(code)@\(services.alerts.mailDomain)"
    }
}
