import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import KairanCore
import KairanDelivery
import KairanStore
import Testing

@testable import KairanServer

/// Web Push end to end: a guardian's devices subscribe over the API, a school publishes,
/// the push worker sends to a real push service on loopback that checks the VAPID claim
/// and decrypts each push as the phone would.
@Suite struct WebPushTests {
    /// Runs the push worker once on the town's clock, against `service`.
    static func pushPass(_ town: NoticeTown) async throws -> Int {
        try await TestDatabase.withClient(town.url) { database in
            let worker = PushDeliveryWorker(
                database: database, listenURL: nil, contact: "mailto:bousai@town.example.jp", settings: PushSettings(allowLoopbackHTTP: true),
                configuration: PushDeliveryConfiguration(workerID: "push-test"), clock: town.clock, logger: TestDatabase.logger)
            let handled = await worker.drain()
            await worker.shutdown()
            return handled
        }
    }

    static func register(_ device: ScriptedPushService.Device, for resident: Resident, label: String? = nil, in town: NoticeTown) async throws -> Int {
        var body = device.subscriptionJSON
        if let label { body["label"] = label }
        let response = try await town.client.send(.post, "/v1/me/push-devices", json: jsonObject(body), token: resident.token)
        try #require(response.status == .created, "\(response.text)")
        return try #require(response.json()["id"] as? Int)
    }

    /// The resident's devices as `GET /v1/me/push-devices` lists them.
    static func devices(of resident: Resident, in town: NoticeTown) async throws -> [[String: Any]] {
        let response = try await town.client.send(.get, "/v1/me/push-devices", token: resident.token)
        try #require(response.status == .ok, "\(response.text)")
        return try #require(response.json()["items"] as? [[String: Any]])
    }

    @Test func anUrgentNoticeReachesEveryDeviceOfTheGuardianWithTheAppClosed() async throws {
        let service = try await ScriptedPushService.start()
        defer { Task { await service.stop() } }
        try await NoticeTown.with { town in
            let school = try await town.school("北小学校", prefix: "north")
            let mother = try await town.client.resident("mother@example.jp")
            let neighbour = try await town.client.resident("neighbour@example.jp")
            try await town.link(mother, to: try await town.enrol(school, "山田 太郎", in: "1-1"), at: school)
            let phone = service.device("mother-phone"), tablet = service.device("mother-tablet"), other = service.device("neighbour-phone")
            _ = try await Self.register(phone, for: mother, label: "母のiPhone", in: town)
            _ = try await Self.register(tablet, for: mother, in: town)
            _ = try await Self.register(other, for: neighbour, in: town)
            let devices = try await Self.devices(of: mother, in: town)
            #expect(devices.count == 2)
            #expect(devices.first?["label"] as? String == "母のiPhone")
            #expect(devices.first?["service"] as? String == "127.0.0.1", "the endpoint itself is not shown back")
            #expect(devices.first?["endpoint"] == nil)

            let posted = try await town.post(school, by: school.teacher.token, ["title": "不審者情報", "urgent": true]).json()
            let noticeID = try #require(posted["id"] as? Int)
            #expect(try await Self.pushPass(town) == 2)
            #expect(try await Self.pushPass(town) == 0, "nothing is pushed twice")

            let publicKey = try #require(try await town.client.send(.get, "/v1/push/key").json()["publicKey"] as? String)
            for device in ["mother-phone", "mother-tablet"] {
                let pushes = service.pushes(to: device)
                #expect(pushes.count == 1, "\(device)")
                let push = try #require(pushes.first)
                #expect(push.vapidValid, "signed for this service's origin, short-lived, with a contact")
                #expect(push.vapidKey == publicKey, "signed with the key the browser subscribed with")
                #expect(push.urgency == "high")
                #expect(push.ttl == "86400")
                #expect(push.topic == "notice\(noticeID)")
                let payload = try #require(push.json, "decrypted as the phone would")
                #expect(payload["title"] as? String == "【緊急】不審者情報")
                #expect(payload["body"] as? String == "北小学校からのお知らせ")
                #expect(payload["url"] as? String == "/notices/\(noticeID)")
                #expect(payload["urgent"] as? Bool == true)
                #expect(push.payload?.contains("明日の持ち物") == false, "the notice's text stays on the server")
            }
            #expect(service.pushes(to: "neighbour-phone").isEmpty, "a resident who is not a guardian of the class gets nothing")
        }
    }

    /// Residents with the app choose the town's alerts as a mail subscriber would (categories,
    /// areas); each alert is pushed to the devices of those it matches, opens its public page,
    /// and a cancelled scheduled alert pushes nothing.
    @Test func townAlertsReachTheDevicesOfResidentsWhoChoseThem() async throws {
        let service = try await ScriptedPushService.start()
        defer { Task { await service.stop() } }
        try await NoticeTown.with { town in
            let staff = try await town.client.resident("bousai@town.example.jp")
            try await grantRole("alert_sender", to: "bousai@town.example.jp", in: town.url)
            for (code, name) in [("kita", "北地区"), ("minami", "南地区")] {
                let area = try await town.client.send(.put, "/v1/alert-areas/\(code)", json: jsonObject(["name": name]), token: town.townAdmin)
                try #require(area.status == .ok, "\(area.text)")
            }
            let north = try await town.client.resident("kita@example.jp"), south = try await town.client.resident("minami@example.jp")
            let quiet = try await town.client.resident("quiet@example.jp")
            for (resident, device) in [(north, "north-phone"), (south, "south-phone"), (quiet, "quiet-phone")] {
                _ = try await Self.register(service.device(device), for: resident, in: town)
            }
            func choose(_ resident: Resident, _ choices: [String: Any]) async throws -> TestResponse {
                try await town.client.send(.put, "/v1/me/alert-push", json: jsonObject(choices), token: resident.token)
            }
            let northChoice = try await choose(north, ["enabled": true, "categories": ["crime"], "areas": ["kita"]])
            #expect(northChoice.status == .ok, "\(northChoice.text)")
            #expect(try northChoice.json()["categories"] as? [String] == ["crime"] && northChoice.json()["areas"] as? [String] == ["kita"])
            #expect(try await choose(south, ["enabled": true, "areas": ["minami"]]).status == .ok)
            #expect(try await town.client.send(.get, "/v1/me/alert-push", token: quiet.token).json()["enabled"] as? Bool == false)
            let unknown = try await choose(quiet, ["enabled": true, "areas": ["nowhere"]])
            #expect(try unknown.status == .unprocessableContent && unknown.errorCode() == "unknown_area")
            let long = try await choose(quiet, ["enabled": false, "areas": [String(repeating: "a", count: 33)]])
            #expect(try long.status == .unprocessableContent && long.errorCode() == "too_long", "refused even when turning it off")

            func send(_ body: [String: Any]) async throws -> [String: Any] {
                let response = try await town.client.send(.post, "/v1/alerts", json: jsonObject(body), token: staff.token)
                try #require(response.status == .created, "\(response.text)")
                return try response.json()
            }
            // A crime alert for 北地区: the resident who chose crime in 北地区, nobody else.
            let text = "本日16時ごろ、北小学校付近で不審者が目撃されました。\n下校時は複数で帰るようにしてください。"
            let crime = try await send(["category": "crime", "areas": ["kita"], "urgent": true, "subject": "不審者情報", "body": text])
            #expect(crime["pushDevices"] as? Int == 1)
            #expect(try await Self.pushPass(town) == 1)
            let push = try #require(service.pushes(to: "north-phone").first)
            #expect(push.urgency == "high" && push.ttl == "21600" && push.topic == "alert\(crime["id"] as? Int ?? 0)")
            let payload = try #require(push.json, "decrypted as the phone would")
            #expect(payload["title"] as? String == "【防犯】不審者情報")
            #expect(payload["body"] as? String == "本日16時ごろ、北小学校付近で不審者が目撃されました。 下校時は複数で帰るようにしてください。")
            let page = try #require(crime["page"] as? String)
            #expect(payload["url"] as? String == page && payload["urgent"] as? Bool == true)
            #expect(service.pushes(to: "south-phone").isEmpty && service.pushes(to: "quiet-phone").isEmpty)
            #expect(try await town.client.send(.get, "/v1/alerts/\(crime["id"] as? Int ?? 0)", token: staff.token).json()["pushSent"] as? Int == 1)

            // The page the push opens: no account needed, the text in full.
            let opened = try await town.client.send(.get, page)
            #expect(opened.status == .ok && opened.text.contains("不審者情報") && opened.text.contains("下校時は複数で帰るようにしてください。"),
                    "\(opened.text)")
            #expect(try await town.client.send(.get, "/a/\(String(repeating: "x", count: 32))").status == .notFound)

            // 防災 is mandatory: both who asked for alerts get a whole-town one, whatever they chose.
            _ = try await send(["category": "disaster", "urgent": false, "subject": "避難所開設", "body": "中央公民館を避難所として開設しました。"])
            #expect(try await Self.pushPass(town) == 2)
            #expect(service.pushes(to: "south-phone").first?.urgency == "normal")
            #expect(service.pushes(to: "north-phone").count == 2 && service.pushes(to: "quiet-phone").isEmpty)

            // A scheduled alert: pushed at its time, or never once cancelled; its page is not out before.
            let later = try await send(["category": "disaster", "urgent": true, "subject": "訓練", "body": "訓練です。",
                                        "sendAt": town.clock.now().addingTimeInterval(3600).formatted(.iso8601)])
            #expect(try await Self.pushPass(town) == 0)
            #expect(try await town.client.send(.get, try #require(later["page"] as? String)).status == .notFound)
            #expect(try await town.client.send(.post, "/v1/alerts/\(later["id"] as? Int ?? 0)/cancel", token: staff.token).status == .ok)
            town.clock.advance(by: 3601)
            #expect(try await Self.pushPass(town) == 0)
            #expect(service.pushes(to: "north-phone").count == 2)

            // Turned off: a scheduled alert already queued for the device stays silent, and nothing more comes.
            _ = try await send(["category": "disaster", "urgent": true, "subject": "断水", "body": "明朝、断水します。",
                                "sendAt": town.clock.now().addingTimeInterval(3600).formatted(.iso8601)])
            #expect(try await choose(north, ["enabled": false]).json()["enabled"] as? Bool == false)
            town.clock.advance(by: 3601)
            #expect(try await Self.pushPass(town) == 1, "the scheduled one, to the south only")
            _ = try await send(["category": "disaster", "urgent": true, "subject": "土砂災害警戒", "body": "警戒してください。"])
            #expect(try await Self.pushPass(town) == 1)
            #expect(service.pushes(to: "north-phone").count == 2 && service.pushes(to: "south-phone").count == 3)
        }
    }

    @Test func aDeviceThePushServiceCallsGoneIsRemovedAndABusyServiceIsAskedAgainLater() async throws {
        let service = try await ScriptedPushService.start()
        defer { Task { await service.stop() } }
        try await NoticeTown.with { town in
            let school = try await town.school("北小学校", prefix: "north")
            let father = try await town.client.resident("father@example.jp")
            try await town.link(father, to: try await town.enrol(school, "佐藤 花子", in: "1-1"), at: school)
            let oldPhone = service.device("old-phone"), newPhone = service.device("new-phone"), broken = service.device("broken")
            _ = try await Self.register(oldPhone, for: father, in: town)
            let newID = try await Self.register(newPhone, for: father, in: town)
            _ = try await Self.register(broken, for: father, in: town)
            let soldID = try await Self.register(service.device("sold-tablet"), for: father, in: town)
            service.script("old-phone", [(410, [])])
            service.script("new-phone", [(429, [("Retry-After", "120")])])
            service.script("broken", [(500, []), (503, [])])

            _ = try await town.post(school, by: school.teacher.token, ["title": "運動会の延期"])
            // A device removed after the notice was queued for it and before it went.
            #expect(try await town.client.send(.delete, "/v1/me/push-devices/\(soldID)", token: father.token).status == .noContent)
            #expect(try await Self.pushPass(town) == 3)
            #expect(service.pushes(to: "sold-tablet").isEmpty, "nothing goes to a device its owner removed")
            let devices = try await Self.devices(of: father, in: town)
            #expect(devices.compactMap { $0["id"] as? Int }.contains(newID))
            #expect(devices.count == 2, "the unsubscribed phone (410) is forgotten")
            #expect(service.pushes(to: "new-phone").first?.urgency == "normal")

            // Not before the push service said.
            town.clock.advance(by: 100)
            _ = try await Self.pushPass(town)
            #expect(service.pushes(to: "new-phone").count == 1)
            town.clock.advance(by: 21)
            _ = try await Self.pushPass(town)
            #expect(service.pushes(to: "new-phone").count == 2)
            #expect(service.pushes(to: "new-phone").last?.status == 201)
            // Server errors: retried with backoff until the service takes it.
            for _ in 0..<4 {
                town.clock.advance(by: 300)
                _ = try await Self.pushPass(town)
            }
            #expect(service.pushes(to: "broken").map(\.status) == [500, 503, 201])
            #expect(service.pushes(to: "old-phone").count == 1, "nothing more goes to a gone device")
            let states = try await town.query("SELECT state FROM push_deliveries ORDER BY id", as: String.self)
            #expect(states.sorted() == ["cancelled", "gone", "sent", "sent"])
        }
    }

    @Test func devicesAreCheckedBeforeTheyAreKeptAndOnlyTheirOwnerRemovesThem() async throws {
        let service = try await ScriptedPushService.start()
        defer { Task { await service.stop() } }
        try await NoticeTown.with { town in
            let mother = try await town.client.resident("mother@example.jp")
            let stranger = try await town.client.resident("stranger@example.jp")
            let device = service.device("phone")
            func attempt(_ body: [String: Any], token: String? = nil) async throws -> (Int, String?) {
                let response = try await town.client.send(.post, "/v1/me/push-devices", json: jsonObject(body), token: token ?? mother.token)
                return (Int(response.status.code), try? response.errorCode())
            }
            let keys: [String: Any] = ["p256dh": device.p256dh, "auth": device.auth]
            #expect(try await attempt(["endpoint": "http://push.example.com/x", "keys": keys]) == (422, "invalid_endpoint"), "https only")
            #expect(try await attempt(["endpoint": "https://10.1.2.3/push/x", "keys": keys]) == (422, "invalid_endpoint"), "not the town's network")
            #expect(try await attempt(["endpoint": "https://[::ffff:192.168.0.1]/x", "keys": keys]) == (422, "invalid_endpoint"))
            #expect(try await attempt(["endpoint": "https://user:pw@push.example.com/x", "keys": keys]) == (422, "invalid_endpoint"))
            #expect(try await attempt(["endpoint": "https://push.example.com/" + String(repeating: "a", count: 2100), "keys": keys]) == (422, "invalid_endpoint"))
            #expect(try await attempt(["endpoint": device.endpoint, "keys": ["p256dh": String(device.p256dh.dropLast(4)), "auth": device.auth]]) == (422, "invalid_push_key"))
            #expect(try await attempt(["endpoint": device.endpoint, "keys": ["p256dh": "B" + String(repeating: "A", count: 86), "auth": device.auth]]) == (422, "invalid_push_key"),
                    "65 bytes that are not a point on the curve")
            #expect(try await attempt(["endpoint": device.endpoint, "keys": ["p256dh": device.p256dh, "auth": "AAAA"]]) == (422, "invalid_push_key"))
            #expect(try await town.client.send(.post, "/v1/me/push-devices", json: jsonObject(device.subscriptionJSON)).status == .unauthorized)

            // Ten devices at most: the eleventh replaces the one longest silent.
            var ids: [Int] = []
            let phones = (0..<11).map { service.device("d\($0)") }
            for phone in phones { ids.append(try await Self.register(phone, for: mother, in: town)) }
            let kept = try await Self.devices(of: mother, in: town)
            #expect(kept.count == 10)
            #expect(!kept.compactMap { $0["id"] as? Int }.contains(ids[0]))

            // Knowing a device's endpoint is not enough to take it over: the keys must be the
            // device's own.
            let impostor = service.device("d5")
            let taken = try await town.client.send(.post, "/v1/me/push-devices", json: jsonObject(impostor.subscriptionJSON), token: stranger.token)
            #expect(taken.status == .conflict)
            #expect(try taken.errorCode() == "push_endpoint_taken")
            // The same browser registering again (a new login, same subscription) is one
            // device, now the stranger's.
            let moved = try await Self.register(phones[5], for: stranger, in: town)
            #expect(moved == ids[5])
            #expect(try await town.client.send(.delete, "/v1/me/push-devices/\(ids[6])", token: stranger.token).status == .notFound)
            #expect(try await town.client.send(.delete, "/v1/me/push-devices/\(ids[6])", token: mother.token).status == .noContent)
            #expect(try await town.client.send(.delete, "/v1/me/push-devices/\(ids[6])", token: mother.token).status == .notFound)
            #expect(try await Self.devices(of: mother, in: town).count == 8)
        }
    }

    @Test func aGuardianTurnsPushOnForThisBrowserOnMyPageAndOffAgain() async throws {
        let service = try await ScriptedPushService.start()
        defer { Task { await service.stop() } }
        try await NoticeTown.with { town in
            let school = try await town.school("北小学校", prefix: "north")
            let mother = try await town.client.resident("mother@example.jp")
            try await town.link(mother, to: try await town.enrol(school, "山田 太郎", in: "1-1"), at: school)
            var browser = WebPagesTests.Browser()
            _ = try await browser.get("/login", town.client)
            let login = try await browser.post("/login", [("email", "mother@example.jp"), ("password", "correct horse battery"), ("next", "/me")], town.client)
            try #require(login.status == .seeOther)
            let me = try await browser.get("/me", town.client)
            let key = try #require(try await town.client.send(.get, "/v1/push/key").json()["publicKey"] as? String)
            #expect(me.text.contains("この端末で通知を受け取る"))
            #expect(me.text.contains(#"data-push-key="\#(key)""#), "the page gives the script the key to subscribe with")

            let worker = try await town.client.execute(uri: "/sw.js", method: .get, headers: [:], body: nil)
            #expect(worker.status == .ok)
            #expect(worker.headers[.contentType]?.hasPrefix("text/javascript") == true)
            #expect(worker.headers[.cacheControl] == "no-cache", "browsers must see a new service worker")
            #expect(worker.text.contains("showNotification") && worker.text.contains("notificationclick"))

            // What the script sends: the browser's subscription, with the page's form token.
            let device = service.device("browser")
            func register(token: String?, origin: String? = nil) async throws -> TestResponse {
                var headers: HTTPFields = [.contentType: "application/json", .cookie: browser.cookieHeader]
                if let token { headers[.init("X-CSRF-Token")!] = token }
                if let origin { headers[.origin] = origin }
                return try await town.client.execute(uri: "/push-devices", method: .post, headers: headers,
                                                     body: ByteBuffer(string: jsonObject(device.subscriptionJSON)))
            }
            #expect(try await register(token: nil).status == .forbidden)
            #expect(try await register(token: browser.token, origin: "https://evil.example").status == .forbidden)
            #expect(try await register(token: browser.token).status == .created)
            let listed = try await browser.get("/me", town.client)
            #expect(listed.text.contains("127.0.0.1 経由の端末"))

            _ = try await town.post(school, by: school.teacher.token, ["title": "不審者情報", "urgent": true])
            #expect(try await Self.pushPass(town) == 1)
            #expect(service.pushes(to: "browser").first?.json?["title"] as? String == "【緊急】不審者情報")

            let id = try await Self.devices(of: mother, in: town).first?["id"] as? Int
            let stopped = try await browser.post("/me/push-devices/\(try #require(id))/delete", [], town.client)
            #expect(stopped.status == .seeOther)
            #expect(try await browser.get("/me?m=push-removed", town.client).text.contains("その端末には通知を送らなくなりました。"))
            #expect(try await Self.devices(of: mother, in: town).isEmpty)
        }
    }

    @Test func inATownsDeploymentOnlyPublicHTTPSEndpointsAreAccepted() throws {
        let production = PushSettings()
        for accepted in ["https://fcm.googleapis.com/fcm/send/dXNlcg:APA91b", "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
                         "https://web.push.apple.com/QGuQyavXutnMH", "https://[2001:db8::1]/push"] {
            #expect(throws: Never.self, "\(accepted)") { _ = try PushEndpoint.check(accepted, settings: production) }
        }
        let refused: [(String, PushEndpoint.Problem)] = [
            ("http://fcm.googleapis.com/fcm/send/x", .notHTTPS), ("http://127.0.0.1:8080/push/x", .notHTTPS), ("https://127.0.0.1/x", .privateAddress),
            ("https://localhost/x", .privateAddress), ("https://[::1]/x", .privateAddress), ("https://192.168.1.20/x", .privateAddress),
            ("https://172.16.0.1/x", .privateAddress), ("https://169.254.169.254/latest/meta-data", .privateAddress),
            ("https://100.64.0.1/x", .privateAddress), ("https://[fd00::1]/x", .privateAddress), ("https://[fe80::1]/x", .privateAddress),
            ("https://[::ffff:127.0.0.1]/x", .privateAddress), ("https://0.0.0.0/x", .privateAddress),
            ("ftp://push.example.com/x", .notHTTPS), ("https:///x", .malformed), ("https://push.example.com/x#frag", .malformed),
            ("https://push.example.com/a b", .malformed),
        ]
        for (endpoint, problem) in refused {
            #expect(throws: problem, "\(endpoint)") { _ = try PushEndpoint.check(endpoint, settings: production) }
        }
        // The test suite's loopback service is allowed only by its own switch.
        #expect(throws: Never.self) { _ = try PushEndpoint.check("http://127.0.0.1:8080/push/x", settings: PushSettings(allowLoopbackHTTP: true)) }
        #expect(throws: PushEndpoint.Problem.notHTTPS) { _ = try PushEndpoint.check("http://push.example.com/x", settings: PushSettings(allowLoopbackHTTP: true)) }
    }
}
