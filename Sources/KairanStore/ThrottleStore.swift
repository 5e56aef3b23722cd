import Crypto
import Foundation
import Logging
import PostgresNIO

/// Fixed-window counters for logins and registrations (`login_throttle`).
public enum ThrottleStore {
    /// A login address's key: a digest, so the table holds no address in plain text.
    public static func loginAddressKey(_ address: String) -> String {
        "login:address:" + SHA256.hash(data: Array(address.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func windowStart(_ now: Date, window: TimeInterval) -> Date {
        Date(timeIntervalSince1970: (now.timeIntervalSince1970 / window).rounded(.down) * window)
    }

    static func retryAfter(_ start: Date, window: TimeInterval, now: Date) -> Int {
        max(1, Int(start.addingTimeInterval(window).timeIntervalSince(now).rounded(.up)))
    }

    /// Seconds until the window ends when any key has already reached its limit in it; nil
    /// when every key may go on. Counts nothing; one query for all the keys.
    public static func blocked(
        _ limits: [(key: String, limit: Int)], window: TimeInterval, now: Date, on db: DatabaseConnection
    ) async throws -> Int? {
        let start = windowStart(now, window: window)
        let keys = limits.map(\.key), counts = limits.map(\.limit)
        for try await _ in try await db.query("""
            SELECT 1 FROM login_throttle t JOIN unnest(\(keys)::text[], \(counts)::int[]) AS l(key, lim) ON l.key = t.key
            WHERE t.window_start = \(start) AND t.count >= l.lim LIMIT 1
            """).decode(Int.self) {
            return retryAfter(start, window: window, now: now)
        }
        return nil
    }

    /// Counts one use of each key in the current window.
    public static func count(_ keys: [String], window: TimeInterval, now: Date, on db: DatabaseConnection) async throws {
        let start = windowStart(now, window: window)
        try await db.query("""
            INSERT INTO login_throttle (key, window_start, count) SELECT k, \(start), 1 FROM unnest(\(keys)::text[]) AS k
            ON CONFLICT (key, window_start) DO UPDATE SET count = login_throttle.count + 1
            """)
    }

    /// Counts one use and says whether it went past `limit` (seconds to wait, or nil).
    public static func hit(_ key: String, limit: Int, window: TimeInterval, now: Date, on db: DatabaseConnection) async throws -> Int? {
        let start = windowStart(now, window: window)
        for try await count in try await db.query("""
            INSERT INTO login_throttle (key, window_start, count) VALUES (\(key), \(start), 1)
            ON CONFLICT (key, window_start) DO UPDATE SET count = login_throttle.count + 1
            RETURNING count
            """).decode(Int32.self) where Int(count) > limit {
            return retryAfter(start, window: window, now: now)
        }
        return nil
    }

    public static func deleteOlder(than cutoff: Date, on db: DatabaseConnection) async throws {
        try await db.query("DELETE FROM login_throttle WHERE window_start < \(cutoff)")
    }
}
