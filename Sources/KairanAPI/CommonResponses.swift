import Hummingbird
import KairanCore
import KairanServices

/// A keyset page (the services' `Page`) as a response body.
extension Page: ResponseGenerator where Item: Encodable {}
extension Page: ResponseEncodable where Item: Encodable {}

/// A short, whole list (categories, classes, staff…).
struct Items<Item: Encodable & Sendable>: ResponseEncodable, Sendable {
    let items: [Item]
}

/// A daily window in local time as "HH:MM" strings: a subscriber's receive window, an
/// organization's quiet hours. Stored as minutes after midnight.
struct TimeWindow: Codable, Sendable {
    let start: String
    let end: String

    /// Nil unless both ends are set.
    init?(start: Int?, end: Int?) {
        guard let start, let end else { return nil }
        self.start = String(format: "%02d:%02d", start / 60, start % 60)
        self.end = String(format: "%02d:%02d", end / 60, end % 60)
    }

    /// Both ends in minutes after midnight, or a 422 naming `field.start` / `field.end`.
    func minutes(field: String) throws -> (start: Int, end: Int) {
        (try Self.minutes(start, field: field + ".start"), try Self.minutes(end, field: field + ".end"))
    }

    static func minutes(_ text: String, field: String) throws -> Int {
        let parts = text.split(separator: ":")
        guard parts.count == 2, parts[1].count == 2, let hours = Int(parts[0]), let minutes = Int(parts[1]),
              (0...23).contains(hours), (0...59).contains(minutes) else {
            throw APIError.validation(ValidationError(field: field, code: "invalid_time", message: "\(field) must be a time such as 07:00"))
        }
        return hours * 60 + minutes
    }
}
