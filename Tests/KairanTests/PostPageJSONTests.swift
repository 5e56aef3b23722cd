import Foundation
import KairanCore
import KairanServices
import Testing

@testable import KairanAPI

/// The hand-written JSON of a page of posts says exactly what `JSONEncoder` would.
@Suite struct PostPageJSONTests {
    /// Posts made from their JSON (seconds since 1970, so fractions of a second survive).
    static func posts(_ json: String) throws -> [PostView] {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try decoder.decode([PostView].self, from: Data(json.utf8))
    }

    static let variety = #"""
    [
      {"id": 1, "threadId": 7, "groupId": 3, "author": {"id": 12, "displayName": "田中 \"たなか\" 太郎\\"},
       "body": "改行\nタブ\t戻り\r制御\u0001\u001f終わり / スラッシュ 🎌", "replyTo": null, "createdAt": 1764557821.987,
       "edited": false, "editedAt": null, "deleted": false, "reactions": {},
       "attachments": [{"id": 4, "contentType": "image/jpeg", "byteSize": 20480, "filename": "運動会 \"リレー\".jpg", "width": 4032, "height": 3024},
                       {"id": 5, "contentType": "application/pdf", "byteSize": 1, "filename": "a.pdf"}]},
      {"id": 2, "threadId": 7, "groupId": 3, "author": null, "body": null, "replyTo": 1, "createdAt": 951782400,
       "edited": true, "editedAt": 1764557822.5, "deleted": true, "reactions": {"👍": 3, "ありがとう": 1}, "attachments": []},
      {"id": 3, "threadId": 7, "groupId": 3, "author": {"id": 5, "displayName": ""}, "body": "", "replyTo": null,
       "createdAt": 4102444799.999, "edited": false, "editedAt": null, "deleted": false, "reactions": {"❤️": 12},
       "moderation": "held", "heldReason": "watched_word", "attachments": []},
      {"id": 9007199254740991, "threadId": 1, "groupId": 1, "author": {"id": 1, "displayName": "a"}, "body": "x", "replyTo": null,
       "createdAt": -86400.5, "edited": false, "editedAt": null, "deleted": false, "reactions": {}, "moderation": "hidden", "attachments": []}
    ]
    """#

    static func foundation(_ page: Page<PostView>) throws -> Data {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(page)
    }

    static func parsed(_ data: Data) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: data) as? NSDictionary)
    }

    @Test(arguments: [Int64?.none, 2])
    func thePageIsTheDocumentJSONEncoderWrites(nextBefore: Int64?) throws {
        let page = Page(items: try Self.posts(Self.variety), nextBefore: nextBefore)
        let fast = PostPageResponse.encode(page)
        let written = Data(fast.readableBytesView)
        #expect(try Self.parsed(written) == Self.parsed(try Self.foundation(page)), "\(String(decoding: written, as: UTF8.self))")
        // Dates as the same text (whole seconds, UTC), not only the same instant. (Sorted:
        // JSONEncoder's key order within an object is not fixed.)
        let dates = { (data: Data) in (String(decoding: data, as: UTF8.self).matches(of: /"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"/)).map { String($0.output) }.sorted() }
        #expect(dates(written) == dates(try Self.foundation(page)))
        #expect(dates(written).contains(#""2025-12-01T02:57:01Z""#))
    }

    @Test func anEmptyPageIsAnEmptyList() throws {
        let page = Page<PostView>(items: [], nextBefore: nil)
        #expect(String(buffer: PostPageResponse.encode(page)) == #"{"items":[]}"#)
        #expect(try Self.parsed(Data(PostPageResponse.encode(page).readableBytesView)) == Self.parsed(try Self.foundation(page)))
    }

    @Test func civilDatesMatchTheCalendar() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        // From 1590 (Foundation's Gregorian calendar is Julian before October 1582) to 9900.
        for days in stride(from: Int64(-138_000), through: 2_900_000, by: 997) {
            let date = Date(timeIntervalSince1970: TimeInterval(days) * 86400)
            let parts = calendar.dateComponents([.year, .month, .day], from: date)
            let (year, month, day) = RFC3339.civil(fromDays: days)
            #expect(year == Int64(parts.year!) && month == Int64(parts.month!) && day == Int64(parts.day!), "day \(days)")
        }
    }
}
