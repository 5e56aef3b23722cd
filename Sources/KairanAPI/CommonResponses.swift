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

extension Response {
    /// A file to save (a calendar entry, a spreadsheet), never to render in place or to keep
    /// in a shared machine's cache.
    public static func download(_ text: String, type: String, filename: String) -> Response {
        var headers: HTTPFields = [:]
        headers[.contentType] = type
        headers[.contentDisposition] = "attachment; filename=\"\(filename)\""
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
