import struct Foundation.Date

/// The time source for everything that expires or waits (sessions now; quiet hours and
/// escalation later). Injected so tests move time instead of sleeping.
public protocol WallClock: Sendable {
    func now() -> Date
}

public struct SystemWallClock: WallClock {
    public init() {}
    public func now() -> Date { Date() }
}
