import Foundation

/// The time source for everything that expires or waits (sessions now; quiet hours and
/// escalation later). Injected so tests move time instead of sleeping.
public protocol WallClock: Sendable {
    func now() -> Date
}

public struct SystemWallClock: WallClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// A moment as the town reads it, "12月2日(水) 15:30" in its own time zone: how every page says
/// a time, the web pages and those behind mail links alike.
public enum TownTime {
    public static func display(_ date: Date, zone: TimeZone) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "ja_JP")
        formatter.timeZone = zone
        formatter.dateFormat = "M月d日(EEE) H:mm"
        return formatter.string(from: date)
    }
}
