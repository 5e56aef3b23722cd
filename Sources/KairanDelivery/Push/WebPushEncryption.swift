import Crypto
import Foundation
import KairanCore

/// Web Push message encryption (RFC 8291, the `aes128gcm` content coding of RFC 8188): what
/// a push service carries to a closed app, readable only by the subscribed browser.
/// `PushDeliveryWorker` encrypts every push with it; tested against the RFC's own example.
public enum WebPushEncryption {
    public enum Failure: Error, Equatable {
        /// `p256dh` is not an uncompressed P-256 point, or `auth` not 16 bytes.
        case invalidSubscriptionKeys
        /// More than one 4096-byte record would be needed (RFC 8291 allows one).
        case payloadTooLarge
    }

    /// The record size the header announces; push services must accept 4096-byte bodies.
    public static let recordSize = 4096
    /// Header (86 bytes), the padding delimiter and the 16-byte tag leave this much.
    public static let maxPlaintextBytes = recordSize - 86 - 1 - 16

    /// Encrypts `plaintext` for the subscription's `p256dh` (65 bytes) and `auth` (16 bytes).
    /// The ephemeral key and salt are fresh for every message; tests pass the RFC's.
    public static func encrypt(
        _ plaintext: [UInt8], p256dh: [UInt8], auth: [UInt8],
        ephemeral: P256.KeyAgreement.PrivateKey = P256.KeyAgreement.PrivateKey(),
        salt: [UInt8] = (0..<16).map { _ in UInt8.random(in: 0...255) }
    ) throws -> [UInt8] {
        guard auth.count == 16, salt.count == 16, let userAgentKey = try? P256.KeyAgreement.PublicKey(x963Representation: p256dh) else {
            throw Failure.invalidSubscriptionKeys
        }
        guard plaintext.count <= maxPlaintextBytes else { throw Failure.payloadTooLarge }
        let serverPublic = Array(ephemeral.publicKey.x963Representation)
        let shared = try ephemeral.sharedSecretFromKeyAgreement(with: userAgentKey)
        // IKM = HKDF(salt: auth, ikm: ECDH secret, info: "WebPush: info\0" ‖ ua_public ‖ as_public, 32)
        let keyInfo = Array("WebPush: info".utf8) + [0] + Array(userAgentKey.x963Representation) + serverPublic
        let ikm = shared.hkdfDerivedSymmetricKey(using: SHA256.self, salt: auth, sharedInfo: keyInfo, outputByteCount: 32)
        let cek = HKDF<SHA256>.deriveKey(inputKeyMaterial: ikm, salt: salt, info: Array("Content-Encoding: aes128gcm".utf8) + [0],
                                         outputByteCount: 16)
        let nonce = HKDF<SHA256>.deriveKey(inputKeyMaterial: ikm, salt: salt, info: Array("Content-Encoding: nonce".utf8) + [0],
                                           outputByteCount: 12)
        // One record: the plaintext, then 0x02 (the last record's padding delimiter).
        let sealed = try AES.GCM.seal(plaintext + [2], using: cek, nonce: AES.GCM.Nonce(data: nonce.withUnsafeBytes { Array($0) }))
        var body = salt
        body += withUnsafeBytes(of: UInt32(recordSize).bigEndian) { Array($0) }
        body.append(UInt8(serverPublic.count))
        body += serverPublic
        // The tag follows the ciphertext; `combined` would put the nonce first.
        body += Array(sealed.ciphertext) + Array(sealed.tag)
        return body
    }
}

/// VAPID (RFC 8292): the application server's signed claim that it may push to a
/// subscription made with its public key.
public struct VAPIDSigner: Sendable {
    /// The private key's 32-byte scalar (Crypto's key type is not `Sendable`).
    private let keyBytes: [UInt8]
    /// Who to contact about this server's pushes: `mailto:` or `https:`.
    public let subject: String
    /// The public key browsers subscribe with (`applicationServerKey`), base64url.
    public let publicKey: String

    public init(key: P256.Signing.PrivateKey, subject: String) {
        self.keyBytes = Array(key.rawRepresentation)
        self.subject = subject
        self.publicKey = key.publicKey.x963Representation.base64URLEncoded()
    }

    /// The `Authorization` header for a push to `endpoint`: a JWT for the endpoint's origin,
    /// valid 12 hours (the RFC allows at most 24), and the public key.
    public func authorization(for endpoint: URL, now: Date) throws -> String {
        guard let scheme = endpoint.scheme, let host = endpoint.host else { throw URLError(.badURL) }
        let origin = "\(scheme)://\(host)" + (endpoint.port.map { ":\($0)" } ?? "")
        let header = Data(#"{"typ":"JWT","alg":"ES256"}"#.utf8).base64URLEncoded()
        let claims = try JSONSerialization.data(withJSONObject: ["aud": origin, "exp": Int(now.timeIntervalSince1970) + 12 * 3600, "sub": subject],
                                                options: [.sortedKeys, .withoutEscapingSlashes])
        let signingInput = header + "." + claims.base64URLEncoded()
        // JWS ES256 is the 64-byte r ‖ s, not DER.
        let key = try P256.Signing.PrivateKey(rawRepresentation: keyBytes)
        let signature = try key.signature(for: Data(signingInput.utf8)).rawRepresentation
        return "vapid t=\(signingInput).\(signature.base64URLEncoded()), k=\(publicKey)"
    }
}
