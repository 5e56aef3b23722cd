import Crypto
import Foundation
import KairanCore
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A real Web Push service on loopback, as a browser vendor runs one: it takes pushes over
/// HTTP, checks each one's VAPID claim (RFC 8292) against the key the device subscribed
/// with, and decrypts it as the device would (RFC 8291). A test scripts its answers per
/// device (201, 404, 410, 429 with Retry-After, 500…).
final class ScriptedPushService: Sendable {
    /// A browser's subscription: what it gives the page (`endpoint`, `p256dh`, `auth`) and
    /// the private key only the device holds.
    struct Device: Sendable {
        let id: String
        let endpoint: String
        let p256dh: String
        let auth: String
        fileprivate let privateKey: [UInt8]
        fileprivate let authBytes: [UInt8]

        var subscriptionJSON: [String: Any] { ["endpoint": endpoint, "keys": ["p256dh": p256dh, "auth": auth]] }
    }

    /// One push as the service received it.
    struct Push: Sendable {
        let device: String
        let status: Int
        let ttl: String?
        let urgency: String?
        let topic: String?
        /// The VAPID claim verified (signature, audience, expiry, subject, key).
        let vapidValid: Bool
        let vapidKey: String?
        /// The decrypted payload; nil when it could not be decrypted.
        let payload: String?

        var json: [String: Any]? { payload.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] } }
    }

    fileprivate struct State {
        var devices: [String: Device] = [:]
        var scripts: [String: [(status: Int, headers: [(String, String)])]] = [:]
        var pushes: [Push] = []
    }

    fileprivate let state = Mutex(State())
    private let channel: any Channel
    let port: Int

    private init(channel: any Channel) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
    }

    static func start() async throws -> ScriptedPushService {
        let box = HandlerBox()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(PushRequestHandler(service: box.service))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let service = ScriptedPushService(channel: channel)
        box.set(service)
        return service
    }

    func stop() async {
        try? await channel.close()
    }

    /// A new device subscribed to this service.
    func device(_ id: String) -> Device {
        let key = P256.KeyAgreement.PrivateKey()
        let auth = (0..<16).map { _ in UInt8.random(in: 0...255) }
        let device = Device(id: id, endpoint: "http://127.0.0.1:\(port)/push/\(id)", p256dh: key.publicKey.x963Representation.base64URLEncoded(),
                            auth: Data(auth).base64URLEncoded(), privateKey: Array(key.rawRepresentation), authBytes: auth)
        state.withLock { $0.devices[id] = device }
        return device
    }

    /// The next answers for `device`, in order (then 201 again).
    func script(_ device: String, _ answers: [(status: Int, headers: [(String, String)])]) {
        state.withLock { $0.scripts[device, default: []] += answers }
    }

    var pushes: [Push] { state.withLock { $0.pushes } }

    func pushes(to device: String) -> [Push] { pushes.filter { $0.device == device } }

    /// What the handler does with one request; returns the status to answer with.
    fileprivate func receive(path: String, headers: HTTPHeaders, body: [UInt8]) -> (Int, [(String, String)]) {
        let id = path.hasPrefix("/push/") ? String(path.dropFirst("/push/".count)) : ""
        return state.withLock { state in
            guard let device = state.devices[id] else { return (404, []) }
            let answer = state.scripts[id]?.isEmpty == false ? state.scripts[id]!.removeFirst() : (status: 201, headers: [])
            let vapid = Self.verifyVAPID(headers.first(name: "Authorization"), audience: "http://127.0.0.1:\(port)")
            let payload = headers.first(name: "Content-Encoding") == "aes128gcm" ? Self.decrypt(body, device: device) : nil
            state.pushes.append(Push(
                device: id, status: answer.status, ttl: headers.first(name: "TTL"), urgency: headers.first(name: "Urgency"),
                topic: headers.first(name: "Topic"), vapidValid: vapid.valid, vapidKey: vapid.key, payload: payload.map { String(decoding: $0, as: UTF8.self) }))
            return (answer.status, answer.headers)
        }
    }

    /// RFC 8292: `vapid t=<JWT>, k=<key>`; ES256 over the header and claims, `aud` this
    /// service's origin, `exp` in the next 24 hours, `sub` a mailto: or https: contact.
    static func verifyVAPID(_ header: String?, audience: String) -> (valid: Bool, key: String?) {
        guard let header, header.hasPrefix("vapid ") else { return (false, nil) }
        var fields: [String: String] = [:]
        for part in header.dropFirst("vapid ".count).split(separator: ",") {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
        }
        guard let token = fields["t"], let key = fields["k"], let keyBytes = Data(base64URLEncoded: key),
              let publicKey = try? P256.Signing.PublicKey(x963Representation: keyBytes) else { return (false, fields["k"]) }
        let parts = token.split(separator: ".").map(String.init)
        guard parts.count == 3, let headerJSON = Data(base64URLEncoded: parts[0]), let claimsJSON = Data(base64URLEncoded: parts[1]),
              let signature = Data(base64URLEncoded: parts[2]),
              let jwtHeader = try? JSONSerialization.jsonObject(with: headerJSON) as? [String: Any],
              let claims = try? JSONSerialization.jsonObject(with: claimsJSON) as? [String: Any],
              let ecdsa = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return (false, key) }
        let signed = publicKey.isValidSignature(ecdsa, for: Data((parts[0] + "." + parts[1]).utf8))
        let expiry = (claims["exp"] as? Int).map { TimeInterval($0) - Date().timeIntervalSince1970 } ?? -1
        let subject = claims["sub"] as? String ?? ""
        let valid = signed && jwtHeader["alg"] as? String == "ES256" && claims["aud"] as? String == audience
            && expiry > 0 && expiry <= 24 * 3600 && (subject.hasPrefix("mailto:") || subject.hasPrefix("https:"))
        return (valid, key)
    }

    /// RFC 8291 as the device does it: its private key and auth secret, the sender's key
    /// from the header.
    static func decrypt(_ body: [UInt8], device: Device) -> [UInt8]? {
        guard body.count > 86 + 16, body[20] == 65,
              let userAgent = try? P256.KeyAgreement.PrivateKey(rawRepresentation: device.privateKey),
              let sender = try? P256.KeyAgreement.PublicKey(x963Representation: body[21..<86]),
              let shared = try? userAgent.sharedSecretFromKeyAgreement(with: sender) else { return nil }
        let salt = Array(body[0..<16])
        let info = Array("WebPush: info".utf8) + [0] + Array(userAgent.publicKey.x963Representation) + Array(body[21..<86])
        let ikm = shared.hkdfDerivedSymmetricKey(using: SHA256.self, salt: device.authBytes, sharedInfo: info, outputByteCount: 32)
        let cek = HKDF<SHA256>.deriveKey(inputKeyMaterial: ikm, salt: salt, info: Array("Content-Encoding: aes128gcm".utf8) + [0], outputByteCount: 16)
        let nonce = HKDF<SHA256>.deriveKey(inputKeyMaterial: ikm, salt: salt, info: Array("Content-Encoding: nonce".utf8) + [0], outputByteCount: 12)
        let record = Array(body[86...])
        guard let box = try? AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: nonce.withUnsafeBytes { Array($0) }),
                                               ciphertext: record.dropLast(16), tag: record.suffix(16)),
              var plain = try? Array(AES.GCM.open(box, using: cek)) else { return nil }
        while plain.last == 0 { plain.removeLast() }
        guard plain.last == 2 else { return nil }
        plain.removeLast()
        return plain
    }
}

/// Lets the child channel initializer reach the service created after the bind.
private final class HandlerBox: Sendable {
    private let stored = Mutex<ScriptedPushService?>(nil)
    func set(_ service: ScriptedPushService) { stored.withLock { $0 = service } }
    var service: @Sendable () -> ScriptedPushService? { { self.stored.withLock { $0 } } }
}

private final class PushRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let service: @Sendable () -> ScriptedPushService?
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(service: @escaping @Sendable () -> ScriptedPushService?) {
        self.service = service
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(var buffer):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head else { return }
            let (status, extra) = service()?.receive(path: head.uri, headers: head.headers, body: body) ?? (503, [])
            var headers = HTTPHeaders([("Content-Length", "0")])
            for (name, value) in extra { headers.add(name: name, value: value) }
            if (200..<300).contains(status) { headers.add(name: "Location", value: "\(head.uri)/messages/\(UUID().uuidString)") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: status), headers: headers))),
                          promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            self.head = nil
        }
    }
}
