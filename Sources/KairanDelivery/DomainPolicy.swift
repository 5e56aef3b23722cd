import Foundation

/// How gently one destination domain must be treated. Japanese carriers throttle senders
/// that open many sessions or push many messages through one; mail refused that way is
/// delayed for hours, which an evacuation notice cannot afford.
public struct DomainPolicy: Sendable, Equatable {
    /// Messages in one SMTP session before it is closed and a new one opened.
    public var messagesPerSession: Int
    /// Sessions carrying this domain's mail at the same time.
    public var maxSessions: Int

    public init(messagesPerSession: Int, maxSessions: Int) {
        self.messagesPerSession = max(1, messagesPerSession)
        self.maxSessions = max(1, maxSessions)
    }
}

public struct DomainPolicies: Sendable, Equatable {
    public var byDomain: [String: DomainPolicy]
    public var fallback: DomainPolicy

    public init(byDomain: [String: DomainPolicy], fallback: DomainPolicy) {
        self.byDomain = Dictionary(uniqueKeysWithValues: byDomain.map { ($0.key.lowercased(), $0.value) })
        self.fallback = fallback
    }

    /// Carrier defaults: docomo at most 100 messages per session; au and SoftBank with
    /// their own caps. Everything else shares the relay connections freely.
    public static let japaneseCarrierDefaults = DomainPolicies(
        byDomain: [
            "docomo.ne.jp": DomainPolicy(messagesPerSession: 100, maxSessions: 4),
            "ezweb.ne.jp": DomainPolicy(messagesPerSession: 200, maxSessions: 4),
            "au.com": DomainPolicy(messagesPerSession: 200, maxSessions: 4),
            "softbank.ne.jp": DomainPolicy(messagesPerSession: 100, maxSessions: 3),
            "i.softbank.jp": DomainPolicy(messagesPerSession: 100, maxSessions: 3),
        ],
        fallback: DomainPolicy(messagesPerSession: 1000, maxSessions: 20))

    public func policy(for domain: String) -> DomainPolicy {
        byDomain[domain.lowercased()] ?? fallback
    }

    /// The metrics label for a domain: the configured domains by name, every other domain
    /// as "other" (a label per resident's domain would grow without bound).
    public func metricsLabel(for domain: String) -> String {
        byDomain[domain.lowercased()] != nil ? domain.lowercased() : "other"
    }

    /// Parses `domain=MESSAGES/SESSIONS`, e.g. `docomo.ne.jp=100/4`, overriding a default.
    public mutating func apply(_ text: String) throws(DomainPolicyError) {
        let parts = text.split(separator: "=", maxSplits: 1)
        guard parts.count == 2 else { throw DomainPolicyError(text: text) }
        let numbers = parts[1].split(separator: "/")
        guard numbers.count == 2, let messages = Int(numbers[0]), let sessions = Int(numbers[1]), messages > 0, sessions > 0 else {
            throw DomainPolicyError(text: text)
        }
        let domain = parts[0].trimmingCharacters(in: .whitespaces).lowercased()
        if domain == "*" {
            fallback = DomainPolicy(messagesPerSession: messages, maxSessions: sessions)
        } else {
            byDomain[domain] = DomainPolicy(messagesPerSession: messages, maxSessions: sessions)
        }
    }
}

public struct DomainPolicyError: Error, CustomStringConvertible {
    public let text: String
    public var description: String { "domain policy '\(text)' must look like docomo.ne.jp=100/4 (messages per session / concurrent sessions)" }
}
