import Foundation
import KairanCore
import KairanStore

/// How the alert service words and times its mail.
public struct AlertSettings: Sendable {
    /// Sender name shown on phones, e.g. "〇〇町 防災・防犯メール".
    public var fromName: String
    /// Urgent alerts undelivered this long after their send time are reported.
    public var urgentDeadline: TimeInterval
    public var timing: AlertStore.Timing
    /// The mail domain: List-Id is `<category>.alerts.<domain>`; the registration
    /// address is `<entryLocalPart>@<domain>`.
    public var mailDomain: String
    public var entryLocalPart: String = "touroku"

    public init(fromName: String = "回覧板 防災・防犯メール", urgentDeadline: TimeInterval = 900,
                timing: AlertStore.Timing = .init(), mailDomain: String = "kairan.localhost") {
        self.fromName = fromName
        self.urgentDeadline = urgentDeadline
        self.timing = timing
        self.mailDomain = mailDomain
    }
}

/// A daily window in local time as "HH:MM" strings: a subscriber's receive window, an
/// organization's quiet hours. Stored as minutes after midnight.
public struct TimeWindow: Codable, Sendable {
    public let start: String
    public let end: String

    /// As typed ("21:00"); checked by `minutes(field:)`.
    public init(start: String, end: String) {
        self.start = start
        self.end = end
    }

    /// Nil unless both ends are set.
    public init?(start: Int?, end: Int?) {
        guard let start, let end else { return nil }
        self.start = String(format: "%02d:%02d", start / 60, start % 60)
        self.end = String(format: "%02d:%02d", end / 60, end % 60)
    }

    /// Both ends in minutes after midnight, or a 422 naming `field.start` / `field.end`.
    public func minutes(field: String) throws -> (start: Int, end: Int) {
        (try Self.minutes(start, field: field + ".start"), try Self.minutes(end, field: field + ".end"))
    }

    static func minutes(_ text: String, field: String) throws -> Int {
        let parts = text.split(separator: ":")
        guard parts.count == 2, parts[1].count == 2, let hours = Int(parts[0]), let minutes = Int(parts[1]),
              (0...23).contains(hours), (0...59).contains(minutes) else {
            throw ValidationError(field: field, code: "invalid_time", message: "\(field) must be a time such as 07:00")
        }
        return hours * 60 + minutes
    }
}
