import Foundation
import Hummingbird
import KairanCore
import KairanServices

/// A page of posts (a thread read, a search) written as JSON by hand.
///
/// Why: a thread page is the most frequent read, and Foundation's `JSONEncoder` builds a
/// tree of boxed values for every field before writing a byte; for a page of 50 posts that
/// was a third of the server's CPU on the route (`scripts/bench rest`, profiled with
/// `perf`). This writes the same document straight into the response buffer; a test holds
/// it to `JSONEncoder`'s output for the same page (`PostPageJSONTests`).
struct PostPageResponse: ResponseGenerator, Sendable {
    let page: Page<PostView>

    init(_ page: Page<PostView>) {
        self.page = page
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let buffer = Self.encode(page)
        return Response(
            status: .ok,
            headers: [.contentType: "application/json; charset=utf-8", .contentLength: String(buffer.readableBytes)],
            body: .init(byteBuffer: buffer))
    }

    /// `{"items":[…],"nextBefore":N}`, `nextBefore` left out on the last page, as
    /// `Page`'s `Encodable` does.
    static func encode(_ page: Page<PostView>) -> ByteBuffer {
        var json = JSONText(capacity: 256 + page.items.count * 320)
        json.raw(#"{"items":["#)
        for (index, post) in page.items.enumerated() {
            if index > 0 { json.raw(",") }
            write(post, into: &json)
        }
        json.raw("]")
        if let next = page.nextBefore {
            json.raw(#","nextBefore":"#)
            json.integer(next)
        }
        json.raw("}")
        return json.buffer
    }

    /// The keys and nulls of `PostView.encode(to:)`.
    static func write(_ post: PostView, into json: inout JSONText) {
        json.raw(#"{"id":"#)
        json.integer(post.id)
        json.raw(#","threadId":"#)
        json.integer(post.threadId)
        json.raw(#","groupId":"#)
        json.integer(post.groupId)
        json.raw(#","author":"#)
        if let author = post.author {
            json.raw(#"{"id":"#)
            json.integer(author.id)
            json.raw(#","displayName":"#)
            json.string(author.displayName)
            json.raw("}")
        } else {
            json.raw("null")
        }
        json.raw(#","body":"#)
        json.optional(post.body) { $0.string($1) }
        json.raw(#","replyTo":"#)
        json.optional(post.replyTo) { $0.integer($1) }
        json.raw(#","createdAt":"#)
        json.date(post.createdAt)
        json.raw(#","edited":"#)
        json.raw(post.edited ? "true" : "false")
        json.raw(#","editedAt":"#)
        json.optional(post.editedAt) { $0.date($1) }
        json.raw(#","deleted":"#)
        json.raw(post.deleted ? "true" : "false")
        json.raw(#","reactions":{"#)
        for (index, (reaction, count)) in post.reactions.enumerated() {
            if index > 0 { json.raw(",") }
            json.string(reaction)
            json.raw(":")
            json.integer(count)
        }
        json.raw("}")
        if let moderation = post.moderation {
            json.raw(#","moderation":"#)
            json.string(moderation.rawValue)
        }
        if let reason = post.heldReason {
            json.raw(#","heldReason":"#)
            json.string(reason)
        }
        json.raw(#","attachments":["#)
        for (index, file) in post.attachments.enumerated() {
            json.raw(index > 0 ? #",{"id":"# : #"{"id":"#)
            json.integer(file.id)
            json.raw(#","contentType":"#)
            json.string(file.contentType)
            json.raw(#","byteSize":"#)
            json.integer(file.byteSize)
            json.raw(#","filename":"#)
            json.string(file.filename)
            if let width = file.width, let height = file.height {
                json.raw(#","width":"#)
                json.integer(width)
                json.raw(#","height":"#)
                json.integer(height)
            }
            json.raw("}")
        }
        json.raw("]}")
    }
}

/// A JSON document being written: strings escaped as RFC 8259 requires, dates in the
/// ISO 8601 form of `JSONEncoder`'s `.iso8601` strategy (UTC, whole seconds).
struct JSONText {
    private(set) var buffer: ByteBuffer

    init(capacity: Int) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    mutating func raw(_ text: StaticString) {
        buffer.writeStaticString(text)
    }

    mutating func integer(_ value: some BinaryInteger) {
        buffer.writeString(String(value))
    }

    mutating func optional<Value>(_ value: Value?, _ write: (inout JSONText, Value) -> Void) {
        if let value { write(&self, value) } else { raw("null") }
    }

    mutating func string(_ text: String) {
        buffer.writeInteger(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            for (index, byte) in bytes.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[start..<index]))
                switch byte {
                case UInt8(ascii: "\""): buffer.writeStaticString(#"\""#)
                case UInt8(ascii: "\\"): buffer.writeStaticString(#"\\"#)
                case 0x0A: buffer.writeStaticString(#"\n"#)
                case 0x0D: buffer.writeStaticString(#"\r"#)
                case 0x09: buffer.writeStaticString(#"\t"#)
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    buffer.writeStaticString(#"\u00"#)
                    buffer.writeInteger(hex[Int(byte >> 4)])
                    buffer.writeInteger(hex[Int(byte & 0x0F)])
                }
                start = index + 1
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[start...]))
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    /// `"2026-12-01T02:57:01Z"`: the proleptic Gregorian calendar in UTC, the fraction of a
    /// second dropped.
    mutating func date(_ date: Date) {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let (days, secondOfDay) = seconds.quotientAndRemainder(dividingBy: 86400)
        let (day, second) = secondOfDay < 0 ? (days - 1, secondOfDay + 86400) : (days, secondOfDay)
        let (year, month, dayOfMonth) = RFC3339.civil(fromDays: day)
        func two(_ value: Int64) { if value < 10 { buffer.writeInteger(UInt8(ascii: "0")) }; buffer.writeString(String(value)) }
        buffer.writeInteger(UInt8(ascii: "\""))
        let yearText = String(year)
        for _ in yearText.utf8.count..<4 { buffer.writeInteger(UInt8(ascii: "0")) }
        buffer.writeString(yearText)
        buffer.writeInteger(UInt8(ascii: "-"))
        two(month)
        buffer.writeInteger(UInt8(ascii: "-"))
        two(dayOfMonth)
        buffer.writeInteger(UInt8(ascii: "T"))
        two(second / 3600)
        buffer.writeInteger(UInt8(ascii: ":"))
        two(second / 60 % 60)
        buffer.writeInteger(UInt8(ascii: ":"))
        two(second % 60)
        buffer.writeStaticString("Z\"")
    }
}
