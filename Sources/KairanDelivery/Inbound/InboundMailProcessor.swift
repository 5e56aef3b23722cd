import Foundation
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// The inbound listener's settings.
public struct InboundMailConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Local part of the registration address, e.g. `touroku` → touroku@<mail domain>.
    public var entryLocalPart: String
    /// At most one confirmation per address in this window.
    public var replyWindow: TimeInterval
    /// How long a confirmation link works.
    public var linkLifetime: TimeInterval
    /// Sender name on confirmation mail.
    public var fromName: String
    /// Permanent bounces before an address is suppressed.
    public var hardBounceLimit: Int
    /// Confirmation mails per minute, all senders together: forged empty mails cannot turn
    /// the town's MTA into a backscatter source or bury an alert under replies.
    public var maxRepliesPerMinute = 60
    /// SMTP sessions open at once, and from one client address: one more is told 421 (try
    /// later) and closed, so a flood of connections cannot hold the listener.
    public var maxConnections = 100
    public var maxConnectionsPerClient = 10

    public init(host: String = "127.0.0.1", port: Int = 2525, entryLocalPart: String = "touroku", replyWindow: TimeInterval = 600,
                linkLifetime: TimeInterval = 24 * 3600, fromName: String = "回覧板 防災・防犯メール", hardBounceLimit: Int = 3) {
        self.host = host
        self.port = port
        self.entryLocalPart = entryLocalPart
        self.replyWindow = replyWindow
        self.linkLifetime = linkLifetime
        self.fromName = fromName
        self.hardBounceLimit = hardBounceLimit
    }
}

/// What happens to mail that reaches the listener: empty mails start a registration or an
/// address change (the reply goes out through the outbox, like every other mail), bounce
/// reports are recorded against their job.
public struct InboundMailProcessor: Sendable {
    let database: Database
    let composer: MailComposer
    let configuration: InboundMailConfiguration
    let clock: any WallClock
    let logger: Logger

    public init(database: Database, composer: MailComposer, configuration: InboundMailConfiguration, clock: any WallClock, logger: Logger) {
        self.database = database
        self.composer = composer
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
    }

    func classify(localPart: String, domain: String) -> InboundRecipient? {
        guard domain.lowercased() == composer.mailDomain.lowercased() else { return nil }
        let local = localPart.lowercased()
        let entry = configuration.entryLocalPart.lowercased()
        if local == entry { return .entry }
        if local.hasPrefix(entry + "+") {
            let code = String(local.dropFirst(entry.count + 1))
            guard (8...32).contains(code.count), code.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else { return nil }
            return .change(code: code)
        }
        if let id = composer.deliveryID(fromReturnPathLocalPart: localPart) { return .bounce(deliveryID: id) }
        return nil
    }

    /// Handles one message. Throws when it could not be stored: the listener then answers
    /// 451 and the sending server tries again, so nothing is lost.
    func process(_ message: InboundSMTPSession.Message) async throws {
        for recipient in message.recipients {
            switch recipient {
            case .entry:
                try await startRegistration(sender: message.sender, purpose: "subscribe", subscriber: nil)
            case .change(let code):
                let now = clock.now()
                let subscriber = try await database.withConnection { db in
                    try await RegistrationStore.subscriber(changeCode: code, now: now, on: db)
                }
                guard let subscriber else {
                    logger.info("empty mail with an unknown or expired change code")
                    continue
                }
                try await startRegistration(sender: message.sender, purpose: "change", subscriber: subscriber)
            case .bounce(let deliveryID):
                try await recordBounce(deliveryID: deliveryID, data: message.data)
            }
        }
    }

    private func startRegistration(sender: String?, purpose: String, subscriber: Int64?) async throws {
        guard let address = InboundSMTPSession.senderAddress(sender) else {
            logger.info("empty mail without a usable sender address; ignored")
            return
        }
        // Our own domain never registers (a loop, or a forged sender).
        guard address.domain.lowercased() != composer.mailDomain.lowercased() else { return }
        let now = clock.now()
        let token = RandomToken.urlSafe(byteCount: 24)
        let sent = try await database.withTransaction { db -> Bool in
            guard try await !RegistrationStore.repliedRecently(emailKey: address.comparisonKey, since: now.addingTimeInterval(-configuration.replyWindow),
                                                             on: db) else { return false }
            guard try await RegistrationStore.count(since: now.addingTimeInterval(-60), on: db) < configuration.maxRepliesPerMinute else {
                logger.warning("registration replies over the per-minute limit; this one is dropped")
                return false
            }
            let id = try await RegistrationStore.create(purpose: purpose, address: address, subscriberID: subscriber, token: token, now: now,
                                                        expires: now.addingTimeInterval(configuration.linkLifetime), on: db)
            let hours = Int(configuration.linkLifetime / 3600)
            let (subject, intro) = purpose == "change"
                ? ("【確認】メールアドレスの変更", "配信先メールアドレスの変更を受け付けました。")
                : ("【確認】配信登録のご案内", "\(configuration.fromName)への登録を受け付けました。")
            let body = """
                \(intro)
                次のURLを開くと手続きが完了します（\(hours)時間有効）。

                \(composer.confirmURL(token: token))

                お心当たりのない場合は、このメールを削除してください。手続きは行われません。
                """
            let message = try await DeliveryStore.createMessage(
                kind: "registration", idempotencyKey: "registration:\(id)", urgent: false, fromName: configuration.fromName, subject: subject,
                body: body, listID: nil, deadline: nil, now: now, on: db)
            try await DeliveryStore.enqueueMail(
                message: message.id,
                recipients: [DeliveryStore.Recipient(key: "registration:\(id)", address: address, charset: address.defaultMailCharset)],
                urgent: false, dueAt: now, on: db)
            return true
        }
        logger.info(sent ? "registration confirmation queued" : "registration reply suppressed (one per window)",
                    metadata: ["purpose": "\(purpose)", "domain": "\(address.domain.lowercased())"])
    }

    private func recordBounce(deliveryID: Int64, data: String) async throws {
        guard let report = DeliveryStatusReport.parse(data) else {
            logger.info("mail to a bounce address that is not a delivery status report; ignored", metadata: ["delivery_id": "\(deliveryID)"])
            return
        }
        let now = clock.now()
        let suppressed = try await database.withTransaction { db -> Bool in
            guard let address = try await RegistrationStore.recordBounce(
                delivery: deliveryID, status: report.status, action: report.action, diagnostic: report.diagnostic, permanent: report.permanent,
                now: now, on: db) else { return false }
            // The job's address was checked when it was queued; a report of a temporary
            // failure suppresses nothing.
            guard report.permanent, let parsed = try? EmailAddress(address) else { return false }
            let keys = try await DeliveryStore.recordHardBounces(
                emailKeys: [parsed.comparisonKey], reply: ["DSN \(report.status)"], limit: configuration.hardBounceLimit, now: now,
                on: db)
            return !keys.isEmpty
        }
        logger.info("bounce report recorded", metadata: [
            "delivery_id": "\(deliveryID)", "status": "\(report.status)", "permanent": "\(report.permanent)", "suppressed": "\(suppressed)",
        ])
    }
}

