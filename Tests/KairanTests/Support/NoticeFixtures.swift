import Foundation
import Hummingbird
import HummingbirdTesting
import KairanCore
import KairanDelivery
import KairanStore
import PostgresNIO
import Testing

@testable import KairanServer

/// A town with schools, served live (real WebSocket clients) without background workers:
/// the test runs the notice scheduler and the mail worker itself, on its own clock.
struct NoticeTown {
    let client: any TestClientProtocol
    let url: DatabaseURL
    let clock: TestClock
    let townAdmin: String

    struct School {
        let id: Int
        let admin: Resident
        let teacher: Resident
        /// "1-1", "1-2" (grade 1) and "2-1" (grade 2); the teacher teaches 1-1.
        let classes: [String: Int]
    }

    /// Monday 2026-11-23 10:00 in Japan.
    static let schoolMorning = Date(timeIntervalSince1970: 1_795_395_600)

    static func with(
        start: Date = schoolMorning, _ body: @escaping @Sendable (NoticeTown) async throws -> Void
    ) async throws {
        let clock = TestClock(start)
        try await withLiveApp(clock: clock, configure: { $0.role = .api }) { client, url in
            let townAdmin = try await client.registerAndLogin(email: "soumu@town.example.jp")
            try await grantRole("town_admin", to: "soumu@town.example.jp", in: url)
            try await body(NoticeTown(client: client, url: url, clock: clock, townAdmin: townAdmin))
        }
    }

    func school(_ name: String, prefix: String, settings: [String: Any] = [:]) async throws -> School {
        let admin = try await client.resident("\(prefix)-kocho@school.example.jp", name: "\(prefix) 校長")
        let teacher = try await client.resident("\(prefix)-tannin@school.example.jp", name: "\(prefix) 担任")
        let created = try await client.send(.post, "/v1/organizations", json: jsonObject(["kind": "school", "name": name, "adminAccountId": admin.id]), token: townAdmin)
        try #require(created.status == .created, "\(created.text)")
        let id = try #require(created.json()["id"] as? Int)
        let staff = try await client.send(.put, "/v1/organizations/\(id)/staff/\(teacher.id)", json: jsonObject(["role": "staff"]), token: admin.token)
        try #require(staff.status == .noContent, "\(staff.text)")
        if !settings.isEmpty {
            let updated = try await client.send(.patch, "/v1/organizations/\(id)", json: jsonObject(settings), token: admin.token)
            try #require(updated.status == .ok, "\(updated.text)")
        }
        var classes: [String: Int] = [:]
        for (name, grade) in [("1-1", 1), ("1-2", 1), ("2-1", 2)] {
            let response = try await client.send(.post, "/v1/organizations/\(id)/classes", json: jsonObject(["name": name, "grade": grade]), token: admin.token)
            try #require(response.status == .created, "\(response.text)")
            classes[name] = try #require(response.json()["id"] as? Int)
        }
        let teaches = try await client.send(.put, "/v1/organizations/\(id)/classes/\(classes["1-1"]!)/teachers/\(teacher.id)", token: admin.token)
        try #require(teaches.status == .noContent, "\(teaches.text)")
        return School(id: id, admin: admin, teacher: teacher, classes: classes)
    }

    func enrol(_ school: School, _ name: String, in className: String, siblingOf: Int? = nil) async throws -> Int {
        var body: [String: Any] = ["name": name, "classId": school.classes[className]!]
        if let siblingOf { body["siblingOf"] = siblingOf }
        let response = try await client.send(.post, "/v1/organizations/\(school.id)/children", json: jsonObject(body), token: school.teacher.token)
        try #require(response.status == .created, "\(response.text)")
        return try #require(response.json()["id"] as? Int)
    }

    /// The guardian's account links itself to the child with a code from the school.
    func link(_ guardian: Resident, to child: Int, at school: School) async throws {
        let code = try await client.send(.post, "/v1/organizations/\(school.id)/children/\(child)/link-codes", token: school.teacher.token)
        try #require(code.status == .created, "\(code.text)")
        let linked = try await client.send(.post, "/v1/me/children", json: jsonObject(["code": try #require(code.json()["code"] as? String)]), token: guardian.token)
        try #require(linked.status == .created, "\(linked.text)")
    }

    /// A guardian without an app account, registered by staff with a mail address.
    func mailGuardian(_ school: School, child: Int, name: String, email: String, phone: String? = nil) async throws {
        var body: [String: Any] = ["name": name, "email": email]
        if let phone { body["phone"] = phone }
        let response = try await client.send(.post, "/v1/organizations/\(school.id)/children/\(child)/guardians", json: jsonObject(body), token: school.teacher.token)
        try #require(response.status == .created, "\(response.text)")
    }

    func post(_ school: School, by token: String, _ body: [String: Any]) async throws -> TestResponse {
        var json = body
        if json["body"] == nil { json["body"] = "明日の持ち物: 体操服、水筒" }
        if json["targets"] == nil { json["targets"] = ["all": true] }
        return try await client.send(.post, "/v1/organizations/\(school.id)/notices", json: jsonObject(json), token: token)
    }

    /// Runs the scheduler once at the clock's time.
    @discardableResult
    func tick() async throws -> (published: Int, escalated: Int) {
        try await TestDatabase.withClient(url) { database in
            await NoticeScheduler(database: database, clock: clock, logger: TestDatabase.logger).tick()
        }
    }

    /// Sends every due mail to `server` and returns how many went.
    func deliver(to server: ScriptedSMTPServer) async throws -> Int {
        try await TestDatabase.withClient(url) { database in
            let harness = try DeliveryHarness(database: database, clock: clock, relay: DeliveryHarness.relay(server))
            let count = await harness.worker.drain()
            await harness.transport.shutdown()
            return count
        }
    }

    func query<T: PostgresDecodable & Sendable>(_ sql: PostgresQuery, as type: T.Type) async throws -> [T] {
        try await url.withSingleConnection(logger: TestDatabase.logger) { db in
            var values: [T] = []
            for try await value in try await db.query(sql).decode(T.self) { values.append(value) }
            return values
        }
    }

    /// A live stream client subscribed to `streams`.
    func stream(_ token: String, _ streams: [String]) async throws -> StreamClient {
        let port = try #require(client.port)
        let stream = StreamClient.open(port: port, token: token)
        for name in streams {
            stream.subscribe(name)
            let answer = try await stream.waitForSubscribed(name)
            try #require(answer["type"] as? String == "subscribed", "subscribe \(name): \(answer)")
        }
        return stream
    }
}

extension ScriptedSMTPServer {
    /// The notice link in the mail to `address` (the guardian's confirm/answer page).
    func noticeLink(to address: String) -> String? {
        for transaction in transactions.reversed() where transaction.recipients.contains(where: { $0.contains(address) }) {
            guard let range = transaction.data.range(of: #"/n/[0-9a-f]{64}"#, options: .regularExpression) else { continue }
            return String(transaction.data[range])
        }
        return nil
    }
}
