import Foundation
import Hummingbird
import HummingbirdTesting
import KairanCore
import KairanDelivery
import KairanFiles
@testable import KairanServices
import KairanStore
import PostgresNIO
import Testing

@testable import KairanAPI
@testable import KairanServer

/// The town's alert mail service through its API, delivered by a real worker to a real
/// SMTP server on loopback.
@Suite struct AlertServiceTests {
    struct Town {
        let client: any TestClientProtocol
        let url: DatabaseURL
        let clock: TestClock
        let staff: String
        let admin: String
        let resident: String
        /// Where the app keeps attachments' bytes.
        let files: String
    }

    /// An app without background workers (the test runs the worker itself), a town admin,
    /// an alert sender and a plain resident.
    func withTown(_ body: @escaping @Sendable (Town) async throws -> Void) async throws {
        let clock = TestClock()
        let files = FileManager.default.temporaryDirectory.path + "/kairan-town-files-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: files) }
        try await withApp(clock: clock, configure: { $0.role = .api; $0.files = .local(files) }) { client, url in
            let admin = try await client.registerAndLogin(email: "admin@town.example.jp")
            try await grantRole("town_admin", to: "admin@town.example.jp", in: url)
            let staff = try await client.registerAndLogin(email: "bousai@town.example.jp")
            try await grantRole("alert_sender", to: "bousai@town.example.jp", in: url)
            let resident = try await client.registerAndLogin(email: "resident@example.jp")
            try await body(Town(client: client, url: url, clock: clock, staff: staff, admin: admin, resident: resident, files: files))
        }
    }

    func subscribe(_ town: Town, _ email: String, categories: [String]? = nil, areas: [String]? = nil, window: (String, String)? = nil,
                   charset: String? = nil) async throws {
        var body: [String: Any] = ["email": email]
        if let categories { body["categories"] = categories }
        if let areas { body["areas"] = areas }
        if let window { body["receiveWindow"] = ["start": window.0, "end": window.1] }
        if let charset { body["charset"] = charset }
        let response = try await town.client.send(.post, "/v1/alert-subscribers", json: jsonObject(body), token: town.staff)
        try #require(response.status == .created, "subscribe \(email): \(response.text)")
    }

    func sendAlert(_ town: Town, category: String, areas: [String] = [], urgent: Bool = true, subject: String = "不審者情報",
                   body: String = "本日16時ごろ、北小学校付近で不審者が目撃されました。", sendAt: Date? = nil, key: String? = nil,
                   attachments: [Int] = []) async throws -> TestResponse {
        var json: [String: Any] = ["category": category, "areas": areas, "urgent": urgent, "subject": subject, "body": body]
        if !attachments.isEmpty { json["attachmentIds"] = attachments }
        if let sendAt { json["sendAt"] = sendAt.formatted(.iso8601) }
        var headers: HTTPFields = [.contentType: "application/json", .authorization: "Bearer \(town.staff)"]
        if let key { headers[.init("Idempotency-Key")!] = key }
        return try await town.client.execute(uri: "/v1/alerts", method: .post, headers: headers, body: ByteBuffer(string: jsonObject(json)))
    }

    func deliver(
        _ town: Town, to server: ScriptedSMTPServer, configure: @escaping (inout MailDeliveryConfiguration) -> Void = { _ in }
    ) async throws -> Int {
        try await TestDatabase.withClient(town.url) { database in
            let harness = try DeliveryHarness(database: database, clock: town.clock, relay: DeliveryHarness.relay(server), configure: configure)
            let count = await harness.worker.drain()
            await harness.transport.shutdown()
            return count
        }
    }

    func query<T: PostgresDecodable & Sendable>(_ town: Town, _ sql: PostgresQuery, as type: T.Type) async throws -> [T] {
        try await town.url.withSingleConnection(logger: TestDatabase.logger) { db in
            var values: [T] = []
            for try await value in try await db.query(sql).decode(T.self) { values.append(value) }
            return values
        }
    }

    @Test func staffSendAnAlertToTheMatchingSubscribersAndFollowItToTheEnd() async throws {
        let server = ScriptedSMTPServer()
        try await server.start()
        try await withTown { town in
            for (code, name) in [("kita", "北地区"), ("minami", "南地区")] {
                let response = try await town.client.send(.put, "/v1/alert-areas/\(code)", json: jsonObject(["name": name]), token: town.admin)
                #expect(response.status == .ok, "\(response.text)")
            }
            try await subscribe(town, "all@example.jp")
            try await subscribe(town, "taro..kita@docomo.ne.jp", areas: ["kita"])
            try await subscribe(town, "minami@example.jp", areas: ["minami"])
            try await subscribe(town, "school-only@example.jp", categories: ["school"])

            let created = try await sendAlert(town, category: "crime", areas: ["kita"])
            #expect(created.status == .created, "\(created.text)")
            let alert = try created.json()
            let id = try #require(alert["id"] as? Int)
            #expect(alert["recipients"] as? Int == 2)
            #expect(alert["subject"] as? String == "【防犯】不審者情報")
            #expect((alert["progress"] as? [String: Any])?["queued"] as? Int == 2)

            let recordedBefore = metricValue("kairan_mail_outcomes_recorded_total")
            let writesBefore = metricValue("kairan_mail_outcome_write_seconds_count")
            #expect(try await deliver(town, to: server) == 2)
            let progress = try #require(try await town.client.send(.get, "/v1/alerts/\(id)", token: town.staff).json()["progress"] as? [String: Any])
            #expect(progress["sent"] as? Int == 2)
            #expect(progress["queued"] as? Int == 0)

            let metrics = try await town.client.send(.get, "/metrics")
            #expect(metrics.text.contains(#"kairan_deliveries_sent_total{channel="mail",domain="docomo.ne.jp"}"#), "sent per channel and carrier domain")
            #expect(metrics.text.contains(#"kairan_deliveries_sent_total{channel="mail",domain="other"}"#))
            // The recorder's own figures (other tests in this process send too: at least ours).
            #expect(metricValue("kairan_mail_outcomes_recorded_total", in: metrics.text) >= recordedBefore + 2)
            #expect(metricValue("kairan_mail_outcome_write_seconds_count", in: metrics.text) >= writesBefore + 1)
            // Buckets under the default 5 ms floor: a write takes a few milliseconds.
            #expect(metrics.text.contains(#"kairan_mail_outcome_write_seconds_bucket{le="0.001"}"#), "millisecond buckets")
            let recipients = Set(server.transactions.flatMap(\.recipients))
            #expect(recipients == ["RCPT TO:<all@example.jp>", "RCPT TO:<\"taro..kita\"@docomo.ne.jp>"])
            for transaction in server.transactions {
                #expect(transaction.data.contains("List-Unsubscribe: <https://kairan.town.example.jp/u/"))
                #expect(transaction.data.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"))
                #expect(transaction.data.contains("List-Id: <crime.alerts.kairan.localhost>"))
            }

            let listed = try await town.client.send(.get, "/v1/alerts", token: town.staff).items()
            #expect(listed.count == 1 && (listed[0]["progress"] as? [String: Any])?["sent"] as? Int == 2, "the list shows progress too")

            let csv = try await town.client.send(.get, "/v1/alerts/\(id)/deliveries.csv", token: town.staff)
            #expect(csv.status == .ok)
            #expect(csv.headers[.contentType] == "text/csv; charset=utf-8")
            let lines = csv.text.split(separator: "\r\n")
            #expect(lines.first == "delivery_id,address,state,attempts,last_attempt_at,sent_at,last_reply")
            #expect(lines.count == 3)
            #expect(lines.dropFirst().allSatisfy { $0.contains(",sent,1,") })
            #expect(lines.contains { $0.contains("taro..kita@docomo.ne.jp") })
        }
        await server.stop()
    }

    @Test func theSameIdempotencyKeyGivesTheSameAlertAndNoNewMail() async throws {
        try await withTown { town in
            try await subscribe(town, "a@example.jp")
            let first = try await sendAlert(town, category: "disaster", key: "evac-2026-11-25-1")
            #expect(first.status == .created)
            let again = try await sendAlert(town, category: "disaster", key: "evac-2026-11-25-1")
            #expect(again.status == .ok)
            #expect(try again.json()["id"] as? Int == first.json()["id"] as? Int)
            #expect(try await query(town, "SELECT count(*)::int FROM deliveries", as: Int.self) == [1])
            let badKey = try await sendAlert(town, category: "disaster", key: String(repeating: "k", count: 101))
            #expect(badKey.status == .badRequest)
        }
    }

    @Test func aMandatoryCategoryReachesEverySubscriberAndCannotBeOptedOut() async throws {
        try await withTown { town in
            try await subscribe(town, "no-optional@example.jp", categories: [])
            let token = try #require(try await query(town, "SELECT manage_token FROM alert_subscribers", as: String.self).first)

            // Unticking every box on the settings page keeps the mandatory category.
            let page = try await town.client.execute(uri: "/m/s/\(token)", method: .get, headers: [:], body: nil)
            #expect(page.status == .ok)
            #expect(page.text.contains("防災（緊急情報のため必ず配信されます）"))
            #expect(!page.text.contains("value=\"disaster\""), "no checkbox to opt out of 防災")
            let saved = try await town.client.execute(uri: "/m/s/\(token)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                      body: ByteBuffer(string: "charset=utf-8&category=disaster"))
            #expect(saved.status == .ok)

            #expect(try await sendAlert(town, category: "disaster").json()["recipients"] as? Int == 1)
            #expect(try await sendAlert(town, category: "crime").json()["recipients"] as? Int == 0)
        }
    }

    @Test func oneClickUnsubscribeWorksAndAPlainGETUnsubscribesNobody() async throws {
        try await withTown { town in
            try await subscribe(town, "leaving@example.jp")
            let token = try #require(try await query(town, "SELECT manage_token FROM alert_subscribers", as: String.self).first)
            // A scheduled alert is queued for them.
            let later = town.clock.now().addingTimeInterval(3 * 3600)
            #expect(try await sendAlert(town, category: "town", urgent: false, sendAt: later).status == .created)

            let page = try await town.client.execute(uri: "/u/\(token)", method: .get, headers: [:], body: nil)
            #expect(page.status == .ok)
            #expect(page.text.contains("name=\"List-Unsubscribe\" value=\"One-Click\""))
            #expect(page.text.contains("l***@example.jp") && !page.text.contains("leaving@"), "a forwarded mail does not show the whole address")
            #expect(try await query(town, "SELECT status FROM alert_subscribers", as: String.self) == ["active"], "a link scanner's GET changes nothing")

            let oversized = try await town.client.execute(uri: "/u/\(token)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                          body: ByteBuffer(string: "List-Unsubscribe=One-Click&x=" + String(repeating: "a", count: 17 * 1024)))
            #expect(oversized.status == .contentTooLarge)
            let wrong = try await town.client.execute(uri: "/u/\(token)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                      body: ByteBuffer(string: "something=else"))
            #expect(wrong.status == .badRequest)
            let oneClick = try await town.client.execute(uri: "/u/\(token)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                         body: ByteBuffer(string: "List-Unsubscribe=One-Click"))
            #expect(oneClick.status == .ok)
            #expect(try await query(town, "SELECT status FROM alert_subscribers", as: String.self) == ["unsubscribed"])
            #expect(try await query(town, "SELECT state FROM deliveries", as: String.self) == ["cancelled"], "the queued mail is withdrawn")
            #expect(try await sendAlert(town, category: "disaster").json()["recipients"] as? Int == 0)

            let unknown = try await town.client.execute(uri: "/u/not-a-token", method: .get, headers: [:], body: nil)
            #expect(unknown.status == .notFound)
        }
    }

    @Test func oneClickAlsoWorksAsMultipartFormData() async throws {
        try await withTown { town in
            try await subscribe(town, "gmail-user@example.jp")
            let token = try #require(try await query(town, "SELECT manage_token FROM alert_subscribers", as: String.self).first)
            let body = "--b1\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b1--\r\n"
            let response = try await town.client.execute(uri: "/u/\(token)", method: .post, headers: [.contentType: "multipart/form-data; boundary=b1"],
                                                         body: ByteBuffer(string: body))
            #expect(response.status == .ok)
            #expect(try await query(town, "SELECT status FROM alert_subscribers", as: String.self) == ["unsubscribed"])
        }
    }

    @Test func csvFieldsCannotRunAsSpreadsheetFormulas() {
        #expect(CSV.field("=HYPERLINK(\"http://evil\")") == "\"'=HYPERLINK(\"\"http://evil\"\")\"")
        #expect(CSV.field("+81 90") == "'+81 90")
        #expect(CSV.field("a,b") == "\"a,b\"")
        #expect(CSV.field("250 2.0.0 ok") == "250 2.0.0 ok")
    }

    @Test func nonUrgentMailWaitsForTheReceiveWindowAndUrgentMailDoesNot() async throws {
        try await withTown { town in
            // The test clock starts at 23:13 in Japan.
            try await subscribe(town, "sleeper@example.jp", window: ("07:00", "21:00"))
            _ = try await sendAlert(town, category: "town", urgent: false)
            _ = try await sendAlert(town, category: "disaster", urgent: true)
            let due = try await query(town, "SELECT due_at FROM deliveries ORDER BY id", as: Date.self)
            let now = town.clock.now()
            #expect(due.count == 2)
            #expect(due[1] == now, "urgent: at once")
            let japan = TimeZone(identifier: "Asia/Tokyo")!
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = japan
            let parts = calendar.dateComponents([.day, .hour, .minute], from: due[0])
            #expect(parts.hour == 7 && (5..<20).contains(parts.minute ?? 0), "next 07:xx, off the top of the hour: \(parts)")
            #expect(due[0] > now && due[0] < now.addingTimeInterval(9 * 3600))
        }
    }

    @Test func scheduledAlertsAvoidTheTopOfTheHourAndCanBeCancelled() async throws {
        try await withTown { town in
            try await subscribe(town, "a@example.jp")
            try await subscribe(town, "b@example.jp")
            // Tomorrow 10:00 in Japan.
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "Asia/Tokyo")!
            let tomorrow = calendar.date(byAdding: .day, value: 1, to: town.clock.now())!
            let tenOClock = calendar.date(bySettingHour: 10, minute: 0, second: 0, of: tomorrow)!
            let created = try await sendAlert(town, category: "town", urgent: false, sendAt: tenOClock)
            #expect(created.status == .created)
            for due in try await query(town, "SELECT due_at FROM deliveries", as: Date.self) {
                #expect(due >= tenOClock.addingTimeInterval(300) && due < tenOClock.addingTimeInterval(1200), "\(due)")
            }
            let id = try #require(created.json()["id"] as? Int)
            let cancelled = try await town.client.send(.post, "/v1/alerts/\(id)/cancel", token: town.staff)
            #expect(cancelled.status == .ok)
            #expect(try cancelled.json()["cancelled"] as? Bool == true)
            #expect((try cancelled.json()["progress"] as? [String: Any])?["cancelled"] as? Int == 2)
        }
    }

    @Test func onlyAlertStaffSendAndOnlyAdminsConfigure() async throws {
        try await withTown { town in
            let body = jsonObject(["category": "crime", "urgent": true, "subject": "s", "body": "b"])
            #expect(try await town.client.send(.post, "/v1/alerts", json: body).status == .unauthorized)
            let forbidden = try await town.client.send(.post, "/v1/alerts", json: body, token: town.resident)
            #expect(forbidden.status == .forbidden)
            #expect(try forbidden.errorCode() == "forbidden")
            #expect(try await town.client.send(.get, "/v1/alert-subscribers", token: town.resident).status == .forbidden)
            #expect(try await town.client.send(.get, "/v1/alerts", token: town.resident).status == .forbidden)
            let categoryEdit = try await town.client.send(.put, "/v1/alert-categories/crime", json: jsonObject(["mandatory": true]), token: town.staff)
            #expect(categoryEdit.status == .forbidden)
            let adminEdit = try await town.client.send(.put, "/v1/alert-categories/weather", json: jsonObject(["name": "気象", "mandatory": true]), token: town.admin)
            #expect(adminEdit.status == .ok)
            #expect(try adminEdit.json()["mandatory"] as? Bool == true)
            #expect(try await town.client.send(.get, "/v1/alert-categories", token: town.resident).status == .ok)
        }
    }

    @Test func badAlertsAreRefusedWithTheFieldNamed() async throws {
        try await withTown { town in
            let injected = try await sendAlert(town, category: "crime", subject: "火事\r\nBcc: victim@example.com")
            #expect(injected.status == .unprocessableContent)
            #expect(try injected.errorCode() == "invalid_characters")
            let unknown = try await sendAlert(town, category: "weather")
            #expect(try unknown.errorCode() == "unknown_category")
            let long = try await sendAlert(town, category: "crime", body: String(repeating: "あ", count: 4001))
            #expect(try long.errorCode() == "too_long")
            let area = try await sendAlert(town, category: "crime", areas: ["nowhere"])
            #expect(try area.errorCode() == "unknown_area")
            let past = try await sendAlert(town, category: "crime", sendAt: town.clock.now().addingTimeInterval(-3600))
            #expect(try past.errorCode() == "out_of_range")
            #expect(try await query(town, "SELECT count(*)::int FROM outbox_messages", as: Int.self) == [0])
        }
    }

    /// A shelter map and a photo of the flooded road: the mail (ISO-2022-JP to a feature phone)
    /// names each file and links to it, never carries it; the link opens without an account,
    /// only for this alert's files, and not before a scheduled alert goes out.
    @Test func anAlertsFilesAreLinksInItsMailThatOpenWithoutAnAccount() async throws {
        let server = ScriptedSMTPServer()
        try await server.start()
        try await withTown { town in
            try await subscribe(town, "mama@docomo.ne.jp")
            func upload(_ bytes: [UInt8], _ name: String, token: String) async throws -> Int {
                let response = try await AttachmentTests.upload(town.client, bytes, name: name, token: token)
                try #require(response.status == .created, "\(response.text)")
                return try #require(response.json()["id"] as? Int)
            }
            let map = try await upload(AttachmentFixtures.pdf, "避難所マップ.pdf", token: town.staff)
            let photo = try await upload(AttachmentFixtures.jpegWithGPS, "冠水.jpg", token: town.staff)

            let created = try await sendAlert(town, category: "disaster", subject: "避難指示", body: "北地区に避難指示を発令しました。", attachments: [map, photo])
            #expect(created.status == .created, "\(created.text)")
            let alert = try created.json()
            let id = try #require(alert["id"] as? Int)
            #expect((alert["attachments"] as? [[String: Any]])?.compactMap { $0["filename"] as? String } == ["避難所マップ.pdf", "冠水.jpg"])
            let body = try #require(alert["body"] as? String)
            #expect(body.hasPrefix("北地区に避難指示を発令しました。\n\n【添付ファイル】\n避難所マップ.pdf（PDF・1 KB）\n"), "\(body)")

            #expect(try await deliver(town, to: server) == 1)
            let mail = try #require(server.transactions.last?.data)
            #expect(mail.contains("charset=ISO-2022-JP") && !mail.contains("%PDF") && !mail.lowercased().contains("content-disposition"))
            let links = mail.matches(of: /\/a\/([A-Za-z0-9_-]{16,64})\/files\/([0-9]+)/).map { (String($0.output.1), Int($0.output.2)!) }
            #expect(links.map(\.1) == [map, photo], "one link per file, in order: \(mail)")
            let token = try #require(links.first?.0)

            // Anyone holding the mail opens the files, with no account.
            let pdf = try await town.client.send(.get, "/a/\(token)/files/\(map)")
            #expect(pdf.status == .ok && pdf.headers[.contentType] == "application/pdf" && Array(pdf.body.readableBytesView) == AttachmentFixtures.pdf)
            #expect(pdf.headers[.init("X-Content-Type-Options")!] == "nosniff")
            let jpeg = try await town.client.send(.get, "/a/\(token)/files/\(photo)")
            #expect(jpeg.status == .ok && jpeg.headers[.contentType] == "image/jpeg")
            #expect(jpeg.body.readableBytes < AttachmentFixtures.jpegWithGPS.count, "stored without its EXIF")
            // Nothing else: a wrong token, or the token with another alert's or a post's file.
            #expect(try await town.client.send(.get, "/a/\(String(repeating: "A", count: 32))/files/\(map)").status == .notFound)
            let residentsPhoto = try await upload(AttachmentFixtures.pngWithText, "猫.png", token: town.resident)
            #expect(try await town.client.send(.get, "/a/\(token)/files/\(residentsPhoto)").status == .notFound)
            // Over the API: alert staff, not residents.
            #expect(try await town.client.send(.get, "/v1/attachments/\(map)", token: town.staff).status == .ok)
            #expect(try await town.client.send(.get, "/v1/attachments/\(map)", token: town.resident).status == .notFound)
            #expect(try await town.client.send(.get, "/v1/alerts/\(id)", token: town.staff).json()["attachments"] as? [[String: Any]] != nil)

            // A scheduled alert's file is nobody's before its time.
            let later = try await upload(AttachmentFixtures.pdf, "訓練のお知らせ.pdf", token: town.staff)
            let scheduled = try await sendAlert(town, category: "disaster", subject: "防災訓練", body: "日曜に訓練を行います。",
                                                sendAt: town.clock.now().addingTimeInterval(2 * 3600), attachments: [later])
            #expect(scheduled.status == .created, "\(scheduled.text)")
            let scheduledID = try #require(try scheduled.json()["id"] as? Int)
            let laterToken = try #require(try await query(town, "SELECT public_token FROM alerts WHERE id = \(scheduledID)", as: String.self).first)
            #expect(try await town.client.send(.get, "/a/\(laterToken)/files/\(later)").status == .notFound)
            town.clock.advance(by: 2 * 3600 + 1)
            #expect(try await town.client.send(.get, "/a/\(laterToken)/files/\(later)").status == .ok)
            #expect(try await town.client.send(.get, "/a/\(laterToken)/files/\(map)").status == .notFound)

            // The wrong file attached to a scheduled alert: cancelled before it goes out, it never opens.
            let wrong = try await upload(AttachmentFixtures.pdf, "要支援者名簿.pdf", token: town.staff)
            let mistaken = try await sendAlert(town, category: "disaster", subject: "避難訓練", body: "訓練の案内です。",
                                               sendAt: town.clock.now().addingTimeInterval(3600), attachments: [wrong])
            let mistakenID = try #require(try mistaken.json()["id"] as? Int)
            let wrongToken = try #require(try await query(town, "SELECT public_token FROM alerts WHERE id = \(mistakenID)", as: String.self).first)
            #expect(try await town.client.send(.post, "/v1/alerts/\(mistakenID)/cancel", token: town.staff).status == .ok)
            town.clock.advance(by: 3601)
            #expect(try await town.client.send(.get, "/a/\(wrongToken)/files/\(wrong)").status == .notFound)
            #expect(try await town.client.send(.get, "/a/\(wrongToken)").status == .notFound)
        }
        await server.stop()
    }

    @Test func aWrongFileIsTakenOffAnAlertThatWentOutAndItsLinkSaysSo() async throws {
        let server = ScriptedSMTPServer()
        try await server.start()
        try await withTown { town in
            try await subscribe(town, "papa@ezweb.ne.jp")
            func upload(_ bytes: [UInt8], _ name: String) async throws -> Int {
                let response = try await AttachmentTests.upload(town.client, bytes, name: name, token: town.staff)
                try #require(response.status == .created, "\(response.text)")
                return try #require(response.json()["id"] as? Int)
            }
            let map = try await upload(AttachmentFixtures.pdf, "避難所マップ.pdf")
            // The wrong file: a photo that shows who lives where.
            let wrong = try await upload(AttachmentFixtures.jpegWithGPS, "要支援者の家.jpg")
            let created = try await sendAlert(town, category: "disaster", subject: "避難指示", body: "北地区に避難指示を発令しました。", attachments: [map, wrong])
            let id = try #require(try created.json()["id"] as? Int)
            #expect(try await deliver(town, to: server) == 1)
            let mail = try #require(server.transactions.last?.data)
            let token = try #require(mail.firstMatch(of: /\/a\/([A-Za-z0-9_-]{16,64})\/files\//).map { String($0.output.1) })
            #expect(try await town.client.send(.get, "/a/\(token)/files/\(wrong)").status == .ok)
            let key = try #require(try await query(town, "SELECT sha256 FROM attachments WHERE id = \(wrong)", as: String.self).first)

            // Only alert staff take files off.
            #expect(try await town.client.send(.delete, "/v1/alerts/\(id)/attachments/\(wrong)", token: town.resident).status == .forbidden)
            #expect(try await town.client.send(.delete, "/v1/alerts/\(id)/attachments/\(wrong)").status == .unauthorized)
            // Minutes after it went out, as a mistake is noticed.
            town.clock.advance(by: 120)
            let withdrawnAt = town.clock.now()
            let withdrawn = try await town.client.send(.delete, "/v1/alerts/\(id)/attachments/\(wrong)", token: town.staff)
            #expect(withdrawn.status == .ok, "\(withdrawn.text)")
            let alert = try withdrawn.json()
            #expect((alert["attachments"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } == [map])
            let listed = try #require(alert["withdrawnFiles"] as? [[String: Any]])
            #expect(listed.count == 1 && listed.first?["id"] as? Int == wrong && listed.first?["filename"] as? String == "要支援者の家.jpg")
            #expect((alert["body"] as? String)?.contains("/files/\(wrong)") == true, "the body stays as it was mailed: proof of what went out")

            // The link in the mail now says the file was taken back, and when; the other still opens.
            let gone = try await town.client.send(.get, "/a/\(token)/files/\(wrong)")
            #expect(gone.status == .gone && gone.headers[.contentType] == "text/html; charset=utf-8")
            let when = TownTime.display(withdrawnAt, zone: TimeZone(identifier: "Asia/Tokyo")!)
            #expect(gone.text.contains("「要支援者の家.jpg」は、\(when) に配信元が取り下げました。") && gone.text.contains("href=\"/a/\(token)\""),
                    "\(gone.text)")
            #expect(try await town.client.send(.get, "/a/\(token)/files/\(map)").status == .ok)
            // The alert's page lists it as withdrawn, and its text still has no link block.
            let page = try await town.client.send(.get, "/a/\(token)")
            #expect(page.status == .ok && page.text.contains("<del>要支援者の家.jpg</del>") && page.text.contains("取り下げられました"))
            #expect(!page.text.contains("【添付ファイル】"), "\(page.text)")
            #expect(try await town.client.send(.get, "/v1/attachments/\(wrong)", token: town.staff).status == .notFound)
            // Its bytes go at the collector's first pass ten minutes after their upload (an
            // upload of the same photo may still be on its way until then), not a day later.
            let path = "\(town.files)/\(key.prefix(2))/\(key.dropFirst(2).prefix(2))/\(key)"
            #expect(FileManager.default.fileExists(atPath: path), "\(path)")
            town.clock.advance(by: 481)
            let collected = try await TestDatabase.withClient(town.url) { database in
                try await Services(database: database, clock: town.clock, passwordHasher: PasswordHasher(testSuiteCost: 4), sessionLifetime: 3600,
                                   files: LocalFileStore(directory: town.files)).attachments.collect(logger: TestDatabase.logger)
            }
            #expect(collected.files == 1)
            #expect(!FileManager.default.fileExists(atPath: path))
            #expect(try await query(town, "SELECT count(*)::int FROM stored_files WHERE sha256 = \(key)", as: Int.self) == [0])

            // Again: nothing changes. Another alert's file, or none: 404.
            let again = try await town.client.send(.delete, "/v1/alerts/\(id)/attachments/\(wrong)", token: town.staff)
            #expect(try again.status == .ok && (again.json()["withdrawnFiles"] as? [[String: Any]])?.count == 1)
            #expect(try await town.client.send(.delete, "/v1/alerts/\(id)/attachments/999999", token: town.staff).status == .notFound)
            #expect(try await town.client.send(.delete, "/v1/alerts/999999/attachments/\(map)", token: town.staff).status == .notFound)
            // Every file withdrawn: the page still shows the text without the links' block.
            #expect(try await town.client.send(.delete, "/v1/alerts/\(id)/attachments/\(map)", token: town.staff).status == .ok)
            let bare = try await town.client.send(.get, "/a/\(token)")
            #expect(bare.text.contains("北地区に避難指示を発令しました。") && !bare.text.contains("【添付ファイル】") && !bare.text.contains("/files/"))

            // A scheduled alert has not gone out: it is cancelled and sent again instead.
            let later = try await upload(AttachmentFixtures.pngWithText, "訓練.png")
            let scheduled = try await sendAlert(town, category: "disaster", subject: "防災訓練", body: "日曜に訓練を行います。",
                                                sendAt: town.clock.now().addingTimeInterval(3600), attachments: [later])
            let scheduledID = try #require(try scheduled.json()["id"] as? Int)
            let early = try await town.client.send(.delete, "/v1/alerts/\(scheduledID)/attachments/\(later)", token: town.staff)
            #expect(try early.status == .conflict && early.errorCode() == "alert_not_sent")
            #expect(try await query(town, "SELECT count(*)::int FROM attachments WHERE id = \(later)", as: Int.self) == [1])
        }
        await server.stop()
    }

    /// A push's payload is at most 3,000 bytes: the alert's text is cut by characters and by
    /// bytes, never inside a character.
    @Test func anAlertsPushTextFitsThePayload() {
        let short = AlertPush(id: 1, subject: "【防災】避難指示", text: "北地区に\n避難指示", token: "t", urgent: true)
        #expect(short.body == "北地区に 避難指示" && short.title == "【防災】避難指示")
        let family = String(repeating: "👨‍👩‍👧‍👦", count: 200)
        let long = AlertPush(id: 1, subject: String(repeating: "👨‍👩‍👧‍👦", count: 100), text: family, token: "t", urgent: true)
        #expect(long.body.utf8.count <= AlertPush.bodyBytes && long.body.hasSuffix("…") && long.body.dropLast().allSatisfy { $0 == "👨‍👩‍👧‍👦" })
        #expect(long.title.utf8.count <= AlertPush.titleBytes)
        #expect(long.json.utf8.count <= 3000)
        let kana = AlertPush(id: 1, subject: "s", text: String(repeating: "あ", count: 300), token: "t", urgent: false)
        #expect(kana.body.count == AlertPush.bodyCharacters)
    }

    @Test func anAlertWithTooManyOrSomeoneElsesFilesIsNotSent() async throws {
        try await withTown { town in
            try await subscribe(town, "all@example.jp")
            var mine: [Int] = []
            for n in 0..<4 {
                let response = try await AttachmentTests.upload(town.client, AttachmentFixtures.pdf, name: "\(n).pdf", token: town.staff)
                mine.append(try #require(response.json()["id"] as? Int))
            }
            let tooMany = try await sendAlert(town, category: "crime", attachments: mine)
            #expect(try tooMany.status == .unprocessableContent && tooMany.errorCode() == "too_many_attachments", "\(tooMany.text)")
            let theirs = try #require(try await AttachmentTests.upload(town.client, AttachmentFixtures.pdf, name: "x.pdf", token: town.resident).json()["id"] as? Int)
            let notMine = try await sendAlert(town, category: "crime", attachments: [mine[0], theirs])
            #expect(try notMine.status == .unprocessableContent && notMine.errorCode() == "unknown_attachment", "\(notMine.text)")
            // Nothing was queued, and the uploads still wait to be attached.
            #expect(try await query(town, "SELECT count(*)::int FROM deliveries", as: Int.self) == [0])
            #expect(try await query(town, "SELECT count(*)::int FROM attachments WHERE attached_at IS NULL", as: Int.self) == [5])
            #expect(try await sendAlert(town, category: "crime", attachments: Array(mine.prefix(3))).status == .created)
        }
    }
}
