import Foundation

/// How many logins and registrations are let through before the caller must wait (429 with
/// Retry-After). Failed logins count per address, so guessing one person's password is slow,
/// and per client network address, so trying many addresses from one place is too; both are
/// checked before any bcrypt work is done. Registrations count per client network address.
public struct LoginThrottle: Sendable {
    public var failuresPerAddress = 10
    public var failuresPerClient = 50
    /// The window failed logins count in.
    public var window: TimeInterval = 900
    public var registrationsPerClientPerHour = 20

    public init() {}

    /// Effectively off: for test suites whose hundreds of accounts come from one loopback address.
    public static let generous: LoginThrottle = {
        var throttle = LoginThrottle()
        throttle.failuresPerAddress = 100_000
        throttle.failuresPerClient = 100_000
        throttle.registrationsPerClientPerHour = 100_000
        return throttle
    }()
}
