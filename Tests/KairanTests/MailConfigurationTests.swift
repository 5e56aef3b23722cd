import ArgumentParser
import Foundation
import KairanCore
import KairanDelivery
import KairanStore
import Testing

@testable import KairanServer

/// What `kairan serve` accepts and refuses for mail, before anything starts.
@Suite struct MailConfigurationTests {
    func configuration(_ arguments: [String], environment: [String: String] = [:]) throws -> MailConfiguration {
        try MailConfiguration(try MailOptions.parse(arguments), dataDirectory: "/var/lib/kairan", defaultPublicURL: "http://127.0.0.1:8080",
                              environment: environment)
    }

    func refusal(_ arguments: [String], environment: [String: String] = [:]) -> String? {
        do {
            _ = try configuration(arguments, environment: environment)
            return nil
        } catch {
            return String(describing: error)
        }
    }

    @Test func withoutARelayMailGoesToTheMaildirAndTheListenerRunsOnLoopback() throws {
        let mail = try configuration([])
        guard case .maildir(let path) = mail.destination else { Issue.record("expected the Maildir"); return }
        #expect(path == "/var/lib/kairan/maildir")
        #expect(mail.inbound?.host == "127.0.0.1" && mail.inbound?.port == 2525)
        #expect(mail.identity.fromAddress.raw == "alerts@kairan.localhost")
        #expect(try configuration(["--inbound-smtp", "off"]).inbound == nil)
    }

    @Test func aRelayPasswordIsNeverSentWithoutTLS() throws {
        let refused = refusal(["--smtp-relay", "mail.town.example.jp:587", "--smtp-security", "none", "--smtp-username", "kairan"],
                              environment: ["KAIRAN_SMTP_PASSWORD": "secret"])
        #expect(refused?.contains("refusing to send the relay password without TLS") == true, "\(refused ?? "accepted")")
        // A relay on the same machine may take it in the clear; a remote one defaults to STARTTLS.
        let loopback = try configuration(["--smtp-relay", "127.0.0.1:25", "--smtp-username", "kairan"], environment: ["KAIRAN_SMTP_PASSWORD": "secret"])
        guard case .relay(let local) = loopback.destination else { Issue.record("expected a relay"); return }
        #expect(local.security == .none && local.password == "secret")
        guard case .relay(let remote) = try configuration(["--smtp-relay", "mail.town.example.jp:587"]).destination else { Issue.record("expected a relay"); return }
        #expect(remote.security == .startTLS)
    }

    @Test func domainPoliciesAndLimitsAreChecked() throws {
        let mail = try configuration(["--domain-policy", "docomo.ne.jp=50/2", "--domain-policy", "*=500/10"])
        #expect(mail.delivery.policies.policy(for: "DOCOMO.ne.jp") == DomainPolicy(messagesPerSession: 50, maxSessions: 2))
        #expect(mail.delivery.policies.policy(for: "example.jp") == DomainPolicy(messagesPerSession: 500, maxSessions: 10))
        #expect(refusal(["--domain-policy", "docomo.ne.jp=50"])?.contains("must look like docomo.ne.jp=100/4") == true)
        #expect(refusal(["--delivery-lease", "1"])?.contains("--delivery-lease (KAIRAN_DELIVERY_LEASE) must be between 5 and 3600") == true)
        #expect(refusal([], environment: ["KAIRAN_HARD_BOUNCE_LIMIT": "three"])?.contains("KAIRAN_HARD_BOUNCE_LIMIT must be a number") == true)
        #expect(refusal(["--smtp-relay", "mail.town.example.jp"])?.contains("host:port") == true)
        #expect(refusal(["--entry-local-part", "Touroku!"]) != nil)
    }
}

/// What `kairan serve` takes for the registration throttle and the stream's pings.
@Suite struct ServeConfigurationTests {
    func configuration(_ arguments: [String], environment: [String: String] = [:]) throws -> ServerConfiguration {
        try ServerConfiguration(serve: try ServeOptions.parse(arguments), mail: try MailOptions.parse([]), dataDirectory: "/var/lib/kairan",
                                database: try DatabaseURL(string: "postgres://kairan@localhost/kairan"), environment: environment)
    }

    @Test func registrationsPerHourComesFromTheFlagOrTheEnvironmentWithinBounds() throws {
        #expect(try configuration([]).loginThrottle.registrationsPerClientPerHour == 20)
        #expect(try configuration(["--registrations-per-hour", "500"]).loginThrottle.registrationsPerClientPerHour == 500)
        #expect(try configuration([], environment: ["KAIRAN_REGISTRATIONS_PER_HOUR": "60"]).loginThrottle.registrationsPerClientPerHour == 60)
        #expect(throws: (any Error).self) { try configuration(["--registrations-per-hour", "0"]) }
    }

    @Test func weatherWarningsAreOffUntilTheTownNamesItsAreas() throws {
        #expect(try configuration([]).weatherWarnings == nil)
        let on = try #require(try configuration(["--jma-areas", "1420100,0421501=east+north", "--jma-advisories", "skip"]).weatherWarnings)
        #expect(on.policy == WeatherWarningPolicy(areas: ["1420100": [], "0421501": ["east", "north"]], advisories: .skip, category: "disaster"))
        #expect(on.feedURL == "https://www.data.jma.go.jp/developer/xml/feed/extra.xml")
        #expect(on.longFeedURL == "https://www.data.jma.go.jp/developer/xml/feed/extra_l.xml")
        #expect(on.userAgent.contains("mailto:"))
        let fromEnvironment = try configuration([], environment: ["KAIRAN_JMA_AREAS": "1420100", "KAIRAN_JMA_CATEGORY": "town"]).weatherWarnings
        #expect(fromEnvironment?.policy.category == "town" && fromEnvironment?.policy.advisories == .normal)
        #expect(throws: (any Error).self) { try configuration(["--jma-areas", "14201"]) }
        #expect(throws: (any Error).self) { try configuration(["--jma-areas", "1420100", "--jma-advisories", "sometimes"]) }
        #expect(try configuration(["--jma-areas", "1420100", "--jma-approval", "advisories"]).weatherWarnings?.policy.approval == .advisories)
        #expect(on.policy.approval == .off)
        #expect(throws: (any Error).self) { try configuration(["--jma-areas", "1420100", "--jma-approval", "maybe"]) }
    }

    @Test func theStreamPingIntervalComesFromTheFlagOrTheEnvironmentWithinBounds() throws {
        #expect(try configuration([]).streamHeartbeatPeriod == .seconds(30))
        #expect(try configuration(["--stream-ping-interval", "20"]).streamHeartbeatPeriod == .seconds(20))
        #expect(try configuration([], environment: ["KAIRAN_STREAM_PING_INTERVAL": "600"]).streamHeartbeatPeriod == .seconds(600))
        #expect(throws: (any Error).self) { try configuration(["--stream-ping-interval", "1"]) }
    }
}
