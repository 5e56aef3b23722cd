import Foundation
import KairanCore

/// Dates as the town reads them (its own time zone, Japanese style).
enum Dates {
    static func display(_ date: Date, zone: TimeZone) -> String {
        TownTime.display(date, zone: zone)
    }

    static func iso(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }

    /// A browser's `datetime-local` value ("2026-12-01T08:30"), read in the town's time zone.
    static func parseLocal(_ text: String, zone: TimeZone) -> Date? {
        for format in ["yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd'T'HH:mm:ss"] {
            if let date = formatter(format, zone: zone).date(from: text) { return date }
        }
        return nil
    }

    /// The `datetime-local` value for `date` in the town's time zone.
    static func inputValue(_ date: Date, zone: TimeZone) -> String {
        formatter("yyyy-MM-dd'T'HH:mm", zone: zone).string(from: date)
    }

    private static func formatter(_ format: String, zone: TimeZone) -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = zone
        formatter.dateFormat = format
        return formatter
    }
}
