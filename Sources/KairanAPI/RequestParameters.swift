import Foundation
import Hummingbird
import KairanCore

extension Request {
    /// An integer cursor from the query string; 400 when present but not an integer.
    func cursor(_ name: String) throws -> Int64? {
        guard let text = uri.queryParameters[name[...]] else { return nil }
        guard let value = Int64(String(text)), value > 0 else { throw APIError.badRequest("query parameter '\(name)' must be a positive integer") }
        return value
    }

    /// A `true`/`false` query parameter; nil when absent, 400 for anything else (`mine=null`
    /// is a client's mistake, not `false`).
    func flag(_ name: String) throws -> Bool? {
        guard let text = uri.queryParameters[name[...]] else { return nil }
        switch text {
        case "true": return true
        case "false": return false
        default: throw APIError.badRequest("query parameter '\(name)' is true or false")
        }
    }

    /// `?limit=`: default 50, at most 100.
    func pageLimit(default defaultLimit: Int = 50, max: Int = 100) throws -> Int {
        guard let text = uri.queryParameters["limit"] else { return defaultLimit }
        guard let value = Int(String(text)), (1...max).contains(value) else {
            throw APIError.badRequest("query parameter 'limit' must be between 1 and \(max)")
        }
        return value
    }
}
