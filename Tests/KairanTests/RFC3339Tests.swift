import Foundation
import KairanCore
import Testing

/// Request bodies read any RFC 3339 date-time the spec's `format: date-time` allows, and
/// nothing else (the API fuzzing found a valid one refused).
@Suite struct RFC3339Tests {
    @Test(arguments: [
        ("1970-01-01T00:00:00Z", 0.0),
        ("1970-01-01T09:00:00+09:00", 0.0),
        ("1970-01-01t00:00:00.250z", 0.25),
        ("1970-01-01 00:00:01Z", 1.0),
        ("1969-12-31T23:59:60Z", 0.0),
        ("1970-01-01T20:00:00+20:00", 0.0),
        ("2024-02-29T00:00:00-00:30", 1_709_166_600.0),
        ("0976-08-10T22:26:34+20:00", -31_348_416_806.0),
    ])
    func validTimestampsAreRead(text: String, seconds: Double) throws {
        let date = try #require(RFC3339.date(text), "\(text) not read")
        #expect(abs(date.timeIntervalSince1970 - seconds) < 0.000_001, "\(text) → \(date.timeIntervalSince1970)")
    }

    @Test(arguments: [
        "", "2026-04-08", "2026-04-08T09:00:00", "2026-02-29T00:00:00Z", "2026-04-08T24:00:00Z", "2026-13-01T00:00:00Z",
        "2026-04-08T09:00:00+24:00", "2026-04-08T09:00:00.Z", "2026-04-08T09:00Z", "２０２６-04-08T09:00:00Z", "2026-04-08T09:00:00Zjunk",
    ])
    func anythingElseIsRefused(text: String) {
        #expect(RFC3339.date(text) == nil, "\(text) was read")
    }
}
