import ArgumentParser
import Foundation
import KairanAPI
import KairanCore
import KairanDelivery
import KairanServices

/// Mail options of `kairan serve`. Without a relay, mail is written to a Maildir under the
/// data folder: nothing leaves the machine until a relay is configured.
struct MailOptions: ParsableArguments {
    @Option(name: .customLong("smtp-relay"), help: "The town's mail relay as host:port (env KAIRAN_SMTP_RELAY). Without one, mail goes to the Maildir.")
    var relay: String?

    @Option(name: .customLong("smtp-security"), help: "none, starttls or tls (implicit TLS, port 465) (env KAIRAN_SMTP_SECURITY; default starttls, none for a loopback relay).")
    var security: String?

    @Option(name: .customLong("smtp-username"), help: "Relay login for AUTH PLAIN/LOGIN (env KAIRAN_SMTP_USERNAME; the password only from env KAIRAN_SMTP_PASSWORD).")
    var username: String?

    @Option(name: .customLong("smtp-ca-file"), help: "PEM file of extra CA certificates to trust for the relay (env KAIRAN_SMTP_CA_FILE).")
    var caFile: String?

    @Option(name: .customLong("smtp-connections"), help: "Most SMTP sessions open at once per worker process (env KAIRAN_SMTP_CONNECTIONS; default 20).")
    var connections: Int?

    @Option(name: .customLong("mail-domain"), help: "Our mail domain: Message-IDs, bounce addresses, the registration address (env KAIRAN_MAIL_DOMAIN; default kairan.localhost).")
    var mailDomain: String?

    @Option(name: .customLong("mail-from"), help: "From address of outgoing mail (env KAIRAN_MAIL_FROM; default alerts@<mail domain>).")
    var mailFrom: String?

    @Option(name: .customLong("mail-from-name"), help: "Sender name on alert mail (env KAIRAN_MAIL_FROM_NAME).")
    var mailFromName: String?

    @Option(name: .customLong("public-url"), help: "Base URL of links in mail, e.g. https://kairan.town.example.jp (env KAIRAN_PUBLIC_URL; default http://HOST:PORT).")
    var publicURL: String?

    @Option(name: .customLong("domain-policy"), help: "Per-domain limit as domain=MESSAGES/SESSIONS, e.g. docomo.ne.jp=100/4; * for every other domain. Repeatable (env KAIRAN_MAIL_DOMAIN_POLICIES, comma-separated).")
    var domainPolicies: [String] = []

    @Option(name: .customLong("inbound-smtp"), help: "Where the inbound SMTP listener (空メール registration, bounce reports) listens, host:port, or off (env KAIRAN_INBOUND_SMTP; default 127.0.0.1:2525). Runs in the worker role.")
    var inbound: String?

    @Option(name: .customLong("entry-local-part"), help: "Local part of the registration address: residents send an empty mail to <this>@<mail domain> (env KAIRAN_ENTRY_LOCAL_PART; default touroku).")
    var entryLocalPart: String?

    @Option(name: .customLong("smtp-pipeline-depth"), help: "Messages a session may have on the wire: 2 sends the next message's commands with the previous message's end (RFC 2920; for a distant relay), 1 waits for each answer (env KAIRAN_SMTP_PIPELINE_DEPTH; default 1).")
    var pipelineDepth: Int?

    @Option(name: .customLong("delivery-lease"), help: "Seconds a worker holds claimed mail jobs; a killed worker's jobs are resent after this (env KAIRAN_DELIVERY_LEASE; default 10).")
    var deliveryLease: Int?

    @Option(name: .customLong("hard-bounce-limit"), help: "Refusals of an address (5xx to RCPT, failed bounce reports) before it is suppressed (env KAIRAN_HARD_BOUNCE_LIMIT; default 3).")
    var hardBounceLimit: Int?

    @Option(name: .customLong("maildir"), help: "Maildir for mail when no relay is set (env KAIRAN_MAILDIR; default <data dir>/maildir).")
    var maildir: String?
}

/// Where mail goes and how it is worded, resolved.
struct MailConfiguration: Sendable {
    enum Destination: Sendable {
        case relay(SMTPRelayConfiguration)
        case maildir(String)
    }

    var destination: Destination
    var identity: MailIdentity
    var alerts = AlertSettings()
    var delivery: MailDeliveryConfiguration
    /// The inbound listener; nil when switched off.
    var inbound: InboundMailConfiguration?

    /// Development defaults: the Maildir, a .localhost domain, links to the local server.
    init(maildir: String, publicURL: String) {
        let domain = "kairan.localhost"
        destination = .maildir(maildir)
        // A constant known to be valid.
        identity = MailIdentity(fromAddress: try! EmailAddress("alerts@\(domain)"), mailDomain: domain, publicURL: publicURL)
        alerts.mailDomain = domain
        delivery = MailDeliveryConfiguration(workerID: Self.defaultWorkerID)
    }

    static var defaultWorkerID: String { "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)" }

    init(_ options: MailOptions, dataDirectory: String, defaultPublicURL: String, environment: [String: String]) throws {
        func value(_ option: String?, _ variable: String) -> String? {
            let text = option ?? environment[variable]
            return text?.isEmpty == true ? nil : text
        }
        self.init(maildir: value(options.maildir, "KAIRAN_MAILDIR") ?? dataDirectory + "/maildir",
                  publicURL: value(options.publicURL, "KAIRAN_PUBLIC_URL") ?? defaultPublicURL)
        let domain = value(options.mailDomain, "KAIRAN_MAIL_DOMAIN") ?? identity.mailDomain
        guard EmailAddress.isValidDomain(domain) else { throw ValidationError("mail domain '\(domain)' is not a domain name") }
        let from: EmailAddress
        do throws(KairanCore.ValidationError) { from = try EmailAddress(value(options.mailFrom, "KAIRAN_MAIL_FROM") ?? "alerts@\(domain)") } catch {
            throw ValidationError("--mail-from: \(error.message)")
        }
        identity = MailIdentity(fromAddress: from, mailDomain: domain, publicURL: identity.publicURL)
        alerts.mailDomain = domain
        if let name = value(options.mailFromName, "KAIRAN_MAIL_FROM_NAME") { alerts.fromName = name }

        if let limit = try integerSetting(options.hardBounceLimit, "--hard-bounce-limit", "KAIRAN_HARD_BOUNCE_LIMIT", environment, in: 1...100) {
            delivery.hardBounceLimit = limit
        }

        let inboundText = value(options.inbound, "KAIRAN_INBOUND_SMTP") ?? "127.0.0.1:2525"
        if inboundText != "off" {
            guard let colon = inboundText.lastIndex(of: ":"), let port = Int(inboundText[inboundText.index(after: colon)...]), (0...65535).contains(port) else {
                throw ValidationError("--inbound-smtp must be host:port or off")
            }
            let entry = value(options.entryLocalPart, "KAIRAN_ENTRY_LOCAL_PART") ?? "touroku"
            guard entry.range(of: "^[a-z0-9][a-z0-9._-]{0,30}$", options: .regularExpression) != nil else {
                throw ValidationError("--entry-local-part must be lower-case letters, digits, '.', '_' or '-'")
            }
            inbound = InboundMailConfiguration(host: String(inboundText[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")),
                                               port: port, entryLocalPart: entry, fromName: alerts.fromName,
                                               hardBounceLimit: delivery.hardBounceLimit)
            alerts.entryLocalPart = entry
        }

        var policies = DomainPolicies.japaneseCarrierDefaults
        let policyTexts = options.domainPolicies.isEmpty
            ? (environment["KAIRAN_MAIL_DOMAIN_POLICIES"] ?? "").split(separator: ",").map(String.init)
            : options.domainPolicies
        for text in policyTexts where !text.trimmingCharacters(in: .whitespaces).isEmpty {
            do { try policies.apply(text) } catch { throw ValidationError(error.description) }
        }
        delivery.policies = policies
        if let depth = try integerSetting(options.pipelineDepth, "--smtp-pipeline-depth", "KAIRAN_SMTP_PIPELINE_DEPTH", environment, in: 1...2) {
            delivery.pipelineDepth = depth
        }
        if let lease = try integerSetting(options.deliveryLease, "--delivery-lease", "KAIRAN_DELIVERY_LEASE", environment, in: 5...3600) {
            delivery.lease = TimeInterval(lease)
        }

        if let relay = value(options.relay, "KAIRAN_SMTP_RELAY") {
            guard let colon = relay.lastIndex(of: ":"), let port = Int(relay[relay.index(after: colon)...]), (1...65535).contains(port) else {
                throw ValidationError("--smtp-relay must be host:port, e.g. mail.town.example.jp:587")
            }
            let host = String(relay[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            let loopback = ["127.0.0.1", "::1", "localhost"].contains(host)
            let securityText = value(options.security, "KAIRAN_SMTP_SECURITY") ?? (loopback ? "none" : "starttls")
            guard let security = SMTPRelayConfiguration.Security(rawValue: securityText) else {
                throw ValidationError("--smtp-security must be none, starttls or tls")
            }
            let username = value(options.username, "KAIRAN_SMTP_USERNAME")
            let password = environment["KAIRAN_SMTP_PASSWORD"]
            if username != nil && security == .none && !loopback {
                // A password in clear text over the network is worse than no mail.
                throw ValidationError("refusing to send the relay password without TLS: use --smtp-security starttls or tls")
            }
            var relayConfiguration = SMTPRelayConfiguration(
                host: host, port: port, security: security, username: username, password: password,
                caFile: value(options.caFile, "KAIRAN_SMTP_CA_FILE"), heloName: domain)
            if let connections = try integerSetting(options.connections, "--smtp-connections", "KAIRAN_SMTP_CONNECTIONS", environment, in: 1...500) {
                relayConfiguration.maxConnections = connections
            }
            destination = .relay(relayConfiguration)
        }
    }
}

extension MailConfiguration {
    /// For the start-up log line: where mail goes, without credentials.
    var destinationDescription: String {
        switch destination {
        case .relay(let relay): "smtp://\(relay.host):\(relay.port) (\(relay.security.rawValue))"
        case .maildir(let path): "maildir \(path)"
        }
    }
}
