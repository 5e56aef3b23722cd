import Foundation
import KairanCore
import KairanStore
import Logging

/// A device registered for Web Push, as its owner sees it. The endpoint is shown only as
/// its push service's host: the full URL is a capability to push to the device.
public struct PushDeviceView: Codable, Sendable, Equatable {
    public let id: Int64
    public let service: String
    public let label: String?
    public let createdAt: Date
    public let lastSuccessAt: Date?

    init(_ record: PushSubscriptionRecord) {
        id = record.id
        service = URLComponents(string: record.endpoint)?.host ?? ""
        label = record.label
        createdAt = record.createdAt
        lastSuccessAt = record.lastSuccessAt
    }
}

/// A browser's `PushSubscription.toJSON()` (its `expirationTime` is not used), with the
/// name the person gives the device: what the API and the page's script both send.
public struct PushSubscriptionJSON: Decodable, Sendable {
    public struct Keys: Decodable, Sendable {
        public let p256dh: String
        public let auth: String
    }
    public let endpoint: String
    public let keys: Keys
    public let label: String?
}

/// Web Push devices: a guardian's phone or browser that should hear about notices when
/// the app is closed.
public struct PushService: Sendable {
    let services: Services

    /// The key browsers subscribe with (`applicationServerKey`), base64url.
    public func publicKey() async throws -> String {
        try await services.database.withConnection { db in try await VAPIDKey.load(on: db) }.publicKey
    }

    /// Registers this device (or refreshes its keys); `p256dh` and `auth` base64url, as the
    /// browser gives them.
    public func subscribe(_ actor: Actor, _ subscription: PushSubscriptionJSON, logger: Logger) async throws -> PushDeviceView {
        let (endpoint, p256dh, auth) = (subscription.endpoint, subscription.keys.p256dh, subscription.keys.auth)
        do {
            _ = try PushEndpoint.check(endpoint, settings: services.push)
        } catch .malformed {
            throw ServiceError.invalid(code: "invalid_endpoint", message: "endpoint must be the push service's URL (at most \(PushEndpoint.maxLength) bytes)", field: "endpoint")
        } catch .notHTTPS {
            throw ServiceError.invalid(code: "invalid_endpoint", message: "endpoint must be an https URL", field: "endpoint")
        } catch .privateAddress {
            throw ServiceError.invalid(code: "invalid_endpoint", message: "endpoint must be on the public internet", field: "endpoint")
        }
        // A point on the curve, not just 65 bytes: checked once here, not at every push.
        guard p256dh.utf8.count <= 100, let key = Data(base64URLEncoded: p256dh), key.count == 65, WebPushKeys.isValidPublicKey(Array(key)) else {
            throw ServiceError.invalid(code: "invalid_push_key", message: "keys.p256dh must be an uncompressed P-256 public key, base64url", field: "keys.p256dh")
        }
        guard auth.utf8.count <= 30, let secret = Data(base64URLEncoded: auth), secret.count == 16 else {
            throw ServiceError.invalid(code: "invalid_push_key", message: "keys.auth must be 16 bytes, base64url", field: "keys.auth")
        }
        let label = try subscription.label.map { try Content.text($0, field: "label", max: 60) }
        let now = services.clock.now()
        let stored = try await services.database.withTransaction { db in
            try await PushStore.subscribe(account: actor.accountID, endpoint: endpoint, p256dh: Array(key), auth: Array(secret), label: label,
                                          maxPerAccount: services.push.maxDevicesPerAccount, now: now, on: db)
        }
        guard let record = stored else {
            throw ServiceError.conflict(code: "push_endpoint_taken", message: "this endpoint belongs to another account's device", field: "endpoint")
        }
        logger.info("push device registered", metadata: ["push_subscription_id": "\(record.id)"])
        return PushDeviceView(record)
    }

    public func devices(_ actor: Actor) async throws -> [PushDeviceView] {
        try await services.database.withConnection { db in
            try await PushStore.subscriptions(account: actor.accountID, on: db)
        }.map(PushDeviceView.init)
    }

    public func unsubscribe(_ actor: Actor, id: Int64, logger: Logger) async throws {
        let removed = try await services.database.withTransaction { db in
            try await PushStore.unsubscribe(account: actor.accountID, id: id, on: db)
        }
        guard removed else { throw ServiceError.notFound }
        logger.info("push device removed", metadata: ["push_subscription_id": "\(id)"])
    }
}
