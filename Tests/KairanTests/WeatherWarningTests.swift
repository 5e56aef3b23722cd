import Foundation
import Hummingbird
import HummingbirdTesting
import KairanCore
import KairanDelivery
import KairanServices
import KairanStore
import PostgresNIO
import Testing

@testable import KairanServer

/// Weather warnings (気象警報・注意報) from JMA's 防災情報XML: documents in JMA's published
/// format, served by a web server on loopback as JMA's is, turned into alerts that reach
/// subscribers' mail once per issuance, with the lifting (解除) as a follow-up.
@Suite struct WeatherWarningTests {
    /// 横須賀市 in Kanagawa (prefecture 14), the town of these tests; 鎌倉市 is its neighbour.
    static let town = (code: "1420100", name: "横須賀市")
    static let neighbour = (code: "1420400", name: "鎌倉市")

    typealias Kind = (code: String, name: String, status: String)

    /// A warning document in the shape of JMA's official VPWW54 sample (15_12_03_161130_VPWW54.xml
    /// of JMA's technical materials): the headline's summary by area and the prefecture-level
    /// block (neither of which Kairan must read as the town's), NextKinds inside each kind,
    /// and the municipality-level block with the town and its neighbour. `lastKind` puts a LastKind inside the first kind, as a
    /// step down from a warning does.
    static func document(title: String = "気象警報・注意報（Ｈ２７）", status: String = "通常", infoType: String = "発表", at report: String,
                         headline: String = "神奈川県では、高波に警戒してください。", kinds: [Kind], lastKind: Kind? = nil,
                         neighbourKinds: [Kind] = [("14", "雷注意報", "発表")]) -> String {
        func kindXML(_ kind: Kind, last: Kind? = nil) -> String {
            let lastXML = last.map { "<LastKind><Name>\($0.name)</Name><Code>\($0.code)</Code><Condition>\($0.status)</Condition></LastKind>" } ?? ""
            // As in JMA's official sample: what the kind may become, with names and codes of its own.
            let next = kind.code.isEmpty ? "" : """
                <NextKinds><NextKind><Name>波浪特別警報</Name><Code>37</Code><DateTime precision="PT3H" significant="yyyy-mm-ddThh">2026-11-24T03:00:00+09:00</DateTime>\
                <Sentence>２４日明け方までに波浪特別警報に切り替える可能性が高い</Sentence></NextKind></NextKinds>
                """
            return "<Kind><Name>\(kind.name)</Name><Code>\(kind.code)</Code><Status>\(kind.status)</Status>\(lastXML)\(next)</Kind>"
        }
        let ours = kinds.enumerated().map { kindXML($1, last: $0 == 0 ? lastKind : nil) }.joined()
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <Report xmlns="http://xml.kishou.go.jp/jmaxml1/" xmlns:jmx="http://xml.kishou.go.jp/jmaxml1/" xmlns:jmx_add="http://xml.kishou.go.jp/jmaxml1/addition1/">
            <Control><Title>\(title)</Title><DateTime>2026-11-23T01:00:00Z</DateTime><Status>\(status)</Status>
            <EditorialOffice>横浜地方気象台</EditorialOffice><PublishingOffice>横浜地方気象台</PublishingOffice></Control>
            <Head xmlns="http://xml.kishou.go.jp/jmaxml1/informationBasis1/"><Title>神奈川県気象警報・注意報</Title>
            <ReportDateTime>\(report)</ReportDateTime><TargetDateTime>\(report)</TargetDateTime>
            <EventID/><InfoType>\(infoType)</InfoType><Serial/><InfoKind>気象警報・注意報</InfoKind><InfoKindVersion>1.2_0</InfoKindVersion>
            <Headline><Text>\(headline)</Text>
            <Information type="気象警報・注意報（市町村等）"><Item><Kind><Name>大雨特別警報</Name><Code>33</Code></Kind>
            <Areas codeType="気象・地震・火山情報／市町村等"><Area><Name>\(town.name)</Name><Code>\(town.code)</Code></Area></Areas></Item></Information>
            </Headline></Head>
            <Body xmlns="http://xml.kishou.go.jp/jmaxml1/body/meteorology1/">
            <Warning type="気象警報・注意報（府県予報区等）"><Item>
            <Kind><Name>大雨特別警報</Name><Code>33</Code><Status>発表</Status></Kind>
            <Area><Name>神奈川県</Name><Code>140000</Code></Area></Item></Warning>
            <Warning type="気象警報・注意報（市町村等）">
            <Item>\(ours)<Area><Name>\(town.name)</Name><Code>\(town.code)</Code></Area><ChangeStatus>警報・注意報種別に変化有</ChangeStatus></Item>
            <Item>\(neighbourKinds.map { kindXML($0) }.joined())<Area><Name>\(neighbour.name)</Name><Code>\(neighbour.code)</Code></Area></Item>
            </Warning></Body></Report>
            """
    }

    static func feed(_ entries: [(title: String, path: String, updated: String)], server: ScriptedJMAServer) -> String {
        let items = entries.map { entry in
            """
            <entry><title>\(entry.title)</title><id>\(server.url(entry.path))</id><updated>\(entry.updated)</updated>
            <author><name>横浜地方気象台</name></author><link type="application/xml" href="\(server.url(entry.path))"/>
            <content type="text">【神奈川県気象警報・注意報】</content></entry>
            """
        }.joined(separator: "\n")
        return """
            <?xml version="1.0" encoding="utf-8"?>
            <feed xmlns="http://www.w3.org/2005/Atom" lang="ja"><title>高頻度（随時）</title><subtitle>JMAXML publishing feed</subtitle>
            <updated>2026-11-23T10:00:00+09:00</updated><id>urn:test:extra</id>
            \(items)
            </feed>
            """
    }

    static let feedPath = "/developer/xml/feed/extra.xml"
    static let longFeedPath = "/developer/xml/feed/extra_l.xml"
    static func dataPath(_ stamp: String, _ type: String, office: String = "140000") -> String {
        "/developer/xml/data/\(stamp)_0_\(type)_\(office).xml"
    }

    // MARK: - Reading and comparing

    @Test func aDocumentIsReadAtTheMunicipalityLevelOnly() throws {
        let xml = Self.document(at: "2026-11-23T10:00:00+09:00", kinds: [("10", "大雨注意報", "警報から注意報"), ("15", "強風注意報", "発表")],
                                lastKind: ("03", "大雨警報", "警報"))
        let document = try JMAXML.warningDocument(Data(xml.utf8))
        #expect(document.title == "気象警報・注意報（Ｈ２７）" && document.status == "通常" && document.infoType == "発表")
        #expect(document.reportTime == RFC3339.date("2026-11-23T01:00:00Z"))
        #expect(document.family == "h27")
        #expect(document.areas.map(\.code) == [Self.town.code, Self.neighbour.code], "the prefecture's block is not an area of the town")
        // The LastKind inside the first kind is not read as a kind of its own.
        #expect(document.areas[0].kinds == [WarningKind(code: "10", name: "大雨注意報", status: "警報から注意報", lastCode: "03"),
                                            WarningKind(code: "15", name: "強風注意報", status: "発表")])

        // What was in force (大雨警報) ended by stepping down; the new advisory is not an issuance.
        let change = WarningChange(previous: [("03", "大雨警報")], area: document.areas[0])
        #expect(change.issued.map(\.code) == ["15"])
        #expect(change.ended.map(\.code) == ["03"])
        #expect(change.inForce.map(\.code) == ["10", "15"])

        // Started while a warning was in force: taken in, not announced.
        let carriedOn = WarningChange(previous: nil, area: WarningArea(code: Self.town.code, name: Self.town.name,
                                                                      kinds: [WarningKind(code: "07", name: "波浪警報", status: "継続")]))
        #expect(carriedOn.issued.isEmpty && carriedOn.inForce.map(\.code) == ["07"])
        // Known, with nothing in force, and now carried on: its issuance was missed; told now.
        let caughtUp = WarningChange(previous: [], area: WarningArea(code: Self.town.code, name: Self.town.name,
                                                                     kinds: [WarningKind(code: "07", name: "波浪警報", status: "継続")]))
        #expect(caughtUp.issued.map(\.code) == ["07"])
        // A step up replaces the warning; it is not lifted.
        let steppedUp = try JMAXML.warningDocument(Data(Self.document(at: "2026-11-23T12:00:00+09:00", kinds: [("33", "大雨特別警報", "発表")],
                                                                        lastKind: ("03", "大雨警報", "警報")).utf8))
        #expect(steppedUp.areas[0].kinds.first?.lastCode == "03")
        let upgrade = WarningChange(previous: [("03", "大雨警報")], area: steppedUp.areas[0])
        #expect(upgrade.issued.map(\.code) == ["33"] && upgrade.ended.isEmpty)
        let words = try #require(WeatherWarningMessage(change: upgrade, areaName: Self.town.name, document: steppedUp,
                                                       policy: WeatherWarningPolicy(areas: [Self.town.code: []]), zone: TimeZone(identifier: "Asia/Tokyo")!))
        #expect(words.subject == "横須賀市に大雨特別警報が発表されました" && words.urgent && !words.body.contains("解除"))
        // Nothing in force.
        let none = WarningChange(previous: [("07", "波浪警報")], area: WarningArea(code: Self.town.code, name: Self.town.name,
                                                                                  kinds: [WarningKind(code: "", name: "", status: "発表警報・注意報はなし")]))
        #expect(none.inForce.isEmpty && none.ended.map(\.code) == ["07"])

        #expect(WarningDocument.family(ofTitle: "気象特別警報・警報・注意報") == "h27")
        #expect(WarningDocument.family(ofTitle: "気象警報・注意報（Ｒ０６）（大雨）") == "r06:大雨")
        #expect(WarningDocument.family(ofTitle: "気象警報・注意報（Ｒ０６）（集約通報）") == nil, "the nationwide digest is not read")
        #expect(WarningDocument.family(ofTitle: "府県天気予報") == nil)
        #expect(WarningLevel(name: "レベル４大雨危険警報") == .warning && WarningLevel(name: "大雨特別警報") == .emergency
                && WarningLevel(name: "雷注意報") == .advisory)
        #expect(throws: JMAXMLError.self) { try JMAXML.warningDocument(Data("<Report><Control>".utf8)) }
        #expect(try WeatherWarningPolicy.parseAreas("1420100, 1420400=kita+minami") == ["1420100": [], "1420400": ["kita", "minami"]])
        #expect(throws: ValidationError.self) { try WeatherWarningPolicy.parseAreas("14201") }
    }

    // MARK: - From the feed to residents' mail

    struct Setup {
        let client: any TestClientProtocol
        let url: DatabaseURL
        let clock: TestClock
        let staff: String
    }

    func withTown(_ body: @escaping @Sendable (Setup) async throws -> Void) async throws {
        let clock = TestClock(NoticeTown.schoolMorning)
        try await withApp(clock: clock, configure: { $0.role = .api }) { client, url in
            let staff = try await client.registerAndLogin(email: "bousai@town.example.jp")
            try await grantRole("alert_sender", to: "bousai@town.example.jp", in: url)
            for email in ["all@example.jp", "taro.yokosuka@docomo.ne.jp"] {
                let response = try await client.send(.post, "/v1/alert-subscribers", json: jsonObject(["email": email]), token: staff)
                try #require(response.status == .created, "\(response.text)")
            }
            try await body(Setup(client: client, url: url, clock: clock, staff: staff))
        }
    }

    /// Polls as `kairan serve --jma-areas 1420100` does, `workers` instances at once.
    static func poll(_ setup: Setup, _ server: ScriptedJMAServer, workers: Int = 1, advisories: WeatherWarningPolicy.Advisories = .normal,
                     approval: WeatherWarningPolicy.Approval = .off, alertAreas: [String] = [], category: String = "disaster")
        async throws -> [WeatherWarningWorker.Poll] {
        try await TestDatabase.withClient(setup.url) { database in
            let services = Services(database: database, clock: setup.clock, passwordHasher: PasswordHasher(testSuiteCost: 4), sessionLifetime: 3600,
                                    publicURL: "https://kairan.town.example.jp")
            let configuration = WeatherWarningConfiguration(policy: WeatherWarningPolicy(areas: [town.code: alertAreas], advisories: advisories, category: category,
                                                                                         approval: approval),
                                                            feedURL: server.url(feedPath), contact: "https://kairan.town.example.jp")
            let pollers = (0..<workers).map { _ in
                WeatherWarningWorker(warnings: services.weatherWarnings, configuration: configuration, clock: setup.clock, logger: TestDatabase.logger)
            }
            let polls = await withTaskGroup(of: WeatherWarningWorker.Poll.self) { group in
                for poller in pollers { group.addTask { await poller.tick() } }
                return await group.reduce(into: [WeatherWarningWorker.Poll]()) { $0.append($1) }
            }
            for poller in pollers { await poller.shutdown() }
            return polls
        }
    }

    static func alerts(_ setup: Setup) async throws -> [[String: Any]] {
        try await setup.client.send(.get, "/v1/alerts", token: setup.staff).items()
    }

    @Test func aWarningReachesSubscribersOnceAndItsLiftingFollows() async throws {
        let server = try await ScriptedJMAServer.start()
        let smtp = ScriptedSMTPServer()
        try await smtp.start()
        try await withTown { setup in
            // 10:00: 波浪警報 and 強風注意報 for the town, in the older system's two documents
            // and the 2026 system's 波浪 document; other prefectures' and other kinds of
            // documents in the same feed.
            let at10 = "2026-11-23T10:00:00+09:00"
            let issued: [Kind] = [("07", "波浪警報", "発表"), ("15", "強風注意報", "発表")]
            let vpww53 = Self.dataPath("20261123010000", "VPWW53"), vpww54 = Self.dataPath("20261123010000", "VPWW54")
            let vpww59 = Self.dataPath("20261123010000", "VPWW59")
            let osaka = Self.dataPath("20261123010000", "VPWW54", office: "270000")
            let forecast = Self.dataPath("20261123010000", "VPFD51")
            server.put(vpww53, Self.document(title: "気象特別警報・警報・注意報", at: at10, kinds: issued))
            server.put(vpww54, Self.document(at: at10, kinds: issued))
            server.put(vpww59, Self.document(title: "気象警報・注意報（Ｒ０６）（波浪）", at: at10, kinds: [("07", "波浪警報", "発表")]))
            server.put(osaka, Self.document(at: at10, kinds: issued))
            server.put(forecast, "<not-fetched/>")
            var entries: [(title: String, path: String, updated: String)] = [
                ("気象特別警報・警報・注意報", vpww53, "2026-11-23T01:00:10Z"), ("気象警報・注意報（Ｈ２７）", vpww54, "2026-11-23T01:00:11Z"),
                ("気象警報・注意報（Ｒ０６）（波浪）", vpww59, "2026-11-23T01:00:12Z"), ("気象警報・注意報（Ｈ２７）", osaka, "2026-11-23T01:00:13Z"),
                ("府県天気予報", forecast, "2026-11-23T01:00:14Z"),
            ]
            // A first start reads the long feed, so what was issued before it is not missed.
            server.put(Self.longFeedPath, Self.feed(entries, server: server))

            // Two instances poll at the same moment: one of them reads the feed.
            let first = try await Self.poll(setup, server, workers: 2)
            #expect(first.map(\.alerts).reduce(0, +) == 1, "\(first)")
            #expect(server.requests(for: Self.longFeedPath).count == 1)
            #expect(server.requests(for: Self.feedPath).isEmpty)
            for path in [vpww53, vpww54, vpww59] { #expect(server.requests(for: path).count == 1, "\(path) fetched once") }
            #expect(server.requests(for: osaka).isEmpty && server.requests(for: forecast).isEmpty, "other prefectures and kinds are not fetched")
            #expect(server.requests.allSatisfy { $0.userAgent?.hasPrefix("Kairan") == true })

            var alerts = try await Self.alerts(setup)
            #expect(alerts.count == 1)
            #expect(alerts.first?["subject"] as? String == "【防災】横須賀市に波浪警報・強風注意報が発表されました")
            #expect(alerts.first?["urgent"] as? Bool == true && alerts.first?["recipients"] as? Int == 2)
            let body = try #require(alerts.first?["body"] as? String)
            #expect(body.contains("気象庁は2026年11月23日 10時00分、横須賀市に次の警報・注意報を発表しました。"), "\(body)")
            #expect(body.contains("発表中: 波浪警報、強風注意報") && body.contains("神奈川県では、高波に警戒してください。"))
            #expect(!body.contains("鎌倉市") && !body.contains("雷注意報"), "the neighbour's advisory is not the town's")

            // The mail goes out, one per subscriber.
            try await TestDatabase.withClient(setup.url) { database in
                let harness = try DeliveryHarness(database: database, clock: setup.clock, relay: DeliveryHarness.relay(smtp))
                #expect(await harness.worker.drain() == 2)
                await harness.transport.shutdown()
            }
            #expect(Set(smtp.transactions.flatMap(\.recipients)) == ["RCPT TO:<all@example.jp>", "RCPT TO:<taro.yokosuka@docomo.ne.jp>"])

            // Within the minute, nobody polls again.
            server.clearRequests()
            _ = try await Self.poll(setup, server)
            #expect(server.requests.isEmpty)

            // 13:00: the advisory is lifted, the warning carries on. Caught up, the short feed.
            setup.clock.advance(by: 61)
            let at13 = Self.dataPath("20261123040000", "VPWW54")
            server.put(at13, Self.document(at: "2026-11-23T13:00:00+09:00", kinds: [("07", "波浪警報", "継続"), ("15", "強風注意報", "解除")]))
            entries.append(("気象警報・注意報（Ｈ２７）", at13, "2026-11-23T04:00:10Z"))
            server.put(Self.feedPath, Self.feed(entries, server: server))
            let second = try await Self.poll(setup, server)
            #expect(second.first?.alerts == 1 && second.first?.documents == 1, "\(second)")
            #expect(server.requests.map(\.path) == [Self.feedPath, at13], "documents already read are not fetched again")
            alerts = try await Self.alerts(setup)
            #expect(alerts.first?["subject"] as? String == "【防災】横須賀市の強風注意報が解除されました")
            #expect(alerts.first?["urgent"] as? Bool == false, "a lifting waits for a subscriber's receive window")
            #expect((alerts.first?["body"] as? String)?.contains("発表中: 波浪警報") == true)

            // An unchanged feed is a 304 to a conditional GET.
            server.clearRequests()
            setup.clock.advance(by: 61)
            let third = try await Self.poll(setup, server)
            #expect(third.first?.feedStatus == 304 && third.first?.documents == 0)
            #expect(server.requests(for: Self.feedPath).first?.ifModifiedSince != nil)

            // A drill (訓練) is never sent to residents.
            setup.clock.advance(by: 61)
            let drill = Self.dataPath("20261123050000", "VPWW53")
            server.put(drill, Self.document(title: "気象特別警報・警報・注意報", status: "訓練", at: "2026-11-23T14:00:00+09:00",
                                           kinds: [("33", "大雨特別警報", "発表"), ("07", "波浪警報", "継続")]))
            entries.append(("気象特別警報・警報・注意報", drill, "2026-11-23T05:00:10Z"))
            server.put(Self.feedPath, Self.feed(entries, server: server))
            #expect(try await Self.poll(setup, server).first?.alerts == 0)

            // 15:00: the warning is lifted, but its document cannot be fetched at first: the
            // poll backs off, then reads the feed in full again and sends it.
            setup.clock.advance(by: 61)
            let at15 = Self.dataPath("20261123060000", "VPWW54")
            server.put(at15, Self.document(at: "2026-11-23T15:00:00+09:00", kinds: [("", "", "発表警報・注意報はなし")]))
            entries.append(("気象警報・注意報（Ｈ２７）", at15, "2026-11-23T06:00:10Z"))
            server.put(Self.feedPath, Self.feed(entries, server: server))
            server.fail(at15, with: [503])
            #expect(try await Self.poll(setup, server).first?.alerts == 0)
            server.clearRequests()
            setup.clock.advance(by: 61)
            _ = try await Self.poll(setup, server)
            #expect(server.requests.isEmpty, "backing off after a failure")
            setup.clock.advance(by: 61)
            let retried = try await Self.poll(setup, server)
            #expect(retried.first?.alerts == 1, "\(retried)")
            #expect(server.requests(for: Self.feedPath).first?.ifModifiedSince == nil, "read in full after a failure")
            alerts = try await Self.alerts(setup)
            #expect(alerts.count == 3)
            #expect(alerts.first?["subject"] as? String == "【防災】横須賀市の波浪警報が解除されました")
            #expect((alerts.first?["body"] as? String)?.contains("現在、横須賀市に発表中の警報・注意報はありません。") == true)

            // 16:00 大雨警報 is issued, but its document is gone by the time it is fetched (404);
            // at 17:00 the next one carries it on, and the warning is told then. The 17:00
            // document is not held up behind the lost one.
            setup.clock.advance(by: 61)
            let lost = Self.dataPath("20261123070000", "VPWW54"), at17 = Self.dataPath("20261123080000", "VPWW54")
            server.put(at17, Self.document(at: "2026-11-23T17:00:00+09:00", kinds: [("03", "大雨警報", "継続")]))
            entries += [("気象警報・注意報（Ｈ２７）", lost, "2026-11-23T07:00:10Z"), ("気象警報・注意報（Ｈ２７）", at17, "2026-11-23T08:00:10Z")]
            server.put(Self.feedPath, Self.feed(entries, server: server))
            let caughtUp = try await Self.poll(setup, server)
            #expect(caughtUp.first?.alerts == 1, "\(caughtUp)")
            alerts = try await Self.alerts(setup)
            #expect(alerts.count == 4 && alerts.first?["subject"] as? String == "【防災】横須賀市に大雨警報が発表されました")
            #expect(alerts.first?["urgent"] as? Bool == true)
        }
        await smtp.stop()
        await server.stop()
    }

    @Test func withApprovalAnAdvisoryWaitsForAlertStaffWhoSendOrSetItAside() async throws {
        let server = try await ScriptedJMAServer.start()
        try await withTown { setup in
            let client = setup.client
            let resident = try await client.registerAndLogin(email: "resident@example.jp")
            // 10:00 雷注意報: under `--jma-approval advisories` it waits; 11:00 大雨警報 goes at once.
            let at10 = Self.dataPath("20261123010000", "VPWW54"), at11 = Self.dataPath("20261123020000", "VPWW54")
            let at12 = Self.dataPath("20261123030000", "VPWW54")
            server.put(at10, Self.document(at: "2026-11-23T10:00:00+09:00", kinds: [("14", "雷注意報", "発表")]))
            server.put(at11, Self.document(at: "2026-11-23T11:00:00+09:00", kinds: [("03", "大雨警報", "発表"), ("14", "雷注意報", "継続")]))
            server.put(at12, Self.document(at: "2026-11-23T12:00:00+09:00", kinds: [("15", "強風注意報", "発表"), ("03", "大雨警報", "継続"),
                                                                                   ("14", "雷注意報", "継続")]))
            server.put(Self.longFeedPath, Self.feed([("気象警報・注意報（Ｈ２７）", at10, "2026-11-23T01:00:10Z"),
                                                     ("気象警報・注意報（Ｈ２７）", at11, "2026-11-23T02:00:10Z"),
                                                     ("気象警報・注意報（Ｈ２７）", at12, "2026-11-23T03:00:10Z")], server: server))
            let poll = try await Self.poll(setup, server, approval: .advisories)
            #expect(poll.first?.alerts == 1 && poll.first?.pending == 2, "\(poll)")
            let sent = try await Self.alerts(setup)
            #expect(sent.map { $0["subject"] as? String } == ["【防災】横須賀市に大雨警報が発表されました"])

            // Alert staff are told, and see what waits; residents see nothing of it.
            let told = try await client.send(.get, "/v1/notifications", token: setup.staff).items().filter { $0["kind"] as? String == "weather.pending" }
            #expect(told.count == 2)
            #expect(try await client.send(.get, "/v1/weather-warnings/pending", token: resident).status == .forbidden)
            let waiting = try await client.send(.get, "/v1/weather-warnings/pending", token: setup.staff).items()
            #expect(waiting.map { $0["subject"] as? String } == ["横須賀市に強風注意報が発表されました", "横須賀市に雷注意報が発表されました"])
            #expect(waiting.allSatisfy { $0["status"] as? String == "pending" && $0["urgent"] as? Bool == false })
            let thunder = try #require(waiting.last?["id"] as? Int), wind = try #require(waiting.first?["id"] as? Int)
            #expect(try await client.send(.post, "/v1/weather-warnings/pending/\(thunder)/send", token: resident).status == .forbidden)

            // One is sent as prepared (once: a second press is refused), the other set aside.
            let sending = try await client.send(.post, "/v1/weather-warnings/pending/\(thunder)/send", token: setup.staff)
            #expect(sending.status == .created, "\(sending.text)")
            #expect(try sending.json()["subject"] as? String == "【防災】横須賀市に雷注意報が発表されました" && (try sending.json()["recipients"] as? Int) == 2)
            let again = try await client.send(.post, "/v1/weather-warnings/pending/\(thunder)/send", token: setup.staff)
            #expect(again.status == .conflict && (try? again.errorCode()) == "already_decided")
            #expect(try await Self.alerts(setup).count == 2)

            // On the web, the waiting one is on the alert list with its two buttons.
            var browser = WebPagesTests.Browser()
            _ = try await browser.get("/login", client)
            #expect(try await browser.post("/login", [("email", "bousai@town.example.jp"), ("password", "correct horse battery"), ("next", "/")], client).status == .seeOther)
            let list = try await browser.get("/alerts", client)
            #expect(list.text.contains("送信の判断を待つ気象警報のメール") && list.text.contains("横須賀市に強風注意報が発表されました"))
            #expect(list.text.contains("/alerts/weather/\(wind)/discard") && !list.text.contains("/alerts/weather/\(thunder)/send"))
            let discarded = try await browser.post("/alerts/weather/\(wind)/discard", [], client)
            #expect(discarded.status == .seeOther && discarded.headers[.location] == "/alerts?m=weather-discarded")
            let after = try await browser.get("/alerts?m=weather-discarded", client)
            #expect(after.text.contains("気象警報のメールを送らないことにしました") && !after.text.contains("送信の判断を待つ"))
            let me = try await browser.get("/me", client)
            #expect(me.text.contains("気象警報のメール「横須賀市に強風注意報が発表されました」が送信の判断を待っています"))
            let decided = try await client.send(.get, "/v1/weather-warnings/pending", token: setup.staff).items()
            #expect(decided.map { $0["status"] as? String } == ["discarded", "sent"])
            #expect(try await Self.alerts(setup).count == 2, "set aside, never sent")
        }
        await server.stop()
    }

    @Test func aMisconfiguredTownFetchesNothingAndMappedAreasNarrowTheAlert() async throws {
        let server = try await ScriptedJMAServer.start()
        try await withTown { setup in
            let admin = try await setup.client.registerAndLogin(email: "admin@town.example.jp")
            try await grantRole("town_admin", to: "admin@town.example.jp", in: setup.url)
            #expect(try await setup.client.send(.put, "/v1/alert-areas/kita", json: jsonObject(["name": "北地区"]), token: admin).status.code < 300)
            let at10 = Self.dataPath("20261123010000", "VPWW54"), at11 = Self.dataPath("20261123020000", "VPWW54")
            server.put(at10, Self.document(at: "2026-11-23T10:00:00+09:00", kinds: [("03", "大雨警報", "発表")]))
            server.put(at11, Self.document(at: "2026-11-23T11:00:00+09:00", kinds: [("03", "大雨警報", "継続"), ("15", "強風注意報", "発表")]))
            server.put(Self.longFeedPath, Self.feed([("気象警報・注意報（Ｈ２７）", at10, "2026-11-23T01:00:10Z")], server: server))

            // A category that does not exist: nothing is fetched, so no document is used up.
            let misconfigured = try await Self.poll(setup, server, category: "weather")
            #expect(misconfigured.first?.alerts == 0 && server.requests.isEmpty, "\(server.requests)")

            // Mapped to an alert area the town has: the alert goes to that area only.
            setup.clock.advance(by: 61)
            #expect(try await Self.poll(setup, server, alertAreas: ["kita"]).first?.alerts == 1)
            #expect(try await Self.alerts(setup).first?["areas"] as? [String] == ["kita"])
            #expect(server.requests(for: at10).count == 1)

            // Mapped to one it does not have: the whole town, rather than nobody.
            setup.clock.advance(by: 61)
            server.put(Self.feedPath, Self.feed([("気象警報・注意報（Ｈ２７）", at10, "2026-11-23T01:00:10Z"),
                                                 ("気象警報・注意報（Ｈ２７）", at11, "2026-11-23T02:00:10Z")], server: server))
            #expect(try await Self.poll(setup, server, alertAreas: ["minami"]).first?.alerts == 1)
            let alerts = try await Self.alerts(setup)
            #expect(alerts.first?["subject"] as? String == "【防災】横須賀市に強風注意報が発表されました")
            #expect(alerts.first?["areas"] as? [String] == [] && alerts.first?["recipients"] as? Int == 2)
        }
        await server.stop()
    }
}
