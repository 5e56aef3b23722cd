import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// Hostile text in the fields that end up in a mail header, a CSV export or an HTML page:
/// CR, LF and the Unicode line breaks (U+2028, U+2029, U+0085) cannot add a header line,
/// spreadsheet formulas are defused, and markup shows as text.
@Suite struct InjectionTests {
    static let breaks = ["\r\n", "\n", "\r", "\u{2028}", "\u{2029}", "\u{85}"]

    @Test func aSchoolsNameAndANoticesTitleCannotAddMailHeaders() async throws {
        let server = ScriptedSMTPServer()
        try await server.start()
        try await NoticeTown.with { town in
            let school = try await town.school("第一小学校", prefix: "ichi")
            // The school's name is the mail's From; the notice's title its Subject.
            let renamed = try await town.client.send(.patch, "/v1/organizations/\(school.id)",
                                                     json: jsonObject(["name": "第一小\r\nBcc: evil@example.com"]), token: town.townAdmin)
            #expect(renamed.status == .unprocessableContent || renamed.status == .ok, "\(renamed.text)")
            for (index, separator) in Self.breaks.enumerated() {
                let child = try await town.enrol(school, "児童 \(index)", in: "1-1")
                try await town.mailGuardian(school, child: child, name: "保護者 \(index)", email: "guardian\(index)@docomo.ne.jp")
                let posted = try await town.post(school, by: school.teacher.token, [
                    "title": "遠足\(separator)Bcc: evil\(index)@example.com\(separator)X-Injected: \(index)", "urgent": true,
                    "body": "本文\(separator)です", "targets": ["classes": [school.classes["1-1"]!]],
                ])
                // Refused as a title, or accepted and kept on one line in the mail.
                #expect(posted.status == .created || posted.status == .unprocessableContent, "\(posted.text)")
            }
            _ = try await town.deliver(to: server)
            let transactions = server.transactions
            #expect(!transactions.isEmpty, "some notice went out")
            for transaction in transactions {
                #expect(transaction.recipients.count == 1, "one visible recipient per mail")
                let head = transaction.data.components(separatedBy: "\r\n\r\n").first ?? ""
                for line in head.components(separatedBy: "\r\n") {
                    #expect(!line.hasPrefix("Bcc:") && !line.hasPrefix("X-Injected:"), "an injected header: \(line)")
                    #expect(!line.contains("\n") && !line.contains("\r"), "a bare line break in the header")
                }
                #expect(!head.contains("\u{2028}") && !head.contains("\u{2029}") && !head.contains("\u{85}"))
                let names = head.components(separatedBy: "\r\n").filter { !$0.hasPrefix(" ") && !$0.hasPrefix("\t") }
                    .compactMap { $0.split(separator: ":").first.map(String.init) }
                #expect(!names.contains("Bcc") && names.filter { $0 == "To" }.count == 1, "\(names)")
            }
        }
        await server.stop()
    }

    @Test func exportsDefuseFormulasAndPagesShowMarkupAsText() async throws {
        try await NoticeTown.with { town in
            let client = town.client
            let moderator = try await client.resident("moderator@town.example.jp", name: "町 モデレーター")
            try await grantRole("town_moderator", to: "moderator@town.example.jp", in: town.url)
            for pattern in ["=HYPERLINK(\"http://evil.example\")", "+SUM(A1)", "-2+3", "@cmd"] {
                let added = try await client.send(.post, "/v1/moderation/watched-words", json: jsonObject(["pattern": pattern, "action": "flag"]),
                                                  token: moderator.token)
                #expect(added.status == .created, "\(added.text)")
            }
            let csv = try await client.send(.get, "/v1/moderation/watched-words.csv", token: moderator.token).text
            for defused in ["'=HYPERLINK", "'+SUM(A1)", "'-2+3", "'@cmd"] { #expect(csv.contains(defused), "\(defused) in \(csv)") }
            // A subscriber's address may legally start with "=": the export defuses it too.
            let subscribed = try await client.send(.post, "/v1/alert-subscribers", json: jsonObject(["email": "=1+1@example.jp"]), token: town.townAdmin)
            #expect(subscribed.status == .created || subscribed.status == .unprocessableContent, "\(subscribed.text)")
            if subscribed.status == .created {
                let alert = try #require(try await client.send(.post, "/v1/alerts", json: jsonObject(["category": "crime", "urgent": true, "subject": "s", "body": "b"]),
                                                               token: town.townAdmin).json()["id"] as? Int)
                let export = try await client.send(.get, "/v1/alerts/\(alert)/deliveries.csv", token: town.townAdmin).text
                #expect(export.contains("'=1+1@example.jp") && !export.contains(",=1+1@"), "\(export)")
            }

            // Markup in a name and a post is shown as text on the pages.
            let author = try await client.resident("author@example.jp", name: "<img src=x onerror=alert(1)>")
            let group = try await client.createGroup(by: author, name: "<script>alert('group')</script>")
            let (thread, _) = try await client.createThread(in: group, by: author, title: "<b>題</b>", body: "<script>alert('post')</script>")
            var headers: HTTPFields = [:]
            headers[.cookie] = "kairan_session=\(author.token)"
            let page = try await client.execute(uri: "/threads/\(thread)", method: .get, headers: headers, body: nil)
            #expect(page.status == .ok)
            let html = String(buffer: page.body)
            #expect(!html.contains("<script>alert(") && !html.contains("<img src=x") && !html.contains("<b>題</b>"), "markup escaped")
            #expect(html.contains("&lt;script&gt;alert(") || html.contains("&lt;script&gt;alert&#40;"), "and shown as text")
        }
    }
}
