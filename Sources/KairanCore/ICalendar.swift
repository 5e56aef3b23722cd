import Foundation

/// One event as an iCalendar object (RFC 5545) a phone's calendar imports: times in UTC,
/// texts escaped, lines folded at 75 octets without splitting a character.
public struct ICalendarEvent: Sendable {
    /// Globally unique and stable across changes (`event-12@kairan.town.example.jp`), so a
    /// second import updates the first instead of adding a copy.
    public var uid: String
    /// When this version was made (DTSTAMP); `sequence` counts the changes.
    public var stamp: Date
    public var sequence: Int
    public var start: Date
    public var end: Date
    public var summary: String
    public var location: String
    public var description: String
    public var url: String?
    public var cancelled: Bool

    public init(uid: String, stamp: Date, sequence: Int, start: Date, end: Date, summary: String, location: String, description: String,
                url: String?, cancelled: Bool) {
        self.uid = uid; self.stamp = stamp; self.sequence = sequence; self.start = start; self.end = end
        self.summary = summary; self.location = location; self.description = description; self.url = url; self.cancelled = cancelled
    }

    /// The whole `text/calendar` body, CRLF line ends.
    public func render() -> String {
        var lines = [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Kairan//Kairan community events//JA",
            "CALSCALE:GREGORIAN",
            // PUBLISH: an announcement to import, not an invitation to reply to.
            "METHOD:PUBLISH",
            "BEGIN:VEVENT",
            "UID:" + Self.escape(uid),
            "DTSTAMP:" + Self.utc(stamp),
            "SEQUENCE:\(sequence)",
            "DTSTART:" + Self.utc(start),
            "DTEND:" + Self.utc(end),
            "SUMMARY:" + Self.escape(summary),
            "LOCATION:" + Self.escape(location),
        ]
        if !description.isEmpty { lines.append("DESCRIPTION:" + Self.escape(description)) }
        if let url { lines.append("URL:" + url) }
        lines.append("STATUS:" + (cancelled ? "CANCELLED" : "CONFIRMED"))
        lines += ["END:VEVENT", "END:VCALENDAR"]
        return lines.map(Self.fold).joined(separator: "\r\n") + "\r\n"
    }

    /// TEXT values (RFC 5545 §3.3.11): backslash, semicolon and comma escaped, line breaks as `\n`.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        var previousWasCR = false
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case ";": out += "\\;"
            case ",": out += "\\,"
            case "\r": out += "\\n"
            case "\n": if !previousWasCR { out += "\\n" }
            default:
                // Other control characters are not allowed in a content line.
                if scalar.properties.generalCategory != .control { out.unicodeScalars.append(scalar) }
            }
            previousWasCR = scalar == "\r"
        }
        return out
    }

    /// Content lines longer than 75 octets continue on lines starting with a space (§3.1),
    /// broken between characters, never inside a UTF-8 sequence.
    public static func fold(_ line: String) -> String {
        guard line.utf8.count > 75 else { return line }
        var out = ""
        var width = 0
        var limit = 75
        // By scalar, not by character: a long grapheme cluster (a family emoji) still fits.
        for scalar in line.unicodeScalars {
            let size = UTF8.width(scalar)
            if width + size > limit {
                out += "\r\n "
                width = 0
                // The leading space counts towards the continuation line's 75.
                limit = 74
            }
            out.unicodeScalars.append(scalar)
            width += size
        }
        return out
    }

    static func utc(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ n: Int?) -> String { let v = n ?? 0; return v < 10 ? "0\(v)" : "\(v)" }
        return "\(c.year ?? 1970)\(two(c.month))\(two(c.day))T\(two(c.hour))\(two(c.minute))\(two(c.second))Z"
    }
}
