import Foundation
import Hummingbird
import HummingbirdTesting
import KairanCore
import KairanStore
import PostgresNIO
import Testing

@testable import KairanServer

/// School and facility notices to guardians, end to end: the API, the real WebSocket
/// stream, the scheduler on a test clock, and the mail worker sending to a real SMTP
/// server on loopback.
@Suite struct NoticeTests {
    func noticeEvents(_ stream: StreamClient, _ name: String) -> [[String: Any]] {
        stream.events(name).filter { $0["kind"] as? String == "notice.received" }
    }

    @Test func theSameNoticeSentTwiceWithOneIdempotencyKeyTellsFamiliesOnce() async throws {
        try await NoticeTown.with { town in
            let north = try await town.school("北小学校", prefix: "north")
            let mother = try await town.client.resident("mother@example.jp", name: "山田 花子")
            try await town.link(mother, to: try await town.enrol(north, "山田 太郎", in: "1-1"), at: north)
            func post(_ title: String, key: String?) async throws -> TestResponse {
                var headers: HTTPFields = [.contentType: "application/json", .authorization: "Bearer \(north.admin.token)"]
                if let key { headers[.init("Idempotency-Key")!] = key }
                let body = jsonObject(["title": title, "body": "明日は給食がありません。", "urgent": true, "targets": ["all": true]])
                let response = try await town.client.execute(uri: "/v1/organizations/\(north.id)/notices", method: .post, headers: headers,
                                                             body: ByteBuffer(string: body))
                SpecConformance.check(.post, "/v1/organizations/\(north.id)/notices", response,
                                      sourceLocation: SourceLocation(fileID: #fileID, filePath: #filePath, line: #line, column: #column))
                return response
            }
            let first = try await post("給食のお知らせ", key: "kyushoku-1")
            #expect(first.status == .created, "\(first.text)")
            // A retry after a lost answer, even with another body: the first notice, 200.
            let again = try await post("給食のお知らせ（再送）", key: "kyushoku-1")
            #expect(again.status == .ok)
            #expect(try again.json()["id"] as? Int == first.json()["id"] as? Int)
            #expect(try again.json()["title"] as? String == "給食のお知らせ")
            #expect(try await post("別のお知らせ", key: "kyushoku-2").status == .created)
            #expect(try await post("鍵なし", key: nil).status == .created)
            #expect(try await post("不正な鍵", key: "空白 を含む").status == .badRequest)

            let inbox = try await town.client.send(.get, "/v1/me/notices", token: mother.token)
            let titles = (try inbox.json()["items"] as? [[String: Any]] ?? []).compactMap { $0["title"] as? String }
            #expect(titles.filter { $0.hasPrefix("給食のお知らせ") } == ["給食のお知らせ"])
            #expect(titles.count == 3)
        }
    }

    @Test func aHouseholdWithChildrenInTwoSchoolsGetsBothClassNoticesAndNothingFromAThird() async throws {
        try await NoticeTown.with { town in
            let north = try await town.school("北小学校", prefix: "north")
            let south = try await town.school("南中学校", prefix: "south")
            let east = try await town.school("東小学校", prefix: "east")
            let mother = try await town.client.resident("mother@example.jp", name: "山田 花子")
            try await town.link(mother, to: try await town.enrol(north, "山田 太郎", in: "1-1"), at: north)
            try await town.link(mother, to: try await town.enrol(south, "山田 次郎", in: "2-1"), at: south)
            // Other families, told by mail: every channel below reaches someone.
            try await town.mailGuardian(east, child: try await town.enrol(east, "他 三郎", in: "1-1"), name: "他 保護者", email: "hoka@example.jp")
            try await town.mailGuardian(north, child: try await town.enrol(north, "鈴木 一郎", in: "1-2"), name: "鈴木 保護者", email: "suzuki@example.jp")
            let live = try await town.stream(mother.token, ["user:\(mother.id)"])

            // A third school, and another class of the first: neither reaches her.
            let third = try await town.post(east, by: east.teacher.token, ["title": "東小 全体連絡"])
            #expect(third.status == .created, "\(third.text)")
            let otherClass = try await town.post(north, by: north.teacher.token, ["title": "1-2 連絡", "targets": ["classes": [north.classes["1-2"]!]]])
            #expect(try otherClass.json()["state"] as? String == "sent")
            let northNotice = try await town.post(north, by: north.teacher.token, ["title": "北小 1-1 連絡", "targets": ["classes": [north.classes["1-1"]!]]])
            let southNotice = try await town.post(south, by: south.teacher.token, ["title": "南中 2年 連絡", "targets": ["grades": [2]]])
            #expect(northNotice.status == .created && southNotice.status == .created)

            let frames = try await live.wait(for: "two notices") { _ in noticeEvents(live, "user:\(mother.id)").count >= 2 }
            _ = frames
            let titles = noticeEvents(live, "user:\(mother.id)").compactMap { ($0["data"] as? [String: Any])?["title"] as? String }
            #expect(titles == ["北小 1-1 連絡", "南中 2年 連絡"], "in order, and nothing from the third school or the other class")

            let mine = try await town.client.send(.get, "/v1/me/notices", token: mother.token).items()
            #expect(mine.compactMap { $0["organizationName"] as? String } == ["南中学校", "北小学校"])
            let thirdID = try #require(third.json()["id"] as? Int)
            #expect(try await town.client.send(.get, "/v1/me/notices/\(thirdID)", token: mother.token).status == .notFound)
            let eastStatus = try await town.client.send(.get, "/v1/organizations/\(east.id)/notices/\(thirdID)/status", token: east.teacher.token).json()
            #expect((eastStatus["counts"] as? [String: Any])?["guardians"] as? Int == 1, "the east family only")
            live.close()
        }
    }

    @Test func aGuardianWithTwoChildrenInOneClassGetsOneDeliveryAndAnswersForEach() async throws {
        let server = ScriptedSMTPServer()
        try await server.start()
        try await NoticeTown.with { town in
            let school = try await town.school("北小学校", prefix: "north")
            let father = try await town.client.resident("father@example.jp", name: "佐藤 一郎")
            let first = try await town.enrol(school, "佐藤 花", in: "1-1")
            let second = try await town.enrol(school, "佐藤 空", in: "1-1", siblingOf: first)
            try await town.link(father, to: first, at: school)
            #expect(try await town.client.send(.put, "/v1/me/guardian", json: jsonObject(["delivery": "both"]), token: father.token).status == .ok)
            try await town.mailGuardian(school, child: second, name: "佐藤 祖母", email: "sato.sobo@ezweb.ne.jp")
            let live = try await town.stream(father.token, ["user:\(father.id)"])

            // The class and its grade both name the children: still one delivery per guardian.
            let deadline = town.clock.now().addingTimeInterval(3600)
            let posted = try await town.post(school, by: school.teacher.token, [
                "title": "遠足の出欠", "targets": ["classes": [school.classes["1-1"]!], "grades": [1]],
                "form": ["kind": "single", "question": "遠足に参加しますか", "options": ["参加", "欠席"], "deadline": deadline.formatted(.iso8601)],
            ])
            #expect(posted.status == .created, "\(posted.text)")
            let notice = try #require(posted.json()["id"] as? Int)
            #expect(try await town.deliver(to: server) == 2)
            let recipients = server.transactions.flatMap(\.recipients).sorted()
            #expect(recipients == ["RCPT TO:<father@example.jp>", "RCPT TO:<sato.sobo@ezweb.ne.jp>"], "one mail per guardian")
            try await live.wait(for: "the notice") { _ in !noticeEvents(live, "user:\(father.id)").isEmpty }
            let status = try await town.client.send(.get, "/v1/organizations/\(school.id)/notices/\(notice)/status", token: school.teacher.token).json()
            let counts = try #require(status["counts"] as? [String: Any])
            #expect(counts["guardians"] as? Int == 2)
            #expect(counts["households"] as? Int == 1)
            #expect(counts["delivered"] as? Int == 2)

            // The father answers for one child in the app, the grandmother for the other by mail.
            let answer = try await town.client.send(.put, "/v1/me/notices/\(notice)/answers/\(first)", json: jsonObject(["choices": [1]]), token: father.token)
            #expect(answer.status == .ok, "\(answer.text)")
            let invalid = try await town.client.send(.put, "/v1/me/notices/\(notice)/answers/\(first)", json: jsonObject(["choices": [0, 1]]), token: father.token)
            #expect(invalid.status == .unprocessableContent)
            let link = try #require(server.noticeLink(to: "sato.sobo@ezweb.ne.jp"))
            let page = try await town.client.send(.get, link)
            #expect(page.status == .ok && page.text.contains("遠足に参加しますか") && page.text.contains("佐藤 空"))
            let form = "action=answer&choice_\(second)=0"
            let submitted = try await town.client.execute(uri: link, method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                          body: ByteBuffer(string: form))
            #expect(submitted.status == .ok && String(buffer: submitted.body).contains("回答を受け付けました"))

            let answers = try await town.client.send(.get, "/v1/organizations/\(school.id)/notices/\(notice)/answers", token: school.teacher.token).json()
            let tallies = try #require(answers["tallies"] as? [[String: Any]])
            #expect(tallies.map { $0["count"] as? Int } == [1, 1])
            #expect(answers["answered"] as? Int == 2)
            let rows = try #require(answers["answers"] as? [[String: Any]])
            #expect(rows.map { $0["childName"] as? String } == ["佐藤 花", "佐藤 空"])
            #expect(rows.map { $0["answeredBy"] as? String } == ["佐藤 一郎", "佐藤 祖母"])

            // Changed until the deadline, then closed.
            #expect(try await town.client.send(.put, "/v1/me/notices/\(notice)/answers/\(first)", json: jsonObject(["choices": [0]]), token: father.token).status == .ok)
            town.clock.advance(by: 3601)
            let late = try await town.client.send(.put, "/v1/me/notices/\(notice)/answers/\(first)", json: jsonObject(["choices": [1]]), token: father.token)
            #expect(try late.errorCode() == "reply_closed")
            let latePage = try await town.client.execute(uri: link, method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                         body: ByteBuffer(string: "action=answer&choice_\(second)=1"))
            #expect(latePage.status == .conflict && String(buffer: latePage.body).contains("回答の締切を過ぎています"))
            let final = try await town.client.send(.get, "/v1/organizations/\(school.id)/notices/\(notice)/answers", token: school.teacher.token).json()
            #expect((final["tallies"] as? [[String: Any]])?.map { $0["count"] as? Int } == [2, 0])
            live.close()
        }
        await server.stop()
    }

    @Test func duringQuietHoursAnUrgentNoticeGoesOutAndANormalOneWaits() async throws {
        // 22:30 in Japan; the school is quiet from 21:00 to 07:00.
        let night = NoticeTown.schoolMorning.addingTimeInterval(12.5 * 3600)
        try await NoticeTown.with(start: night) { town in
            let school = try await town.school("北小学校", prefix: "north", settings: ["quietHours": ["start": "21:00", "end": "07:00"]])
            let mother = try await town.client.resident("mother@example.jp")
            try await town.link(mother, to: try await town.enrol(school, "山田 太郎", in: "1-1"), at: school)
            let live = try await town.stream(mother.token, ["user:\(mother.id)"])

            let tooEarly = try await town.post(school, by: school.teacher.token, [
                "title": "出欠", "form": ["kind": "text", "question": "連絡事項", "deadline": town.clock.now().addingTimeInterval(3600).formatted(.iso8601)],
            ])
            #expect(try tooEarly.errorCode() == "deadline_before_release", "the reply would close before the notice goes out at 07:00")
            let normal = try await town.post(school, by: school.teacher.token, ["title": "来週の予定"]).json()
            #expect(normal["state"] as? String == "scheduled")
            let releaseAt = try #require(normal["releaseAt"] as? String)
            #expect(releaseAt == "2026-11-23T22:00:00Z", "07:00 the next morning in Japan")
            let urgent = try await town.post(school, by: school.teacher.token, ["title": "不審者情報", "urgent": true]).json()
            #expect(urgent["state"] as? String == "sent")

            try await live.wait(for: "the urgent notice") { _ in !noticeEvents(live, "user:\(mother.id)").isEmpty }
            #expect(try await town.tick().published == 0, "still quiet")
            town.clock.advance(by: 8.5 * 3600 - 1)
            #expect(try await town.tick().published == 0)
            town.clock.advance(by: 1)
            #expect(try await town.tick().published == 1)
            try await live.wait(for: "the morning notice") { _ in noticeEvents(live, "user:\(mother.id)").count >= 2 }
            let titles = noticeEvents(live, "user:\(mother.id)").compactMap { ($0["data"] as? [String: Any])?["title"] as? String }
            #expect(titles == ["不審者情報", "来週の予定"])
            live.close()
        }
    }

    /// A scheduled notice the database fails on — and fails again when the scheduler tries to
    /// postpone it — is neither lost nor silently stuck: the failure is logged and counted,
    /// the notice stays due, and the next pass publishes it once the database answers.
    @Test func aNoticeWhosePostponeFailsTooStaysDueAndIsCounted() async throws {
        try await NoticeTown.with { town in
            let school = try await town.school("北小学校", prefix: "north")
            let mother = try await town.client.resident("mother@example.jp")
            try await town.link(mother, to: try await town.enrol(school, "山田 太郎", in: "1-1"), at: school)
            let at = town.clock.now().addingTimeInterval(3600).formatted(.iso8601)
            #expect(try await town.post(school, by: school.teacher.token, ["title": "授業参観のお知らせ", "sendAt": at]).json()["state"] as? String == "scheduled")
            town.clock.advance(by: 3600)
            // New connections to this database give up on a lock after 50 ms (the scheduler
            // opens its own for each pass here).
            try await TestDatabase.serverURL.withSingleConnection(logger: TestDatabase.logger) { db in
                try await db.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \(town.url.database) SET lock_timeout = '50ms'"))
            }
            try await town.url.withSingleConnection(logger: TestDatabase.logger) { locker in
                try await locker.query("BEGIN")
                // SHARE: the scheduler can still find and lock the due notice, but neither
                // publish nor postpone (both update it) gets through.
                try await locker.query("LOCK TABLE notices IN SHARE MODE")
                #expect(try await town.tick().published == 0)
                try await locker.query("COMMIT")
            }
            try await waitForMetric(town.client, "kairan_notice_postpone_failures_total") { $0 >= 1 }
            #expect(try await town.tick().published == 1, "still due, published on the next pass")
            let mine = try await town.client.send(.get, "/v1/me/notices", token: mother.token).items()
            #expect(mine.compactMap { $0["title"] as? String } == ["授業参観のお知らせ"])
        }
    }

    @Test func aScheduledNoticeGoesOutAtItsTimeAndACancelledOneNever() async throws {
        try await NoticeTown.with { town in
            let school = try await town.school("北小学校", prefix: "north")
            let mother = try await town.client.resident("mother@example.jp")
            try await town.link(mother, to: try await town.enrol(school, "山田 太郎", in: "1-1"), at: school)
            let at = town.clock.now().addingTimeInterval(3600).formatted(.iso8601)
            let scheduled = try await town.post(school, by: school.teacher.token, ["title": "授業参観のお知らせ", "sendAt": at]).json()
            #expect(scheduled["state"] as? String == "scheduled")
            let withdrawn = try #require(try await town.post(school, by: school.teacher.token, ["title": "取り消す連絡", "sendAt": at]).json()["id"] as? Int)
            let cancelled = try await town.client.send(.post, "/v1/organizations/\(school.id)/notices/\(withdrawn)/cancel", token: school.teacher.token)
            #expect(try cancelled.json()["state"] as? String == "cancelled")
            let tooLate = try await town.client.send(.patch, "/v1/organizations/\(school.id)/notices/\(withdrawn)", json: jsonObject(["title": "x"]), token: school.teacher.token)
            #expect(try tooLate.errorCode() == "already_sent")

            #expect(try await town.tick().published == 0)
            #expect(try await town.client.send(.get, "/v1/me/notices", token: mother.token).items().isEmpty)
            town.clock.advance(by: 3600)
            #expect(try await town.tick().published == 1)
            #expect(try await town.tick().published == 0, "published once")
            let mine = try await town.client.send(.get, "/v1/me/notices", token: mother.token).items()
            #expect(mine.compactMap { $0["title"] as? String } == ["授業参観のお知らせ"])
            let sent = try await town.client.send(.post, "/v1/organizations/\(school.id)/notices/\(try #require(scheduled["id"] as? Int))/cancel",
                                                  token: school.teacher.token)
            #expect(try sent.errorCode() == "already_sent", "a notice that went out cannot be withdrawn")

            // Custom lists: a name another list has is a conflict.
            let org = "/v1/organizations/\(school.id)/lists"
            #expect(try await town.client.send(.post, org, json: jsonObject(["name": "バス通学", "childIds": []]), token: school.teacher.token).status == .created)
            let club = try #require(try await town.client.send(.post, org, json: jsonObject(["name": "科学クラブ", "childIds": []]), token: school.teacher.token).json()["id"] as? Int)
            #expect(try await town.client.send(.post, org, json: jsonObject(["name": "バス通学", "childIds": []]), token: school.teacher.token).errorCode() == "list_exists")
            #expect(try await town.client.send(.put, "\(org)/\(club)", json: jsonObject(["name": "バス通学", "childIds": []]), token: school.teacher.token).errorCode() == "list_exists")
            #expect(try await town.client.send(.put, "\(org)/\(club)", json: jsonObject(["childIds": [999_999]]), token: school.teacher.token).errorCode() == "unknown_child")

            // Bad input: a clear 422 naming the field, nothing stored.
            let noChannel = try await town.post(school, by: school.teacher.token, ["title": "宛先なし", "targets": [String: Any]()])
            #expect(try noChannel.errorCode() == "required")
            let foreignClass = try await town.post(school, by: school.teacher.token, ["title": "他校のクラス", "targets": ["classes": [999_999]]])
            #expect(try foreignClass.errorCode() == "unknown_channel")
            let longTitle = try await town.post(school, by: school.teacher.token, ["title": String(repeating: "長", count: 101)])
            #expect(try longTitle.errorCode() == "too_long")
            let oneOption = try await town.post(school, by: school.teacher.token, ["title": "出欠", "form": ["kind": "single", "question": "参加?", "options": ["はい"]]])
            #expect(try oneOption.errorCode() == "out_of_range")
            #expect(try await town.query("SELECT count(*)::int FROM notices", as: Int.self) == [2])
        }
    }

    @Test func confirmationByMailLinkCountsForTheHouseholdAndEscalationReachesOnlyTheUnconfirmed() async throws {
        let server = ScriptedSMTPServer()
        try await server.start()
        try await NoticeTown.with { town in
            let school = try await town.school("北小学校", prefix: "north", settings: ["escalateAfterMinutes": 20])
            // Household 1: the mother in the app, the father by mail only.
            let mother = try await town.client.resident("mother@example.jp", name: "山田 花子")
            let taro = try await town.enrol(school, "山田 太郎", in: "1-1")
            try await town.link(mother, to: taro, at: school)
            try await town.mailGuardian(school, child: taro, name: "山田 一郎", email: "yamada.ichiro@docomo.ne.jp", phone: "090-0000-0001")
            // Household 2: mail only. Household 3: app only.
            let jiro = try await town.enrol(school, "鈴木 次郎", in: "1-2")
            try await town.mailGuardian(school, child: jiro, name: "鈴木 良子", email: "suzuki@example.jp", phone: "090-0000-0002")
            let neighbour = try await town.client.resident("tanaka@example.jp", name: "田中 恵")
            try await town.link(neighbour, to: try await town.enrol(school, "田中 三郎", in: "2-1"), at: school)
            // Household 4: app only, and never opens it.
            let silent = try await town.client.resident("sato.fumiko@example.jp", name: "佐藤 文子")
            try await town.link(silent, to: try await town.enrol(school, "佐藤 四郎", in: "2-1"), at: school)

            let posted = try await town.post(school, by: school.teacher.token, ["title": "臨時休校", "body": "本日は臨時休校です。", "urgent": true])
            #expect(posted.status == .created, "\(posted.text)")
            let notice = try #require(posted.json()["id"] as? Int)
            let dashboard = try await town.stream(school.teacher.token, ["notice:\(notice)"])
            // Urgent: every channel each guardian has (the mother has no address recorded).
            #expect(try await town.deliver(to: server) == 2)
            #expect(server.transactions.allSatisfy { $0.data.contains("Subject: =?") || $0.data.contains("Subject:") })

            // The father confirms by the link in his mail: household 1 is confirmed.
            let link = try #require(server.noticeLink(to: "yamada.ichiro@docomo.ne.jp"))
            #expect(try await town.client.send(.get, link).status == .ok)
            let opened = try await town.client.send(.get, "/v1/organizations/\(school.id)/notices/\(notice)/status", token: school.teacher.token).json()
            #expect((opened["counts"] as? [String: Any])?["confirmedHouseholds"] as? Int == 0, "opening the page is not confirming")
            let confirmed = try await town.client.execute(uri: link, method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                          body: ByteBuffer(string: "action=confirm"))
            #expect(confirmed.status == .ok && String(buffer: confirmed.body).contains("確認しました"))
            try await dashboard.wait(for: "the confirmation") { _ in
                dashboard.events("notice:\(notice)").contains { $0["kind"] as? String == "notice.confirmed" }
            }
            let event = try #require(dashboard.events("notice:\(notice)").last { $0["kind"] as? String == "notice.confirmed" }?["data"] as? [String: Any])
            #expect(event["confirmedHouseholds"] as? Int == 1)
            #expect(event["households"] as? Int == 4)
            let mine = try await town.client.send(.get, "/v1/me/notices/\(notice)", token: mother.token).json()
            #expect(mine["householdConfirmed"] as? Bool == true, "the mother sees her household confirmed")
            #expect(mine["confirmedAt"] == nil, "she herself has not confirmed")

            // Household 3 confirms in the app.
            #expect(try await town.client.send(.post, "/v1/me/notices/\(notice)/confirm", token: neighbour.token).status == .ok)
            let status = try await town.client.send(.get, "/v1/organizations/\(school.id)/notices/\(notice)/status", token: school.teacher.token).json()
            let unconfirmed = try #require(status["unconfirmed"] as? [[String: Any]])
            #expect(Set(unconfirmed.compactMap { ($0["children"] as? [String])?.first }) == ["鈴木 次郎", "佐藤 四郎"])

            // Not yet time: nothing happens. After 20 minutes: households 2 and 4 are mailed,
            // the app-only guardian at her account's address.
            town.clock.advance(by: 19 * 60)
            #expect(try await town.tick().escalated == 0)
            town.clock.advance(by: 60)
            #expect(try await town.tick().escalated == 1)
            #expect(try await town.tick().escalated == 0, "once")
            let before = server.transactions.count
            #expect(try await town.deliver(to: server) == 2)
            let resent = server.transactions.dropFirst(before)
            #expect(Set(resent.flatMap(\.recipients)) == ["RCPT TO:<suzuki@example.jp>", "RCPT TO:<sato.fumiko@example.jp>"])
            let appOnly = try #require(server.noticeLink(to: "sato.fumiko@example.jp"), "her mail carries a link to confirm")
            let confirmedByMail = try await town.client.execute(uri: appOnly, method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                                body: ByteBuffer(string: "action=confirm"))
            #expect(confirmedByMail.status == .ok)
            let callList = try await town.client.send(.get, "/v1/organizations/\(school.id)/notices/\(notice)/call-list", token: school.teacher.token).items()
            #expect(callList.count == 1, "household 4 confirmed from the escalation mail")
            let contacts = try #require(callList.first?["guardians"] as? [[String: Any]])
            #expect(contacts.map { $0["name"] as? String } == ["鈴木 良子"])
            #expect(contacts.map { $0["phone"] as? String } == ["090-0000-0002"])
            try await dashboard.wait(for: "the escalation") { _ in
                dashboard.events("notice:\(notice)").contains { $0["kind"] as? String == "notice.escalated" }
            }
            dashboard.close()
        }
        await server.stop()
    }

    /// A list that reaches nobody is refused when written; one emptied while its notice
    /// waited for approval is refused at approval, and the notice stays in the queue.
    @Test func aNoticeToAnEmptyListIsRefusedWhenWrittenAndWhenApproved() async throws {
        try await NoticeTown.with { town in
            let school = try await town.school("東小学校", prefix: "east", settings: ["requiresApproval": true])
            let mother = try await town.client.resident("mother@example.jp")
            let child = try await town.enrol(school, "山田 太郎", in: "1-1")
            try await town.link(mother, to: child, at: school)
            let lists = "/v1/organizations/\(school.id)/lists"
            let empty = try #require(try await town.client.send(.post, lists, json: jsonObject(["name": "空の名簿", "childIds": [Int]()]),
                                                                 token: school.teacher.token).json()["id"] as? Int)
            let refused = try await town.post(school, by: school.teacher.token, ["title": "連絡", "targets": ["lists": [empty]]])
            #expect(try refused.errorCode() == "empty_targets" && refused.status == .unprocessableContent)

            let choir = try #require(try await town.client.send(.post, lists, json: jsonObject(["name": "合唱部", "childIds": [child]]),
                                                                 token: school.teacher.token).json()["id"] as? Int)
            let draft = try await town.post(school, by: school.teacher.token, ["title": "合唱部の練習", "targets": ["lists": [choir]]])
            #expect(try draft.json()["state"] as? String == "pending_approval", "\(draft.text)")
            let id = try #require(try draft.json()["id"] as? Int)
            let emptied = try await town.client.send(.put, "\(lists)/\(choir)", json: jsonObject(["childIds": [Int]()]), token: school.teacher.token)
            #expect(emptied.status == .ok, "\(emptied.text)")
            let approve = try await town.client.send(.post, "/v1/organizations/\(school.id)/notices/\(id)/approve", json: "{}", token: school.admin.token)
            #expect(try approve.errorCode() == "empty_targets" && approve.status == .unprocessableContent)
            let still = try await town.client.send(.get, "/v1/organizations/\(school.id)/notices/\(id)", token: school.admin.token)
            #expect(try still.json()["state"] as? String == "pending_approval")
        }
    }

    @Test func approvalQueueHoldsNoticesUntilApprovedAndAReturnedOneNeverGoesOut() async throws {
        try await NoticeTown.with { town in
            let school = try await town.school("北小学校", prefix: "north", settings: ["requiresApproval": true])
            let mother = try await town.client.resident("mother@example.jp")
            try await town.link(mother, to: try await town.enrol(school, "山田 太郎", in: "1-1"), at: school)
            let queue = try await town.stream(school.admin.token, ["org:\(school.id)"])
            let teacherQueue = StreamClient.open(port: try #require(town.client.port), token: school.teacher.token)
            teacherQueue.subscribe("org:\(school.id)")
            #expect(try await teacherQueue.waitForSubscribed("org:\(school.id)")["type"] as? String == "error", "the queue is for org admins")
            teacherQueue.close()

            // Returned: never delivered.
            let draft = try await town.post(school, by: school.teacher.token, ["title": "学級通信 第1号"])
            #expect(try draft.json()["state"] as? String == "pending_approval")
            let returned = try #require(draft.json()["id"] as? Int)
            try await queue.wait(for: "the queue event") { _ in queue.events("org:\(school.id)").contains { $0["kind"] as? String == "notice.submitted" } }
            #expect(try await town.client.send(.post, "/v1/organizations/\(school.id)/notices/\(returned)/approve", json: "{}", token: school.teacher.token).status == .forbidden)
            let back = try await town.client.send(.post, "/v1/organizations/\(school.id)/notices/\(returned)/return",
                                                  json: jsonObject(["comment": "日付を確認してください"]), token: school.admin.token)
            #expect(try back.json()["state"] as? String == "returned")
            town.clock.advance(by: 3600)
            #expect(try await town.tick().published == 0)
            #expect(try await town.client.send(.get, "/v1/me/notices", token: mother.token).items().isEmpty)
            #expect(try await town.query("SELECT count(*)::int FROM notice_recipients", as: Int.self) == [0])

            // Approved with the approver's edit: delivered as edited.
            let second = try #require(try await town.post(school, by: school.teacher.token, ["title": "学級通信 第2号"]).json()["id"] as? Int)
            let approved = try await town.client.send(.post, "/v1/organizations/\(school.id)/notices/\(second)/approve",
                                                      json: jsonObject(["title": "学級通信 第2号（改）"]), token: school.admin.token)
            #expect(try approved.json()["state"] as? String == "sent", "\(approved.text)")
            #expect(try await town.client.send(.get, "/v1/me/notices", token: mother.token).items().compactMap { $0["title"] as? String } == ["学級通信 第2号（改）"])

            // The returned one, edited and resubmitted, is back in the queue.
            let edited = try await town.client.send(.patch, "/v1/organizations/\(school.id)/notices/\(returned)",
                                                    json: jsonObject(["title": "学級通信 第1号（日付訂正）"]), token: school.teacher.token)
            #expect(try edited.json()["state"] as? String == "pending_approval")

            // An approved notice edited before it goes out returns to the queue, and an
            // approver who read an older revision is told so.
            let later = town.clock.now().addingTimeInterval(3600).formatted(.iso8601)
            let third = try #require(try await town.post(school, by: school.teacher.token, ["title": "保護者会", "sendAt": later]).json()["id"] as? Int)
            let read = try await town.client.send(.get, "/v1/organizations/\(school.id)/notices/\(third)", token: school.admin.token).json()
            let revision = try #require(read["revision"] as? Int)
            let ok = try await town.client.send(.post, "/v1/organizations/\(school.id)/notices/\(third)/approve", json: jsonObject(["revision": revision]), token: school.admin.token)
            #expect(try ok.json()["state"] as? String == "scheduled")
            let sneaky = try await town.client.send(.patch, "/v1/organizations/\(school.id)/notices/\(third)", json: jsonObject(["body": "書き換えた本文"]), token: school.teacher.token)
            #expect(try sneaky.json()["state"] as? String == "pending_approval", "back in the queue")
            let stale = try await town.client.send(.post, "/v1/organizations/\(school.id)/notices/\(third)/approve", json: jsonObject(["revision": revision]), token: school.admin.token)
            #expect(try stale.errorCode() == "changed_since_read")

            // Skipping approval: only staff the school allows, only urgent, with a reason.
            let refused = try await town.post(school, by: school.teacher.token, ["title": "不審者", "urgent": true, "skipApprovalReason": "下校時刻が迫っている"])
            #expect(try refused.errorCode() == "may_not_skip_approval")
            #expect(try await town.client.send(.put, "/v1/organizations/\(school.id)/staff/\(school.teacher.id)",
                                               json: jsonObject(["role": "staff", "maySkipApproval": true]), token: school.admin.token).status == .noContent)
            let notUrgent = try await town.post(school, by: school.teacher.token, ["title": "x", "skipApprovalReason": "急ぎ"])
            #expect(try notUrgent.errorCode() == "not_urgent")
            let skipped = try await town.post(school, by: school.teacher.token, ["title": "不審者", "urgent": true, "skipApprovalReason": "下校時刻が迫っている"])
            #expect(try skipped.json()["state"] as? String == "sent")

            let log = try await town.client.send(.get, "/v1/organizations/\(school.id)/notices/\(returned)", token: school.admin.token).json()
            let actions = try #require(log["approvalLog"] as? [[String: Any]]).compactMap { $0["action"] as? String }
            #expect(actions == ["submitted", "returned", "edited", "resubmitted"])
            let secondLog = try await town.client.send(.get, "/v1/organizations/\(school.id)/notices/\(second)", token: school.admin.token).json()
            #expect(try #require(secondLog["approvalLog"] as? [[String: Any]]).compactMap { $0["action"] as? String } == ["submitted", "edited", "approved"])
            let skipID = try #require(skipped.json()["id"] as? Int)
            let skipLog = try await town.client.send(.get, "/v1/organizations/\(school.id)/notices/\(skipID)", token: school.admin.token).json()
            let skipEntry = try #require((skipLog["approvalLog"] as? [[String: Any]])?.first)
            #expect(skipEntry["action"] as? String == "skipped")
            #expect(skipEntry["comment"] as? String == "下校時刻が迫っている")

            // The audit trail cannot be rewritten, not even by the server's own database role.
            await #expect(throws: (any Error).self) {
                _ = try await town.query("UPDATE notice_approval_log SET comment = 'changed' RETURNING 1", as: Int.self)
            }
            await #expect(throws: (any Error).self) {
                _ = try await town.query("DELETE FROM notice_approval_log RETURNING 1", as: Int.self)
            }
            queue.close()
        }
    }

    /// A guardian who reads notices by mail, with no account, reports an absence from the
    /// page the notice mail links to: only for their own household's children there, with
    /// the school's reasons; the class teacher sees it live with the guardian's name.
    @Test func aMailOnlyGuardianReportsAnAbsenceFromTheNoticePage() async throws {
        let server = ScriptedSMTPServer()
        try await server.start()
        try await NoticeTown.with { town in
            let school = try await town.school("北小学校", prefix: "north")
            let hanako = try await town.enrol(school, "鈴木 花子", in: "1-1")
            try await town.mailGuardian(school, child: hanako, name: "鈴木 良子", email: "suzuki@example.jp")
            let stranger = try await town.enrol(school, "田中 一郎", in: "1-1")
            let teacher = try await town.stream(school.teacher.token, ["class:\(school.classes["1-1"]!)"])
            #expect(try await town.post(school, by: school.teacher.token, ["title": "学級通信"]).status == .created)
            #expect(try await town.deliver(to: server) == 1)
            let link = try #require(server.noticeLink(to: "suzuki@example.jp"))

            let page = try await town.client.send(.get, link)
            #expect(page.text.contains("欠席・遅刻・早退の連絡") && page.text.contains("鈴木 花子（1-1）") && page.text.contains("2026-11-23"))
            #expect(!page.text.contains("田中 一郎"), "only the household's own children")
            func report(_ fields: String) async throws -> TestResponse {
                try await town.client.execute(uri: link, method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                              body: ByteBuffer(string: fields))
            }
            let unknownReason = "寝坊".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            #expect(try await report("action=absence&child=\(hanako)&kind=absent&day=2026-11-24&reason=\(unknownReason)").status == .unprocessableContent)
            let reason = "通院".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            #expect(try await report("action=absence&child=\(stranger)&kind=absent&day=2026-11-24&reason=\(reason)").status == .notFound,
                    "another family's child")
            let note = "午後から登校します".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let done = try await report("action=absence&child=\(hanako)&kind=late&day=2026-11-24&reason=\(reason)&note=\(note)")
            #expect(done.status == .ok && done.text.contains("鈴木 花子さんの遅刻（2026-11-24）を学校に連絡しました。"), "\(done.text)")

            try await teacher.wait(for: "the report") { _ in !teacher.events("class:\(school.classes["1-1"]!)").isEmpty }
            let event = try #require(teacher.events("class:\(school.classes["1-1"]!)").first?["data"] as? [String: Any])
            #expect(event["childName"] as? String == "鈴木 花子" && event["guardianName"] as? String == "鈴木 良子" && event["note"] as? String == "午後から登校します")
            let inbox = try await town.client.send(.get, "/v1/organizations/\(school.id)/absences?day=2026-11-24", token: school.teacher.token).items()
            #expect(inbox.count == 1 && inbox.first?["kind"] as? String == "late")
            teacher.close()
        }
        await server.stop()
    }

    @Test func anAbsenceReportReachesOnlyThatClassesTeachersLive() async throws {
        try await NoticeTown.with { town in
            let school = try await town.school("北小学校", prefix: "north")
            let other = try await town.client.resident("other-tannin@school.example.jp", name: "別 担任")
            #expect(try await town.client.send(.put, "/v1/organizations/\(school.id)/staff/\(other.id)", json: jsonObject(["role": "staff"]), token: school.admin.token).status == .noContent)
            #expect(try await town.client.send(.put, "/v1/organizations/\(school.id)/classes/\(school.classes["1-2"]!)/teachers/\(other.id)", token: school.admin.token).status == .noContent)
            let mother = try await town.client.resident("mother@example.jp")
            let child = try await town.enrol(school, "山田 太郎", in: "1-1")
            try await town.link(mother, to: child, at: school)

            let teacher = try await town.stream(school.teacher.token, ["class:\(school.classes["1-1"]!)"])
            let otherTeacher = try await town.stream(other.token, ["class:\(school.classes["1-2"]!)"])
            otherTeacher.subscribe("class:\(school.classes["1-1"]!)")
            #expect(try await otherTeacher.waitForSubscribed("class:\(school.classes["1-1"]!)")["type"] as? String == "error", "not their class")
            let guardianLive = try await town.stream(mother.token, ["user:\(mother.id)"])

            let wrong = try await town.client.send(.post, "/v1/me/children/\(child)/absences",
                                                   json: jsonObject(["kind": "absent", "day": "2026-11-23", "reason": "寝坊"]), token: mother.token)
            #expect(try wrong.errorCode() == "unknown_reason")
            let badDay = try await town.client.send(.post, "/v1/me/children/\(child)/absences",
                                                    json: jsonObject(["kind": "absent", "day": "2026-02-30", "reason": "通院"]), token: mother.token)
            #expect(try badDay.errorCode() == "invalid_date")
            let farDay = try await town.client.send(.post, "/v1/me/children/\(child)/absences",
                                                    json: jsonObject(["kind": "absent", "day": "2027-06-01", "reason": "通院"]), token: mother.token)
            #expect(try farDay.errorCode() == "out_of_range")
            let reported = try await town.client.send(.post, "/v1/me/children/\(child)/absences",
                                                      json: jsonObject(["kind": "late", "day": "2026-11-23", "reason": "通院", "note": "10時ごろ登校します"]), token: mother.token)
            #expect(reported.status == .created, "\(reported.text)")
            let id = try #require(reported.json()["id"] as? Int)
            try await teacher.wait(for: "the report") { _ in !teacher.events("class:\(school.classes["1-1"]!)").isEmpty }
            let event = try #require(teacher.events("class:\(school.classes["1-1"]!)").first)
            #expect(event["kind"] as? String == "absence.reported")
            #expect((event["data"] as? [String: Any])?["note"] as? String == "10時ごろ登校します")

            let inbox = try await town.client.send(.get, "/v1/organizations/\(school.id)/absences?day=2026-11-23", token: school.teacher.token).items()
            #expect(inbox.count == 1)
            #expect(try await town.client.send(.get, "/v1/organizations/\(school.id)/absences", token: other.token).items().isEmpty)
            #expect(try await town.client.send(.post, "/v1/organizations/\(school.id)/absences/\(id)/acknowledge", token: other.token).status == .forbidden)
            let acknowledged = try await town.client.send(.post, "/v1/organizations/\(school.id)/absences/\(id)/acknowledge", token: school.teacher.token)
            #expect(try acknowledged.json()["acknowledgedBy"] as? String == "north 担任")
            try await guardianLive.wait(for: "the acknowledgement") { _ in
                guardianLive.events("user:\(mother.id)").contains { $0["kind"] as? String == "absence.acknowledged" }
            }
            #expect(otherTeacher.events().isEmpty, "the other class's teacher saw nothing")
            #expect(try await town.client.send(.get, "/v1/me/absences", token: mother.token).items().count == 1)

            // A teacher taken off the class loses its stream.
            #expect(try await town.client.send(.delete, "/v1/organizations/\(school.id)/classes/\(school.classes["1-1"]!)/teachers/\(school.teacher.id)",
                                               token: school.admin.token).status == .noContent)
            try await teacher.wait(for: "the revocation") { frames in frames.contains { $0["type"] as? String == "revoked" } }
            teacher.close(); otherTeacher.close(); guardianLive.close()
        }
    }
}
