import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import KairanStore
import PostgresNIO
import Testing
import Yams

/// Every operation of `openapi.yaml` that names an object in its path, walked by people
/// with no business there — nobody signed in, a resident of the town, the administrator of
/// another school, the owner of another group — against one neighbourhood's objects (its
/// private group, thread, post and moderation case; a school with its class, child,
/// guardian, notice, list and absence; the town's alert, area and subscriber). Each must be
/// refused (401, 403 or 404) and leave the database exactly as it was. Operations added to
/// the spec are walked without anyone touching this test.
@Suite struct AuthorizationMatrixTests {
    /// What the walk found wrong: the operation, the caller, what happened.
    struct Finding: CustomStringConvertible {
        let operation: String
        let caller: String
        let problem: String
        var description: String { "\(operation) as \(caller): \(problem)" }
    }

    @Test(.timeLimit(.minutes(5)))
    func nobodyReachesAnotherTenantsObjects() async throws {
        try await NoticeTown.with(start: Date()) { town in
            let client = town.client
            // One neighbourhood: a private group by invitation, a member's post flagged.
            let owner = try await client.resident("owner@example.jp", name: "世話 役")
            let member = try await client.resident("member@example.jp", name: "会 員")
            let group = try await client.createGroup(by: owner, visibility: "private", joinPolicy: "invite")
            try await client.invite(member, to: group, by: owner)
            let (thread, _) = try await client.createThread(in: group, by: owner)
            let post = try await client.post("会員の投稿", in: thread, by: member)
            // A photo on a member's post in the private group.
            let photo = try await AttachmentTests.uploaded(client, AttachmentFixtures.jpegWithGPS, name: "会員の写真.jpg", by: member)
            try #require(try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "写真です", "attachmentIds": [photo]]),
                                               token: member.token).status == .created)
            // The group's event, with the member's answer.
            let start = Date().addingTimeInterval(3 * 86_400)
            let event = try #require(try await client.send(.post, "/v1/groups/\(group)/events", json: jsonObject([
                "title": "会員だけの集まり", "place": "集会所", "startsAt": start.formatted(.iso8601), "endsAt": start.addingTimeInterval(3600).formatted(.iso8601),
            ]), token: owner.token).json()["id"] as? Int)
            try #require(try await client.send(.put, "/v1/events/\(event)/answer", json: jsonObject(["answer": "going"]), token: member.token).status == .ok)
            let flagged = try await client.send(.post, "/v1/posts/\(post)/flags", json: jsonObject(["reason": "spam"]), token: owner.token)
            try #require(flagged.status == .created, "\(flagged.text)")
            let moderator = try await client.resident("moderator@town.example.jp", name: "町 モデレーター")
            try await grantRole("town_moderator", to: "moderator@town.example.jp", in: town.url)
            let item = try #require(try await client.send(.get, "/v1/moderation/items", token: moderator.token).items().first?["id"] as? Int)
            let word = try #require(try await client.send(.post, "/v1/moderation/watched-words", json: jsonObject(["pattern": "禁句", "action": "flag"]),
                                                          token: moderator.token).json()["id"] as? Int)
            let notification = try #require(try await client.send(.get, "/v1/notifications", token: member.token).items().first?["id"] as? Int,
                                            "the invitation notified the member")

            // One school: a class, a child with a guardian in the app, a notice, a list, an absence.
            let school = try await town.school("町立第一小学校", prefix: "ichi")
            let child = try await town.enrol(school, "児童 一", in: "1-1")
            let parent = try await client.resident("parent@example.jp", name: "保護 者")
            try await town.link(parent, to: child, at: school)
            let notice = try #require(try await town.post(school, by: school.teacher.token, ["title": "遠足", "urgent": true]).json()["id"] as? Int)
            let list = try #require(try await client.send(.post, "/v1/organizations/\(school.id)/lists", json: jsonObject(["name": "バス通学", "childIds": [child]]),
                                                          token: school.teacher.token).json()["id"] as? Int)
            let today = ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "Asia/Tokyo")!, formatOptions: [.withFullDate])
            let absence = try #require(try await client.send(.post, "/v1/me/children/\(child)/absences",
                                                             json: jsonObject(["kind": "absent", "day": today, "reason": "体調不良"]), token: parent.token).json()["id"] as? Int)

            // The parent's phone, registered for Web Push.
            let pushKey = P256.KeyAgreement.PrivateKey().publicKey.x963Representation.base64URLEncoded()
            let device = try #require(try await client.send(.post, "/v1/me/push-devices", json: jsonObject([
                "endpoint": "http://127.0.0.1:9/push/matrix", "keys": ["p256dh": pushKey, "auth": "AAAAAAAAAAAAAAAAAAAAAA"],
            ]), token: parent.token).json()["id"] as? Int)

            // The town's mail service: an area, a subscriber, an alert.
            try #require(try await client.send(.put, "/v1/alert-areas/chuo", json: jsonObject(["name": "中央地区"]), token: town.townAdmin).status.code < 300)
            let subscriber = try #require(try await client.send(.post, "/v1/alert-subscribers", json: jsonObject(["email": "sub@docomo.ne.jp"]),
                                                                token: town.townAdmin).json()["id"] as? Int)
            let alert = try #require(try await client.send(.post, "/v1/alerts", json: jsonObject(["category": "crime", "urgent": true, "subject": "不審者", "body": "注意"]),
                                                           token: town.townAdmin).json()["id"] as? Int)

            // A weather warning's alert waiting for alert staff (as `--jma-approval` leaves it).
            let pendingWarning = try await town.url.withSingleConnection(logger: TestDatabase.logger) { db in
                var id: Int64 = 0
                for try await value in try await db.query("""
                    INSERT INTO jma_pending_alerts (area_code, category, areas, urgent, subject, body, report_time, created_at)
                    VALUES ('1420100', 'disaster', '{}', false, '横須賀市に雷注意報が発表されました', '気象庁は…', now(), now()) RETURNING id
                    """).decode(Int64.self) { id = value }
                return id
            }

            // The callers with no business there.
            let resident = try await client.resident("resident@example.jp", name: "町 住民")
            let otherSchool = try await town.school("町立第二小学校", prefix: "ni")
            let otherOwner = try await client.resident("other-owner@example.jp", name: "別 世話役")
            _ = try await client.createGroup(by: otherOwner, name: "別の地区")
            let callers: [(String, String?)] = [
                ("nobody signed in", nil), ("a resident", resident.token), ("another school's administrator", otherSchool.admin.token),
                ("another group's owner", otherOwner.token),
            ]

            let values: [String: String] = [
                "groupID": "\(group)", "threadID": "\(thread)", "postID": "\(post)", "itemID": "\(item)", "wordID": "\(word)",
                "notificationID": "\(notification)", "accountID": "\(member.id)", "organizationID": "\(school.id)",
                "classID": "\(school.classes["1-1"]!)", "childID": "\(child)", "noticeID": "\(notice)", "listID": "\(list)",
                "absenceID": "\(absence)", "alertID": "\(alert)", "subscriberID": "\(subscriber)", "reaction": "thanks",
                "role": "town_moderator", "code": "chuo", "deviceID": "\(device)", "eventID": "\(event)", "pendingID": "\(pendingWarning)",
                "attachmentID": "\(photo)",
                // No appeal or suspension exists: their ids must not be guessable into one.
                "appealID": "1", "suspensionID": "1",
                // Secret links: a made-up token opens nothing.
                "token": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            ]
            let fingerprint = try await DatabaseFingerprint(url: town.url)
            // The walk can see what it looks for: the owner's own edit is a write, and the
            // owner's own read is answered.
            let beforeControl = try await fingerprint.take()
            #expect(try await client.send(.get, "/v1/groups/\(group)", token: owner.token).status == .ok)
            try await client.post("世話役の投稿", in: thread, by: owner)
            #expect(try await fingerprint.changes(since: beforeControl).contains("posts"), "the fingerprint sees a new post")

            var findings: [Finding] = []
            var walked = 0
            // The town's own business (its moderators', mail staff's and administrators'):
            // no path names an object, and none of these callers holds a town role.
            let townOnly = ["/v1/admin/", "/v1/alerts", "/v1/alert-subscribers", "/v1/moderation/", "/v1/mail/", "/v1/weather-warnings"]
            for operation in SpecOperations.all
            where operation.path.contains("{") || townOnly.contains(where: operation.path.hasPrefix) || operation.path == "/v1/organizations" && operation.method == "POST"
                || ["PUT", "PATCH", "DELETE", "POST"].contains(operation.method) && ["/v1/alert-areas", "/v1/alert-categories"].contains(where: operation.path.hasPrefix) {
                // `/v1/alert-categories/{code}` names a category, not an area.
                var values = values
                if operation.path.hasPrefix("/v1/alert-categories/") { values["code"] = "crime" }
                var path = operation.path
                for (name, value) in values { path = path.replacingOccurrences(of: "{\(name)}", with: value) }
                for (caller, token) in callers {
                    let before = try await fingerprint.take()
                    let body = operation.requestBody.map { SpecOperations.example(of: $0) }
                    let json = try body.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.fragmentsAllowed]), as: UTF8.self) }
                    let response: TestResponse
                    if let form = operation.formBody.flatMap({ SpecOperations.example(of: $0) as? [String: Any] }) {
                        let encoded = form.map { "\($0.key)=\("\($0.value)".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }
                            .joined(separator: "&")
                        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
                        if let token { headers[.authorization] = "Bearer \(token)" }
                        response = try await client.execute(uri: path, method: HTTPRequest.Method(operation.method)!, headers: headers,
                                                            body: ByteBuffer(string: encoded))
                    } else {
                        response = try await client.send(HTTPRequest.Method(operation.method)!, path + operation.queryString, json: json, token: token)
                    }
                    walked += 1
                    let status = Int(response.status.code)
                    let allowed: Set<Int> = token == nil ? [401, 404] : [403, 404]
                    // The secret-link pages answer anyone: a made-up token is 404 (HTML).
                    let isSecretLink = !operation.path.hasPrefix("/v1/")
                    // A group's owner moderates their own group: the queue answers, with none
                    // of the neighbourhood's cases in it.
                    let ownQueue = operation.method == "GET" && operation.path == "/v1/moderation/items" && token == otherOwner.token
                        && status == 200 && response.text.hasPrefix(#"{"items":[]"#)
                    if !ownQueue && !(isSecretLink ? [404].contains(status) : allowed.contains(status)) {
                        findings.append(Finding(operation: "\(operation.method) \(operation.path)", caller: caller, problem: "answered \(status): \(response.text.prefix(160))"))
                    }
                    let changed = try await fingerprint.changes(since: before)
                    if !changed.isEmpty {
                        findings.append(Finding(operation: "\(operation.method) \(operation.path)", caller: caller, problem: "wrote to \(changed.joined(separator: ", "))"))
                    }
                }
            }
            #expect(walked > 440, "walked \(walked) requests")
            let report = findings.map(\.description).joined(separator: "\n")
            #expect(findings.isEmpty, "\(findings.count) findings:\n\(report)")
            print("authorization matrix: \(walked) requests over \(walked / callers.count) operations, \(findings.count) findings")
        }
    }
}

/// The operations of `openapi.yaml`, with a minimal schema-valid body for each.
enum SpecOperations {
    struct Operation {
        let method: String
        let path: String
        let requestBody: [String: Any]?
        /// A body sent as an HTML form would (the secret-link pages).
        let formBody: [String: Any]?
        /// Required query parameters: name and schema.
        let query: [(String, [String: Any])]

        /// The required query parameters, each with its example value.
        var queryString: String {
            guard !query.isEmpty else { return "" }
            return "?" + query.map { name, schema in
                "\(name)=" + ("\(SpecOperations.example(of: schema))".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
            }.joined(separator: "&")
        }
    }

    nonisolated(unsafe) static let document: [String: Any] = SpecConformance.spec.document

    static var all: [Operation] {
        let paths = document["paths"] as? [String: Any] ?? [:]
        var operations: [Operation] = []
        for (path, item) in paths.sorted(by: { $0.key < $1.key }) {
            guard let item = item as? [String: Any] else { continue }
            for method in ["get", "post", "put", "patch", "delete"] {
                guard let operation = item[method] as? [String: Any] else { continue }
                let content = ((operation["requestBody"] as? [String: Any])?["content"] as? [String: Any])
                let schema = ((content?["application/json"] ?? content?["application/x-www-form-urlencoded"]) as? [String: Any])?["schema"] as? [String: Any]
                let form = (content?["application/x-www-form-urlencoded"] as? [String: Any])?["schema"] as? [String: Any]
                let parameters = ((item["parameters"] as? [[String: Any]]) ?? []) + ((operation["parameters"] as? [[String: Any]]) ?? [])
                let query = parameters.map(resolve).filter { $0["in"] as? String == "query" && $0["required"] as? Bool == true }
                    .compactMap { parameter in (parameter["name"] as? String).map { ($0, parameter["schema"] as? [String: Any] ?? [:]) } }
                // CSV uploads are sent without a body.
                operations.append(Operation(method: method.uppercased(), path: path, requestBody: content?["application/json"] == nil ? nil : schema,
                                            formBody: content?["application/json"] == nil ? form : nil, query: query))
            }
        }
        return operations
    }

    static func resolve(_ schema: [String: Any]) -> [String: Any] {
        guard let reference = schema["$ref"] as? String else { return schema }
        var node: Any = document
        for part in reference.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] ?? [:] }
        return resolve(node as? [String: Any] ?? [:])
    }

    /// The smallest value the schema accepts: required fields only, the first enum value,
    /// examples where the spec gives them, lengths and bounds respected.
    static func example(of raw: [String: Any]) -> Any {
        let schema = resolve(raw)
        // Dates relative to today: an example written in the spec goes stale.
        if let format = schema["format"] as? String, format == "date" || format == "date-time" {
            return format == "date" ? String(RFC3339Now.inDays(2).prefix(10)) : RFC3339Now.inDays(2)
        }
        if let examples = schema["examples"] as? [Any], let first = examples.first { return first }
        if let example = schema["example"] { return example }
        if let values = schema["enum"] as? [Any], let first = values.first(where: { !($0 is NSNull) }) { return first }
        if let choices = (schema["oneOf"] ?? schema["anyOf"]) as? [[String: Any]], let first = choices.first { return example(of: first) }
        if let parts = schema["allOf"] as? [[String: Any]] {
            var merged: [String: Any] = [:]
            for part in parts { if let object = example(of: part) as? [String: Any] { merged.merge(object) { $1 } } }
            return merged
        }
        let types: [String] = (schema["type"] as? [String]) ?? [(schema["type"] as? String) ?? "object"]
        let type = types.first { $0 != "null" } ?? "null"
        switch type {
        case "object":
            var object: [String: Any] = [:]
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for name in schema["required"] as? [String] ?? [] {
                object[name] = example(of: properties[name] as? [String: Any] ?? [:])
            }
            return object
        case "array":
            let count = schema["minItems"] as? Int ?? 0
            return (0..<count).map { _ in example(of: schema["items"] as? [String: Any] ?? [:]) }
        case "integer", "number":
            return max(schema["minimum"] as? Int ?? 1, 1)
        case "boolean":
            return false
        case "string":
            switch schema["format"] as? String {
            case "email": return "matrix@example.jp"
            case "date-time": return RFC3339Now.inDays(2)
            case "date": return String(RFC3339Now.inDays(2).prefix(10))
            case "time": return "08:00"
            default:
                let length = max(schema["minLength"] as? Int ?? 1, 1)
                return String(repeating: "試", count: min(length, schema["maxLength"] as? Int ?? length))
            }
        default:
            return NSNull()
        }
    }
}

enum RFC3339Now {
    static func inDays(_ days: Int) -> String {
        ISO8601DateFormatter().string(from: Date().addingTimeInterval(Double(days) * 86_400))
    }
}

/// A digest of every table's rows, to tell whether a request wrote anything. Leaves out
/// what any authenticated request may touch by design: sessions (their last use),
/// throttles and rate counters.
struct DatabaseFingerprint {
    let url: DatabaseURL
    let query: String

    static let bookkeeping: Set<String> = ["sessions", "login_throttle", "rate_counters", "schema_migrations"]

    init(url: DatabaseURL) async throws {
        self.url = url
        let tables = try await url.withSingleConnection(logger: TestDatabase.logger) { db in
            var names: [String] = []
            for try await name in try await db.query(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename").decode(String.self) {
                names.append(name)
            }
            return names
        }
        query = tables.filter { !Self.bookkeeping.contains($0) }
            .map { "SELECT '\($0)' AS t, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM \"\($0)\" x" }
            .joined(separator: " UNION ALL ")
    }

    func take() async throws -> [String: String] {
        try await url.withSingleConnection(logger: TestDatabase.logger) { db in
            var digest: [String: String] = [:]
            for try await (table, hash) in try await db.query(PostgresQuery(unsafeSQL: query)).decode((String, String).self) { digest[table] = hash }
            return digest
        }
    }

    /// The tables whose rows differ from `before`.
    func changes(since before: [String: String]) async throws -> [String] {
        let now = try await take()
        return now.keys.filter { now[$0] != before[$0] }.sorted()
    }
}
