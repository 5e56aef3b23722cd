import Foundation
import Hummingbird
import HummingbirdTesting
import KairanCore
import KairanDelivery
import KairanServices
import KairanStore
import Testing

/// Community events (地区の行事) as residents use them: the organiser holds one, members
/// answer with a head count, the day before a reminder goes out, a cancellation or a new
/// time reaches everyone who answered, and the calendar file opens in a real parser.
@Suite struct GroupEventTests {
    /// Monday 2026-11-23 10:00 in Japan (the town's clock in these tests).
    static let monday = NoticeTown.schoolMorning
    /// Saturday 2026-11-28 09:00–11:00 in Japan.
    static let saturday = monday.addingTimeInterval(4 * 86_400 + 23 * 3600)
    /// Friday 2026-11-27 18:00 in Japan: the reminder's moment.
    static let fridayEvening = monday.addingTimeInterval(4 * 86_400 + 8 * 3600)

    static func iso(_ date: Date) -> String { date.formatted(.iso8601) }

    struct Neighbourhood {
        let town: NoticeTown
        let group: Int
        let owner: Resident
        let members: [Resident]
    }

    /// A public group with its owner and `count` members.
    static func neighbourhood(_ town: NoticeTown, members count: Int) async throws -> Neighbourhood {
        let owner = try await town.client.resident("kaicho@example.jp", name: "自治会 会長")
        let group = try await town.client.createGroup(by: owner, name: "東町内会", kind: "community")
        var members: [Resident] = []
        for index in 0..<count {
            let member = try await town.client.resident("member\(index)@example.jp", name: "住民 \(index)")
            let joined = try await town.client.send(.post, "/v1/groups/\(group)/join", token: member.token)
            try #require(joined.status == .ok, "\(joined.text)")
            members.append(member)
        }
        return Neighbourhood(town: town, group: group, owner: owner, members: members)
    }

    static func hold(_ place: Neighbourhood, _ extra: [String: Any] = [:], start: Date = saturday) async throws -> Int {
        var body: [String: Any] = ["title": "秋の清掃活動", "place": "東公園", "startsAt": iso(start), "endsAt": iso(start.addingTimeInterval(7200)),
                                   "description": "軍手とごみ袋は町内会で用意します。"]
        body.merge(extra) { $1 }
        let response = try await place.town.client.send(.post, "/v1/groups/\(place.group)/events", json: jsonObject(body), token: place.owner.token)
        try #require(response.status == .created, "\(response.text)")
        return try #require(response.json()["id"] as? Int)
    }

    static func answer(_ place: Neighbourhood, _ event: Int, _ who: Resident, _ body: [String: Any]) async throws -> TestResponse {
        try await place.town.client.send(.put, "/v1/events/\(event)/answer", json: jsonObject(body), token: who.token)
    }

    static func notifications(_ town: NoticeTown, _ who: Resident, kind: String) async throws -> [[String: Any]] {
        try await town.client.send(.get, "/v1/notifications", token: who.token).items().filter { $0["kind"] as? String == kind }
    }

    /// Runs the reminder worker once at the town's clock; `workers` of them at once.
    static func remind(_ town: NoticeTown, workers: Int = 1) async throws -> Int {
        try await TestDatabase.withClient(town.url) { database in
            let services = Services(database: database, clock: town.clock, passwordHasher: PasswordHasher(testSuiteCost: 4), sessionLifetime: 3600,
                                    publicURL: "https://kairan.town.example.jp")
            return await withTaskGroup(of: Int.self) { group in
                for _ in 0..<workers {
                    group.addTask { await EventReminderWorker(events: services.events, clock: town.clock, logger: TestDatabase.logger).tick() }
                }
                return await group.reduce(0, +)
            }
        }
    }

    @Test func membersAnswerWithinTheCapacityAndTheOrganiserExportsTheList() async throws {
        try await NoticeTown.with { town in
            let place = try await Self.neighbourhood(town, members: 3)
            let (a, b, c) = (place.members[0], place.members[1], place.members[2])
            let client = town.client

            // Only the group's moderators and owners hold events; the rules are checked.
            let byMember = try await client.send(.post, "/v1/groups/\(place.group)/events", json: jsonObject([
                "title": "勝手な行事", "place": "どこか", "startsAt": Self.iso(Self.saturday), "endsAt": Self.iso(Self.saturday.addingTimeInterval(60)),
            ]), token: a.token)
            #expect(byMember.status == .forbidden)
            let past = try await client.send(.post, "/v1/groups/\(place.group)/events", json: jsonObject([
                "title": "昨日の行事", "place": "公園", "startsAt": Self.iso(Self.monday.addingTimeInterval(-86_400)), "endsAt": Self.iso(Self.monday),
            ]), token: place.owner.token)
            #expect(past.status == .unprocessableContent && (try? past.errorCode()) == "in_the_past", "\(past.text)")
            let backwards = try await client.send(.post, "/v1/groups/\(place.group)/events", json: jsonObject([
                "title": "逆さの行事", "place": "公園", "startsAt": Self.iso(Self.saturday), "endsAt": Self.iso(Self.saturday.addingTimeInterval(-60)),
            ]), token: place.owner.token)
            #expect(backwards.status == .unprocessableContent && (try? backwards.errorCode()) == "ends_before_start", "\(backwards.text)")
            // A deadline that is not a date-time is refused to the organiser, and a group that
            // does not exist is 404 whatever the input says.
            let unreadable: [String: Any] = ["title": "行事", "place": "公園", "startsAt": Self.iso(Self.saturday),
                                             "endsAt": Self.iso(Self.saturday.addingTimeInterval(60)), "answerDeadline": ""]
            let noDeadline = try await client.send(.post, "/v1/groups/\(place.group)/events", json: jsonObject(unreadable), token: place.owner.token)
            #expect(noDeadline.status == .unprocessableContent && (try? noDeadline.errorCode()) == "invalid", "\(noDeadline.text)")
            let nowhere = try await client.send(.post, "/v1/groups/9223372036854775806/events", json: jsonObject(unreadable), token: place.owner.token)
            #expect(nowhere.status == .notFound, "\(nowhere.text)")

            let event = try await Self.hold(place, ["capacity": 5])
            let shown = try await client.send(.get, "/v1/events/\(event)", token: a.token).json()
            #expect(shown["remaining"] as? Int == 5 && shown["answersOpen"] as? Bool == true && shown["canManage"] as? Bool == false)

            // A family of three, then a family of three that does not fit in the two places left.
            let first = try await Self.answer(place, event, a, ["answer": "going", "headCount": 3, "comment": "=1+1 子ども2人", "remindByMail": true])
            #expect(first.status == .ok, "\(first.text)")
            let full = try await Self.answer(place, event, b, ["answer": "going", "headCount": 3])
            #expect(full.status == .conflict && (try? full.errorCode()) == "event_full", "\(full.text)")
            #expect(try await Self.answer(place, event, b, ["answer": "going", "headCount": 2]).status == .ok)
            #expect(try await Self.answer(place, event, c, ["answer": "going"]).status == .conflict)
            #expect(try await Self.answer(place, event, c, ["answer": "maybe"]).status == .ok)
            // Changing one's own answer does not count oneself twice.
            let again = try await Self.answer(place, event, a, ["answer": "going", "headCount": 3, "comment": "=1+1 子ども2人", "remindByMail": true])
            #expect(again.status == .ok)
            let counts = try #require(try again.json()["counts"] as? [String: Any])
            #expect(counts["going"] as? Int == 5 && counts["maybe"] as? Int == 1 && counts["notGoing"] as? Int == 0)
            #expect(try again.json()["remaining"] as? Int == 0)
            #expect((try again.json()["myAnswer"] as? [String: Any])?["remindByMail"] as? Bool == true)
            // Not going brings nobody; a resident outside the group does not answer.
            let invalid = try await Self.answer(place, event, c, ["answer": "not_going", "headCount": 2])
            #expect(invalid.status == .unprocessableContent)
            let outsider = try await client.resident("outsider@example.jp", name: "他 町")
            #expect(try await Self.answer(place, event, outsider, ["answer": "maybe"]).status == .forbidden)

            // The organiser's list and spreadsheet; members see neither.
            #expect(try await client.send(.get, "/v1/events/\(event)/answers", token: a.token).status == .forbidden)
            let list = try await client.send(.get, "/v1/events/\(event)/answers", token: place.owner.token).items()
            #expect(list.map { $0["displayName"] as? String } == ["住民 0", "住民 1", "住民 2"])
            let csv = try await client.send(.get, "/v1/events/\(event)/answers.csv", token: place.owner.token)
            #expect(csv.status == .ok && csv.headers[.contentType]?.hasPrefix("text/csv") == true)
            let lines = csv.text.components(separatedBy: "\r\n")
            #expect(lines.first == "\u{FEFF}名前,回答,人数,コメント,回答日時")
            // A comment a spreadsheet would run as a formula is written as text.
            #expect(lines.contains { $0.hasPrefix("住民 0,参加,3,'=1+1 子ども2人,") }, "\(lines)")
            #expect(lines.contains("合計（参加）,,5,,") && lines.contains("合計（未定）,,1,,"))

            // The group's list shows it with each reader's own answer.
            let upcoming = try await client.send(.get, "/v1/groups/\(place.group)/events", token: c.token).items()
            #expect(upcoming.count == 1 && (upcoming.first?["myAnswer"] as? [String: Any])?["answer"] as? String == "maybe")
            #expect(try await client.send(.get, "/v1/groups/\(place.group)/events?when=past", token: c.token).items().isEmpty)
        }
    }

    @Test func answersArrivingTogetherNeverOverfillAnEvent() async throws {
        try await NoticeTown.with { town in
            let place = try await Self.neighbourhood(town, members: 8)
            let event = try await Self.hold(place, ["capacity": 3])
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for member in place.members {
                    group.addTask { Int(try await Self.answer(place, event, member, ["answer": "going"]).status.code) }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 200 }.count == 3, "\(statuses)")
            #expect(statuses.filter { $0 == 409 }.count == 5, "\(statuses)")
            let counts = try #require(try await town.client.send(.get, "/v1/events/\(event)", token: place.owner.token).json()["counts"] as? [String: Any])
            #expect(counts["going"] as? Int == 3)
        }
    }

    @Test func theDayBeforeTheReminderReachesThoseComingOnceAndByMailThoseWhoAskedForIt() async throws {
        let server = ScriptedSMTPServer()
        try await server.start()
        try await NoticeTown.with { town in
            let place = try await Self.neighbourhood(town, members: 4)
            let (a, b, c, d) = (place.members[0], place.members[1], place.members[2], place.members[3])
            let event = try await Self.hold(place)
            #expect(try await Self.answer(place, event, a, ["answer": "going", "headCount": 2, "remindByMail": true]).status == .ok)
            #expect(try await Self.answer(place, event, b, ["answer": "maybe"]).status == .ok)
            #expect(try await Self.answer(place, event, c, ["answer": "not_going", "remindByMail": true]).status == .ok)
            #expect(try await Self.answer(place, event, d, ["answer": "going", "remindByMail": true]).status == .ok)
            // D moves away and leaves the group: nothing more of its events.
            #expect(try await town.client.send(.post, "/v1/groups/\(place.group)/leave", token: d.token).status.code < 300)
            let live = try await town.stream(b.token, ["user:\(b.id)"])

            town.clock.advance(by: Self.fridayEvening.timeIntervalSince(town.clock.now()) - 60)
            #expect(try await Self.remind(town) == 0, "not before 18:00 the day before")
            town.clock.advance(by: 60)
            // Two workers at once: the reminder goes once.
            #expect(try await Self.remind(town, workers: 2) == 1)
            #expect(try await Self.remind(town) == 0)

            for who in [a, b] {
                let reminders = try await Self.notifications(town, who, kind: "event.reminder")
                #expect(reminders.count == 1)
                #expect((reminders.first?["data"] as? [String: Any])?["eventId"] as? Int == event)
            }
            #expect(try await Self.notifications(town, c, kind: "event.reminder").isEmpty, "not going: no reminder")
            #expect(try await Self.notifications(town, d, kind: "event.reminder").isEmpty, "left the group: no reminder")
            try await live.wait(for: "the reminder on the stream") { _ in
                live.events("user:\(b.id)").contains {
                    $0["kind"] as? String == "notification.created" && ($0["data"] as? [String: Any])?["kind"] as? String == "event.reminder"
                }
            }
            live.close()

            // One mail, to the one who is coming and asked for mail, with the event's page.
            #expect(try await town.deliver(to: server) == 1)
            #expect(server.transactions.flatMap(\.recipients) == ["RCPT TO:<member0@example.jp>"])
            #expect(server.transactions.first?.data.contains("https://kairan.town.example.jp/events/\(event)") == true)
        }
    }

    @Test func cancellingTellsEveryoneWhoAnsweredAndNoReminderFollows() async throws {
        let server = ScriptedSMTPServer()
        try await server.start()
        try await NoticeTown.with { town in
            let place = try await Self.neighbourhood(town, members: 3)
            let (a, b, c) = (place.members[0], place.members[1], place.members[2])
            let event = try await Self.hold(place)
            #expect(try await Self.answer(place, event, a, ["answer": "going", "remindByMail": true]).status == .ok)
            #expect(try await Self.answer(place, event, b, ["answer": "maybe"]).status == .ok)
            #expect(try await Self.answer(place, event, c, ["answer": "not_going", "remindByMail": true]).status == .ok)

            // A member cannot cancel; the organiser can, once.
            #expect(try await town.client.send(.post, "/v1/events/\(event)/cancel", json: "{}", token: a.token).status == .forbidden)
            let cancelled = try await town.client.send(.post, "/v1/events/\(event)/cancel", json: jsonObject(["reason": "雨天のため"]), token: place.owner.token)
            #expect(try cancelled.status == .ok && cancelled.json()["cancelled"] as? Bool == true, "\(cancelled.text)")
            let twice = try await town.client.send(.post, "/v1/events/\(event)/cancel", json: "{}", token: place.owner.token)
            #expect(twice.status == .conflict && (try? twice.errorCode()) == "event_cancelled")

            for who in [a, b, c] {
                let told = try await Self.notifications(town, who, kind: "event.cancelled")
                #expect(told.count == 1 && (told.first?["data"] as? [String: Any])?["reason"] as? String == "雨天のため")
            }
            #expect(try await town.deliver(to: server) == 2)
            #expect(server.transactions.flatMap(\.recipients).sorted() == ["RCPT TO:<member0@example.jp>", "RCPT TO:<member2@example.jp>"])

            let late = try await Self.answer(place, event, b, ["answer": "going"])
            #expect(late.status == .conflict && (try? late.errorCode()) == "event_cancelled")
            town.clock.advance(by: Self.fridayEvening.timeIntervalSince(town.clock.now()))
            #expect(try await Self.remind(town) == 0)
            #expect(try await Self.notifications(town, a, kind: "event.reminder").isEmpty)

            let calendar = try await town.client.send(.get, "/v1/events/\(event)/calendar.ics", token: b.token)
            #expect(calendar.text.contains("STATUS:CANCELLED\r\n") && calendar.text.contains("SEQUENCE:1\r\n"))
        }
    }

    @Test func aNewTimeIsToldToThoseComingAndMovesTheReminder() async throws {
        try await NoticeTown.with { town in
            let place = try await Self.neighbourhood(town, members: 3)
            let (a, b, c) = (place.members[0], place.members[1], place.members[2])
            let event = try await Self.hold(place)
            #expect(try await Self.answer(place, event, a, ["answer": "going"]).status == .ok)
            #expect(try await Self.answer(place, event, b, ["answer": "maybe"]).status == .ok)
            #expect(try await Self.answer(place, event, c, ["answer": "not_going"]).status == .ok)

            // Put off by a week.
            let later = Self.saturday.addingTimeInterval(7 * 86_400)
            let moved = try await town.client.send(.patch, "/v1/events/\(event)", json: jsonObject([
                "title": "秋の清掃活動", "place": "東公園", "startsAt": Self.iso(later), "endsAt": Self.iso(later.addingTimeInterval(7200)),
            ]), token: place.owner.token)
            #expect(moved.status == .ok, "\(moved.text)")
            #expect(try await Self.notifications(town, a, kind: "event.changed").count == 1)
            #expect(try await Self.notifications(town, b, kind: "event.changed").count == 1)
            #expect(try await Self.notifications(town, c, kind: "event.changed").isEmpty)
            // A title fixed without a new time or place tells nobody.
            #expect(try await town.client.send(.patch, "/v1/events/\(event)", json: jsonObject([
                "title": "秋の清掃活動（雨天決行）", "place": "東公園", "startsAt": Self.iso(later), "endsAt": Self.iso(later.addingTimeInterval(7200)),
            ]), token: place.owner.token).status == .ok)
            #expect(try await Self.notifications(town, a, kind: "event.changed").count == 1)

            town.clock.advance(by: Self.fridayEvening.timeIntervalSince(town.clock.now()))
            #expect(try await Self.remind(town) == 0, "the old date's evening")
            town.clock.advance(by: 7 * 86_400)
            #expect(try await Self.remind(town) == 1, "the new date's evening")
            #expect(try await Self.notifications(town, a, kind: "event.reminder").count == 1)
        }
    }

    @Test func theCalendarFileReadsBackInAnIndependentParser() async throws {
        try await NoticeTown.with { town in
            let place = try await Self.neighbourhood(town, members: 1)
            let description = "集合: 東公園の入口, 9時\n持ち物; 軍手・タオル・飲み物\\水筒可。小雨決行、荒天の場合は前日までに町内会の掲示板とこのページでお知らせします。"
            let event = try await Self.hold(place, ["title": "清掃, 草取り; 東町", "place": "東公園（東町1-2-3）", "description": description])
            let response = try await town.client.send(.get, "/v1/events/\(event)/calendar.ics", token: place.members[0].token)
            #expect(response.status == .ok && response.headers[.contentType] == "text/calendar; charset=utf-8")
            let text = response.text
            for line in text.components(separatedBy: "\r\n") {
                #expect(line.utf8.count <= 75, "an unfolded line: \(line)")
            }
            // Python's icalendar (Debian's python3-icalendar), not our code, reads it back.
            let script = """
                import icalendar, json, sys
                cal = icalendar.Calendar.from_ical(sys.stdin.buffer.read())
                ev = [c for c in cal.walk() if c.name == "VEVENT"][0]
                print(json.dumps({"summary": str(ev["SUMMARY"]), "location": str(ev["LOCATION"]), "description": str(ev["DESCRIPTION"]),
                                  "start": ev.decoded("DTSTART").isoformat(), "end": ev.decoded("DTEND").isoformat(), "uid": str(ev["UID"]),
                                  "sequence": int(ev["SEQUENCE"]), "status": str(ev["STATUS"])}))
                """
            let parsed = try Self.run("/usr/bin/python3", ["-c", script], input: Data(text.utf8))
            let fields = try #require(try JSONSerialization.jsonObject(with: parsed) as? [String: Any], "\(String(decoding: parsed, as: UTF8.self))")
            #expect(fields["summary"] as? String == "清掃, 草取り; 東町")
            #expect(fields["location"] as? String == "東公園（東町1-2-3）")
            #expect(fields["description"] as? String == description)
            #expect(fields["start"] as? String == "2026-11-28T00:00:00+00:00")
            #expect(fields["end"] as? String == "2026-11-28T02:00:00+00:00")
            #expect(fields["uid"] as? String == "event-\(event)@127.0.0.1")
            #expect(fields["sequence"] as? Int == 0 && fields["status"] as? String == "CONFIRMED")
        }
    }

    @Test func theReminderIsTheEveningBeforeInTheTownsTime() throws {
        let zone = TimeZone(identifier: "Asia/Tokyo")!
        let draft = EventDraft(title: "清掃", description: "", place: "公園", startsAt: Self.saturday, endsAt: Self.saturday.addingTimeInterval(3600),
                               capacity: nil, answerDeadline: nil)
        #expect(draft.reminderTime(zone: zone, now: Self.monday) == Self.fridayEvening)
        // Made on Friday night: too late for a reminder.
        #expect(draft.reminderTime(zone: zone, now: Self.fridayEvening.addingTimeInterval(60)) == nil)
        // An event just after midnight is reminded the evening before, not two days before.
        let early = Self.saturday.addingTimeInterval(-8.5 * 3600)  // 00:30 on Saturday
        var night = draft
        night.startsAt = early
        night.endsAt = early.addingTimeInterval(3600)
        #expect(night.reminderTime(zone: zone, now: Self.monday) == Self.fridayEvening)
    }

    @Test func onTheWebTheOrganiserHoldsAnEventAndAMemberAnswersIt() async throws {
        try await NoticeTown.with { town in
            let place = try await Self.neighbourhood(town, members: 1)
            let client = town.client
            var organiser = WebPagesTests.Browser()
            _ = try await organiser.get("/login", client)
            #expect(try await organiser.post("/login", [("email", "kaicho@example.jp"), ("password", "correct horse battery"), ("next", "/")], client).status == .seeOther)
            let groupPage = try await organiser.get("/groups/\(place.group)", client)
            #expect(groupPage.text.contains("予定されている行事はありません") && groupPage.text.contains("/groups/\(place.group)/events/new"))
            _ = try await organiser.get("/groups/\(place.group)/events/new", client)
            // The form's times are the town's local times (datetime-local).
            let missing = try await organiser.post("/groups/\(place.group)/events", [("title", "餅つき大会"), ("place", "集会所"), ("startsAt", ""), ("endsAt", "")], client)
            #expect(missing.status == .unprocessableContent && missing.text.contains("開始日時を入力してください") && missing.text.contains("餅つき大会"))
            let created = try await organiser.post("/groups/\(place.group)/events", [
                ("title", "餅つき大会"), ("place", "集会所"), ("startsAt", "2026-11-28T09:00"), ("endsAt", "2026-11-28T11:00"), ("capacity", "30"),
                ("answerDeadline", ""), ("description", "きねと臼は町内会で用意します。"),
            ], client)
            #expect(created.status == .seeOther, "\(created.text)")
            let location = try #require(created.headers[.location])
            let event = try #require(Int(location.dropFirst("/events/".count).prefix { $0.isNumber }))
            let page = try await organiser.get(location, client)
            #expect(page.text.contains("行事を作成しました") && page.text.contains("2026年11月28日(土) 9:00〜11:00") && page.text.contains("まだ回答はありません"))

            var member = WebPagesTests.Browser()
            _ = try await member.get("/login", client)
            #expect(try await member.post("/login", [("email", "member0@example.jp"), ("password", "correct horse battery"), ("next", "/")], client).status == .seeOther)
            let memberPage = try await member.get("/events/\(event)", client)
            #expect(memberPage.text.contains("出欠を答える") && !memberPage.text.contains("回答の一覧"))
            let answered = try await member.post("/events/\(event)/answer", [("answer", "going"), ("headCount", "4"), ("comment", "孫も来ます"), ("remindByMail", "1")], client)
            #expect(answered.status == .seeOther)
            let after = try await member.get("/events/\(event)", client)
            #expect(after.text.contains("参加 4 人") && after.text.contains("残り 26 人") && after.text.contains("回答を変更する"))
            let tooMany = try await member.post("/events/\(event)/answer", [("answer", "going"), ("headCount", "31")], client)
            #expect(tooMany.status == .unprocessableContent && tooMany.text.contains("人数"))

            let organiserView = try await organiser.get("/events/\(event)", client)
            #expect(organiserView.text.contains("孫も来ます") && organiserView.text.contains("/events/\(event)/answers.csv"))
            let csv = try await organiser.get("/events/\(event)/answers.csv", client)
            #expect(csv.status == .ok && csv.text.contains("住民 0,参加,4,孫も来ます,"))
            #expect(try await member.get("/events/\(event)/answers.csv", client).status == .forbidden)
            let ics = try await member.get("/events/\(event)/calendar.ics", client)
            #expect(ics.status == .ok && ics.text.contains("SUMMARY:餅つき大会"))

            // The organiser moves it an hour later with the same form, filled in as it stands.
            #expect(organiserView.text.contains("/events/\(event)/edit"))
            let editForm = try await organiser.get("/events/\(event)/edit", client)
            #expect(editForm.text.contains("行事を変更する") && editForm.text.contains("value=\"2026-11-28T09:00\"") && editForm.text.contains("value=\"30\""))
            let backwards = try await organiser.post("/events/\(event)/edit", [
                ("title", "餅つき大会"), ("place", "集会所"), ("startsAt", "2026-11-28T10:00"), ("endsAt", "2026-11-28T09:30"), ("capacity", "30"),
            ], client)
            #expect(backwards.status == .unprocessableContent && backwards.text.contains("開始日時より後") && backwards.text.contains("2026-11-28T09:30"))
            let moved = try await organiser.post("/events/\(event)/edit", [
                ("title", "餅つき大会"), ("place", "集会所"), ("startsAt", "2026-11-28T10:00"), ("endsAt", "2026-11-28T12:00"), ("capacity", "30"),
                ("answerDeadline", ""), ("description", "きねと臼は町内会で用意します。"),
            ], client)
            #expect(moved.status == .seeOther)
            let movedPage = try await organiser.get(try #require(moved.headers[.location]), client)
            #expect(movedPage.text.contains("行事の内容を変更しました") && movedPage.text.contains("2026年11月28日(土) 10:00〜12:00"))
            #expect(try await member.get("/me", client).text.contains("行事「餅つき大会」の日時または場所が変わりました"))
            // A member is sent to the event, not shown the organiser's form.
            let notTheirs = try await member.get("/events/\(event)/edit", client)
            #expect(notTheirs.status == .seeOther && notTheirs.headers[.location] == "/events/\(event)")

            #expect(try await organiser.post("/events/\(event)/cancel", [("reason", "臼が割れたため")], client).status == .seeOther)
            let cancelled = try await member.get("/events/\(event)", client)
            #expect(cancelled.text.contains("この行事は中止になりました") && cancelled.text.contains("臼が割れたため") && !cancelled.text.contains("出欠を答える"))
            let me = try await member.get("/me", client)
            #expect(me.text.contains("行事「餅つき大会」は中止になりました") && me.text.contains("/events/\(event)"))
        }
    }

    static func run(_ executable: String, _ arguments: [String], input: Data) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        stdin.fileHandleForWriting.write(input)
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "\(executable) failed (is python3-icalendar installed? scripts/test installs it)")
        return output
    }
}
