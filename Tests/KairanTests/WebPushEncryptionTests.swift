import Crypto
import Foundation
import KairanCore
import KairanDelivery
import Testing

/// Web Push's message encryption against RFC 8291's own example (Appendix A), a decryption
/// done step by step as a browser does it, and VAPID's signed claim.
@Suite struct WebPushEncryptionTests {
    static func bytes(_ base64url: String) -> [UInt8] { Array(Data(base64URLEncoded: base64url)!) }

    // RFC 8291 Appendix A.
    static let plaintext = bytes("V2hlbiBJIGdyb3cgdXAsIEkgd2FudCB0byBiZSBhIHdhdGVybWVsb24")
    static let serverPrivate = bytes("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")
    static let userAgentPrivate = bytes("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94")
    static let userAgentPublic = bytes("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4")
    static let auth = bytes("BTBZMqHH6r4Tts7J_aSIgg")
    static let salt = bytes("DGv6ra1nlYgDCS1FRnbzlw")
    static let body = bytes("DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN")

    @Test func theRFCsExampleEncryptsByteForByte() throws {
        let ephemeral = try P256.KeyAgreement.PrivateKey(rawRepresentation: Self.serverPrivate)
        let encrypted = try WebPushEncryption.encrypt(Self.plaintext, p256dh: Self.userAgentPublic, auth: Self.auth, ephemeral: ephemeral, salt: Self.salt)
        #expect(encrypted.count == 144)
        #expect(encrypted == Self.body)
    }

    /// What the browser does with the body: the steps of RFC 8291 §3.3–3.4 and RFC 8188 one
    /// by one (extract, then expand), not the encryptor's code path.
    static func decrypt(_ body: [UInt8], userAgent: P256.KeyAgreement.PrivateKey, auth: [UInt8]) throws -> [UInt8] {
        let salt = Array(body[0..<16])
        let recordSize = body[16..<20].reduce(0) { $0 << 8 | Int($1) }
        #expect(recordSize == 4096)
        let idLength = Int(body[20])
        let serverPublic = Array(body[21..<(21 + idLength)])
        let sealed = Array(body[(21 + idLength)...])
        let secret = try userAgent.sharedSecretFromKeyAgreement(with: P256.KeyAgreement.PublicKey(x963Representation: serverPublic))
        let secretBytes = secret.withUnsafeBytes { Array($0) }
        let prkKey = HKDF<SHA256>.extract(inputKeyMaterial: SymmetricKey(data: secretBytes), salt: auth)
        let ikm = HKDF<SHA256>.expand(pseudoRandomKey: prkKey,
                                      info: Array("WebPush: info".utf8) + [0] + Array(userAgent.publicKey.x963Representation) + serverPublic,
                                      outputByteCount: 32)
        let prk = HKDF<SHA256>.extract(inputKeyMaterial: ikm, salt: salt)
        let cek = HKDF<SHA256>.expand(pseudoRandomKey: prk, info: Array("Content-Encoding: aes128gcm".utf8) + [0], outputByteCount: 16)
        let nonce = HKDF<SHA256>.expand(pseudoRandomKey: prk, info: Array("Content-Encoding: nonce".utf8) + [0], outputByteCount: 12)
        let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: nonce.withUnsafeBytes { Array($0) }),
                                        ciphertext: sealed.dropLast(16), tag: sealed.suffix(16))
        let record = Array(try AES.GCM.open(box, using: cek))
        // The last record ends with 0x02, then only zero padding.
        let delimiter = try #require(record.lastIndex { $0 != 0 })
        #expect(record[delimiter] == 2)
        return Array(record[..<delimiter])
    }

    @Test func theRFCsExampleDecryptsAsABrowserWould() throws {
        let userAgent = try P256.KeyAgreement.PrivateKey(rawRepresentation: Self.userAgentPrivate)
        #expect(Array(userAgent.publicKey.x963Representation) == Self.userAgentPublic)
        #expect(try Self.decrypt(Self.body, userAgent: userAgent, auth: Self.auth) == Self.plaintext)
    }

    @Test func freshKeysRoundTripAJapaneseNoticeAndRefuseWhatCannotBeSent() throws {
        let userAgent = P256.KeyAgreement.PrivateKey()
        let auth = (0..<16).map { _ in UInt8.random(in: 0...255) }
        let message = Array(#"{"title":"【緊急】不審者情報","body":"下校時は複数で帰ってください。"}"#.utf8)
        let first = try WebPushEncryption.encrypt(message, p256dh: Array(userAgent.publicKey.x963Representation), auth: auth)
        let second = try WebPushEncryption.encrypt(message, p256dh: Array(userAgent.publicKey.x963Representation), auth: auth)
        #expect(first != second, "a fresh key and salt for every message")
        #expect(try Self.decrypt(first, userAgent: userAgent, auth: auth) == message)
        #expect(try Self.decrypt(second, userAgent: userAgent, auth: auth) == message)

        let tooBig = [UInt8](repeating: 0x41, count: WebPushEncryption.maxPlaintextBytes + 1)
        #expect(throws: WebPushEncryption.Failure.payloadTooLarge) {
            try WebPushEncryption.encrypt(tooBig, p256dh: Array(userAgent.publicKey.x963Representation), auth: auth)
        }
        let largest = try WebPushEncryption.encrypt(Array(tooBig.dropLast()), p256dh: Array(userAgent.publicKey.x963Representation), auth: auth)
        #expect(largest.count == WebPushEncryption.recordSize, "the largest message fills one 4096-byte body")
        #expect(throws: WebPushEncryption.Failure.invalidSubscriptionKeys) {
            try WebPushEncryption.encrypt(message, p256dh: [4, 1, 2, 3], auth: auth)
        }
        #expect(throws: WebPushEncryption.Failure.invalidSubscriptionKeys) {
            try WebPushEncryption.encrypt(message, p256dh: Array(userAgent.publicKey.x963Representation), auth: [1, 2, 3])
        }
    }

    @Test func theVAPIDClaimIsForTheEndpointsOriginSignedAndShortLived() throws {
        let signer = VAPIDSigner(key: P256.Signing.PrivateKey(), subject: "mailto:joho@town.example.jp")
        let now = Date(timeIntervalSince1970: 1_796_000_000)
        let header = try signer.authorization(for: URL(string: "https://push.example.net:8443/wpush/v2/abc?x=1")!, now: now)
        let parts = header.components(separatedBy: ", ")
        #expect(parts.count == 2 && parts[0].hasPrefix("vapid t=") && parts[1] == "k=\(signer.publicKey)")
        let token = String(parts[0].dropFirst("vapid t=".count)).split(separator: ".").map(String.init)
        #expect(token.count == 3)
        let headerBytes = try #require(Data(base64URLEncoded: token[0]))
        let claimBytes = try #require(Data(base64URLEncoded: token[1]))
        let jwtHeader = try JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: String]
        #expect(jwtHeader == ["typ": "JWT", "alg": "ES256"])
        let claims = try #require(try JSONSerialization.jsonObject(with: Data(claimBytes)) as? [String: Any])
        #expect(claims["aud"] as? String == "https://push.example.net:8443", "the origin, no path")
        #expect(claims["sub"] as? String == "mailto:joho@town.example.jp")
        let expiry = try #require(claims["exp"] as? Int)
        #expect(expiry > Int(now.timeIntervalSince1970) && expiry <= Int(now.timeIntervalSince1970) + 24 * 3600)
        // The signature verifies with the public key the header carries (64-byte r ‖ s).
        let publicKeyBytes = try #require(Data(base64URLEncoded: signer.publicKey))
        let signatureBytes = try #require(Data(base64URLEncoded: token[2]))
        #expect(signatureBytes.count == 64, "JWS ES256: r ‖ s, not DER")
        let publicKey = try P256.Signing.PublicKey(x963Representation: publicKeyBytes)
        let signature = try P256.Signing.ECDSASignature(rawRepresentation: signatureBytes)
        #expect(publicKey.isValidSignature(signature, for: Data((token[0] + "." + token[1]).utf8)))
        #expect(!publicKey.isValidSignature(signature, for: Data((token[0] + "." + token[1] + "x").utf8)))
    }
}
