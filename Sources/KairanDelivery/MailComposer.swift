import Crypto
import Foundation
import KairanCore
import KairanStore

/// Who the mail is from and where its links point.
public struct MailIdentity: Sendable {
    public var fromAddress: EmailAddress
    /// The domain in Message-IDs and VERP return paths (bounces come back here).
    public var mailDomain: String
    /// Base of the links in mail, e.g. https://kairan.town.example.jp
    public var publicURL: String

    public init(fromAddress: EmailAddress, mailDomain: String, publicURL: String) {
        self.fromAddress = fromAddress
        self.mailDomain = mailDomain
        self.publicURL = publicURL
    }
}

/// Turns a claimed delivery job into the bytes of one mail, and names its return path.
public struct MailComposer: Sendable {
    public let fromAddress: EmailAddress
    /// The domain in Message-IDs and VERP return paths (bounces come back here).
    public let mailDomain: String
    /// Base of the links in mail, e.g. https://kairan.town.example.jp
    public let publicURL: String
    /// HMAC with the key already taken in: each tag copies it and hashes only the id.
    let verpMAC: KeyedMAC
    /// Messages' texts, encoded. A message's text does not change once its deliveries can
    /// be claimed (it is written in the transaction that queues them). Shared by the copies
    /// of this composer.
    let bodies = BoundedMemo<BodyKey, MailRenderer.EncodedBody>()
    struct BodyKey: Hashable, Sendable {
        let message: Int64
        let charset: MailCharset
    }

    public init(identity: MailIdentity, verpSecret: String) {
        self.fromAddress = identity.fromAddress
        self.mailDomain = identity.mailDomain
        self.publicURL = identity.publicURL.hasSuffix("/") ? String(identity.publicURL.dropLast()) : identity.publicURL
        self.verpMAC = KeyedMAC(key: Array(verpSecret.utf8))
    }

    /// With the database's VERP key.
    public static func load(identity: MailIdentity, database: Database) async throws -> MailComposer {
        let secret = try await database.withConnection { db in
            try await DeliveryStore.verpSecret(on: db)
        }
        return MailComposer(identity: identity, verpSecret: secret)
    }

    /// `bounce+<job>-<tag>@domain`: a bounce names its job, and the tag (a keyed hash)
    /// stops anyone from marking other people's jobs bounced by forging reports.
    public func returnPath(deliveryID: Int64) -> String {
        "bounce+\(deliveryID)-\(tag(deliveryID))@\(mailDomain)"
    }

    func tag(_ deliveryID: Int64) -> String {
        // Once per message: hex by table, not `String(format:)` (a tenth of the worker's CPU
        // went to formatting these six bytes).
        var hmac = verpMAC.keyed
        hmac.update(data: Array(String(deliveryID).utf8))
        let mac = hmac.finalize()
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(12)
        for byte in mac.prefix(6) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    /// The job id of a VERP local part (`bounce+12-abcdef012345`), when its tag is genuine.
    public func deliveryID(fromReturnPathLocalPart local: String) -> Int64? {
        guard local.lowercased().hasPrefix("bounce+") else { return nil }
        let rest = local.dropFirst("bounce+".count)
        let parts = rest.split(separator: "-")
        guard parts.count == 2, let id = Int64(parts[0]), id > 0, parts[1].lowercased() == tag(id) else { return nil }
        return id
    }

    public func unsubscribeURL(token: String) -> String { "\(publicURL)/u/\(token)" }
    public func settingsURL(token: String) -> String { "\(publicURL)/m/s/\(token)" }
    public func confirmURL(token: String) -> String { "\(publicURL)/m/c/\(token)" }
    public func noticeURL(token: String) -> String { "\(publicURL)/n/\(token)" }

    /// Stable per job: a retried job is recognisably the same message.
    public func messageID(for job: ClaimedDelivery) -> String { "kairan.\(job.messageID).\(job.id)@\(mailDomain)" }

    public func render(_ job: ClaimedDelivery, recipient: EmailAddress, eightBitAllowed: Bool) -> [UInt8] {
        var footer = ""
        var unsubscribe: String?
        if let link = job.linkToken {
            // A notice: the guardian's own page to read, confirm (既読確認) and answer.
            footer += "\n\n確認・回答はこちら:\n\(noticeURL(token: link))\n"
        }
        if let token = job.unsubscribeToken {
            // Feature phones show no List-Unsubscribe button: the link is in the text too.
            footer += "\n\n--\n配信設定の変更・配信停止:\n\(settingsURL(token: token))\n"
            unsubscribe = unsubscribeURL(token: token)
        }
        let charset = MailCharset(rawValue: job.charset) ?? .utf8
        let mail = OutgoingMail(
            fromAddress: fromAddress, fromName: job.fromName, to: recipient, subject: job.subject, body: "",
            charset: charset, messageID: messageID(for: job), date: job.createdAt,
            listUnsubscribeURL: unsubscribe, listID: job.listID)
        // A message's text is the same for every recipient (written once, in the transaction
        // that queued it): encoded once per message and charset, not for each of thousands.
        // An encoder that could not be had this once (iconv) gives UTF-8: that text serves this
        // mail but must not stand for the message's ISO-2022-JP text for the recipients after it.
        let body = bodies.value(for: BodyKey(message: job.messageID, charset: charset), keep: { $0.charset == charset }) {
            MailRenderer.encodeBody(job.body, charset: charset)
        }
        return MailRenderer.render(mail, body: body, footer: footer, eightBitAllowed: eightBitAllowed)
    }
}

/// An HMAC-SHA256 whose key is processed once. A value type: every copy hashes on its own.
struct KeyedMAC: @unchecked Sendable {
    // @unchecked: HMAC is a value with no shared state; only copies of it are ever updated.
    let keyed: HMAC<SHA256>

    init(key: [UInt8]) {
        keyed = HMAC<SHA256>(key: SymmetricKey(data: key))
    }
}
