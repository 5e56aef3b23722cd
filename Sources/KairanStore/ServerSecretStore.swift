import Foundation
import Crypto
import KairanCore

/// Secrets generated once per database (migrations insert them), shared by every instance.
public enum ServerSecretStore {
    /// The key of the web pages' form tokens.
    public static func webForms(on db: DatabaseConnection) async throws -> String {
        for try await value in try await db.query("SELECT value FROM server_secrets WHERE name = 'web_forms'").decode(String.self) {
            return value
        }
        preconditionFailure("migration 0016 inserts the web form key")
    }

    /// The VAPID signing key (RFC 8292), the 32-byte P-256 scalar in base64url, if one was
    /// made.
    public static func vapidPrivateKey(on db: DatabaseConnection) async throws -> String? {
        for try await value in try await db.query("SELECT value FROM server_secrets WHERE name = 'vapid_private_key'").decode(String.self) {
            return value
        }
        return nil
    }

    /// Stores `candidate` unless an instance stored a key first; returns the key that counts.
    /// Every instance then signs with the same key, the one every browser subscribed with.
    /// (The database cannot make an EC key, so the candidate comes from the caller.)
    public static func storeVAPIDPrivateKey(candidate: String, on db: DatabaseConnection) async throws -> String {
        try await db.query("""
            INSERT INTO server_secrets (name, value) VALUES ('vapid_private_key', \(candidate)) ON CONFLICT (name) DO NOTHING
            """)
        guard let stored = try await vapidPrivateKey(on: db) else { preconditionFailure("the key was inserted above") }
        return stored
    }
}

/// This town's VAPID key pair (RFC 8292): the server signs every push with the private
/// key; browsers subscribe with the public one (`applicationServerKey`).
public struct VAPIDKey: Sendable {
    /// The private key's 32-byte scalar.
    public let scalar: [UInt8]
    /// The public key, uncompressed (65 bytes), base64url: what browsers are given.
    public let publicKey: String

    public var signingKey: P256.Signing.PrivateKey {
        get throws { try P256.Signing.PrivateKey(rawRepresentation: scalar) }
    }

    /// Reads the database's key, making it on first use (a read otherwise: every guardian's
    /// マイページ asks for it).
    public static func load(on db: DatabaseConnection) async throws -> VAPIDKey {
        var stored = try await ServerSecretStore.vapidPrivateKey(on: db)
        if stored == nil {
            stored = try await ServerSecretStore.storeVAPIDPrivateKey(candidate: P256.Signing.PrivateKey().rawRepresentation.base64URLEncoded(), on: db)
        }
        guard let stored, let scalar = Data(base64URLEncoded: stored) else { throw VAPIDKeyError.unreadable }
        let key = try P256.Signing.PrivateKey(rawRepresentation: scalar)
        return VAPIDKey(scalar: Array(scalar), publicKey: key.publicKey.x963Representation.base64URLEncoded())
    }
}

public enum VAPIDKeyError: Error { case unreadable }

/// Web Push subscription keys, as browsers hand them over.
public enum WebPushKeys {
    /// True when `bytes` is an uncompressed point on P-256 (what `p256dh` must be).
    public static func isValidPublicKey(_ bytes: [UInt8]) -> Bool {
        (try? P256.KeyAgreement.PublicKey(x963Representation: bytes)) != nil
    }
}
