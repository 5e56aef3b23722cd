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
